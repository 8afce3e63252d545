"""Residual networks (He et al. 2015): the course's week-2 blocks, its ResNet50, Keras' ResNet50
and a small ResNet for digits.

All take channels-last images (m, n_H, n_W, n_C) and end in a softmax over the classes.
Two kinds of block, each in an identity form (the shortcut is a[l] itself) and a
convolutional form (a strided 1x1 CONV + BN on the shortcut to match shapes):

    bottleneck (the course's ``identity_block`` / ``convolutional_block``, ResNet50):
        x -> CONV1x1/s-BN-ReLU -> CONVfxf-BN-ReLU -> CONV1x1-BN -> (+ shortcut) -> ReLU
        filters (F1, F2, F3): F1 and F2 wide inside, F3 out; s = 1 in an identity block
    basic (``basic_identity_block`` / ``basic_convolutional_block``, the small ResNet):
        x -> CONV3x3/s-BN-ReLU -> CONV3x3-BN -> (+ shortcut) -> ReLU

    identity shortcut:       a[l]                              (shapes already match)
    convolutional shortcut:  BN(CONV1x1/s(a[l]))                (n_C -> F3, size / s)

The course's ``ResNet50(input_shape=(64, 64, 3), classes=6)`` (Course 4 week 2, "Residual
Networks", for the SIGNS hand gestures):

    ZeroPadding2D(3) -> CONV 7x7/2 (64) -> BN -> ReLU -> MaxPool 3x3/2
    stage 2: convolutional_block(f=3, [64, 64, 256], s=1)  + 2 identity blocks
    stage 3: convolutional_block(f=3, [128, 128, 512], s=2) + 3 identity blocks
    stage 4: convolutional_block(f=3, [256, 256, 1024], s=2) + 5 identity blocks
    stage 5: convolutional_block(f=3, [512, 512, 2048], s=2) + 2 identity blocks
    AveragePooling 2x2 -> Flatten -> Dense softmax

64x64 inputs go 70 (padded) -> 32 -> 15 -> 15 -> 8 -> 4 -> 2 -> 1; 23,600,006 parameters
as Keras counts them (23,546,886 trainable, 53,120 non-trainable: the batch norms' moving
means and variances).  Keras' ``ResNet50`` application (:func:`resnet50`) is the same stack
of blocks with a ZeroPadding2D(1) before the max pool, BN epsilon 1.001e-5, a global average
pool instead of AveragePooling + Flatten, and Keras' layer names (conv1_conv,
conv2_block1_1_conv, ..., avg_pool, predictions): 25,636,712 parameters for 1000 classes.
Every conv has a bias, as in both.
"""

from __future__ import annotations

from ..exceptions import ConfigError
from ..layers import Activation, Add, BatchNormalization, Dense, Input
from ..layers.convolutional import Conv2D
from ..layers.pooling import AvgPool2D, GlobalAveragePooling2D, MaxPool2D, ZeroPadding2D
from ..layers.reshaping import Flatten
from ..ops.initializers import Initializer
from ..registry import get as registry_get
from ..training.model import Model
from .augmentation import augmentation_layers

#: The course's and Keras' ResNet50 stages: (F1, F2, F3), blocks, stride of the first block.
RESNET50_STAGES = (
    ((64, 64, 256), 3, 1),
    ((128, 128, 512), 4, 2),
    ((256, 256, 1024), 6, 2),
    ((512, 512, 2048), 3, 2),
)


def conv_bn(
    x,
    filters,
    kernel_size=3,
    strides=1,
    relu=True,
    padding="same",
    use_bias=False,
    initializer="he",
    epsilon=1e-3,
    training=True,
    name=None,
):
    """CONV -> BN [-> ReLU] (no bias by default: BN's beta replaces it).

    ``name`` (Keras' scheme) names the layers ``{name}_conv``, ``{name}_bn`` and
    ``{name}_relu``; ``training=False`` freezes the batch norm (see :func:`identity_block`).
    """
    names = _names(name, "conv", "bn", "relu")
    x = Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=use_bias,
        kernel_initializer=initializer,
        name=names[0],
    )(x)
    x = BatchNormalization(epsilon=epsilon, trainable=_bn_trainable(training), name=names[1])(x)
    return Activation("relu", name=names[2])(x) if relu else x


# ----------------------------------------------------------------- bottleneck blocks


def identity_block(X, f, filters, training=True, initializer="random_uniform", **options):
    """The course's identity block: three CONV-BN (1x1, f x f "same", 1x1) and a skip.

        a[l+3] = ReLU(BN(CONV1x1(ReLU(BN(CONVfxf(ReLU(BN(CONV1x1(a[l])))))))) + a[l])

    Args:
        X: the input node (m, n_H, n_W, n_C), with n_C = F3.
        f: the middle CONV's window.
        filters: (F1, F2, F3), the three CONVs' numbers of filters.
        training: True (the lab's default): the batch norms follow the model (batch
            statistics in ``fit``, moving averages in ``predict``; the lab's Keras call
            ``BatchNormalization(axis=3)(X, training=True)`` would use batch statistics in
            ``predict`` too, which nnlab does not copy).  False: they run in inference mode
            always (nnlab freezes them, ``trainable=False``: Keras would still learn their
            gamma and beta).
        initializer: the CONV kernels' initializer: a name ("random_uniform", the lab's
            default, is U(-0.05, 0.05)), an Initializer, or the lab's form, a callable
            ``initializer(seed=0)`` returning one (``lambda seed=0: Constant(1)``).
        **options: ``epsilon`` of the batch norms (1e-3, Keras' default) and ``name``,
            which names the layers as Keras' ResNet50 does (``{name}_1_conv``, ...,
            ``{name}_add``, ``{name}_out``).

    Returns:
        The output node, the shape of X.
    """
    F1, F2, F3 = _three(filters)
    channels = getattr(X, "node", X).shape[-1]  # an Input layer stands for its node
    if channels != F3:
        raise ConfigError(
            f"identity_block: the input has {channels} channels, F3 = {F3}; they must "
            "be equal for the skip connection (use convolutional_block)"
        )
    return _bottleneck(X, f, (F1, F2, F3), 1, training, initializer, False, **options)


def convolutional_block(X, f, filters, s=2, training=True, initializer="glorot_uniform", **options):
    """The course's convolutional block: the identity block with stride ``s`` in its first
    1x1 CONV and a CONV1x1/s + BN on the shortcut, so that the sizes and channels match.

        a[l+3] = ReLU(BN(CONV1x1(ReLU(BN(CONVfxf(ReLU(BN(CONV1x1/s(a[l])))))))) +
                 BN(CONV1x1/s(a[l])))

    Args as :func:`identity_block`, plus ``s``, the stride (the lab's default 2); the
    initializer defaults to glorot_uniform, as in the lab.
    """
    return _bottleneck(X, f, _three(filters), s, training, initializer, True, **options)


def _bottleneck(X, f, filters, s, training, initializer, project, epsilon=1e-3, name=None):
    F1, F2, F3 = filters
    init = _initializer(initializer)
    common = dict(use_bias=True, initializer=init, epsilon=epsilon, training=training)
    sub = (lambda k: None) if name is None else (lambda k: f"{name}_{k}")  # noqa: E731
    shortcut = X
    if project:
        shortcut = conv_bn(X, F3, 1, strides=s, relu=False, padding="valid", name=sub(0), **common)
    X = conv_bn(X, F1, 1, strides=s, padding="valid", name=sub(1), **common)
    X = conv_bn(X, F2, f, padding="same", name=sub(2), **common)
    X = conv_bn(X, F3, 1, relu=False, padding="valid", name=sub(3), **common)
    X = Add(name=sub("add"))([X, shortcut])
    return Activation("relu", name=sub("out"))(X)


def ResNet50(input_shape=(64, 64, 3), classes=6, training=False, seed=None):
    """The course's ResNet50 (module docstring), uncompiled, as a functional Model.

    Args:
        input_shape: (n_H, n_W, n_C) of one image; the lab's (64, 64, 3).
        classes: the number of classes (6 hand signs).
        training: unused, as in the lab (its blocks keep their default ``training=True``).
        seed: seeds the initialization (the lab's ``glorot_uniform(seed=0)`` per layer has
            no equivalent: nnlab draws every layer from the model's generator).

    Returns:
        A Model whose ``summary()`` counts 23,600,006 parameters for the lab's arguments.
    """
    X_input = Input(input_shape)
    X = ZeroPadding2D((3, 3))(X_input)
    X = Conv2D(64, (7, 7), strides=(2, 2), kernel_initializer="glorot_uniform")(X)
    X = BatchNormalization()(X)
    X = Activation("relu")(X)
    X = MaxPool2D((3, 3), strides=(2, 2))(X)
    for filters, blocks, s in RESNET50_STAGES:
        X = convolutional_block(X, f=3, filters=list(filters), s=s)
        for _ in range(blocks - 1):
            X = identity_block(X, 3, list(filters))
    X = AvgPool2D((2, 2))(X)
    X = Flatten()(X)
    X = Dense(classes, activation="softmax", kernel_initializer="glorot_uniform")(X)
    return Model(inputs=X_input, outputs=X, seed=seed, name="ResNet50")


def resnet50(input_shape=(224, 224, 3), classes=1000, include_top=True, pooling=None, seed=None):
    """Keras' ``ResNet50`` application (``keras.applications.ResNet50(weights=None)``):
    the course's blocks, Keras' stem, names and head; 25,636,712 parameters with the top.

    Args:
        input_shape: (n_H, n_W, 3); at least 32 x 32, as in Keras.
        classes: outputs of the softmax top.
        include_top: end with GlobalAveragePooling2D + Dense(classes, softmax); False ends
            with stage 5 (7 x 7 x 2048 for 224 x 224 inputs), or with ``pooling``.
        pooling: without the top, "avg" adds the global average pool (a 2048-vector per
            image, the features for transfer learning); None adds nothing.
        seed: seeds the initialization.

    Returns:
        An uncompiled Model named "resnet50" (no pretrained weights: none can be had
        offline here; Keras' would load by layer name through ``nnlab.saving.keras_h5``).
    """
    if min(input_shape[:2]) < 32:
        raise ConfigError(f"resnet50: input images must be at least 32 x 32, got {input_shape}")
    if pooling not in (None, "avg"):
        raise ConfigError(f"resnet50: pooling must be None or 'avg', got {pooling!r}")
    inputs = Input(input_shape, name="input_1")
    x = ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = BatchNormalization(epsilon=1.001e-5, name="conv1_bn")(x)
    x = Activation("relu", name="conv1_relu")(x)
    x = ZeroPadding2D(1, name="pool1_pad")(x)
    x = MaxPool2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, blocks, s) in enumerate(RESNET50_STAGES, start=2):
        options = dict(initializer="glorot_uniform", epsilon=1.001e-5)
        x = convolutional_block(x, 3, filters, s=s, name=f"conv{stage}_block1", **options)
        for b in range(2, blocks + 1):
            x = identity_block(x, 3, filters, name=f"conv{stage}_block{b}", **options)
    if include_top or pooling == "avg":
        x = GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = Dense(classes, activation="softmax", name="predictions")(x)
    return Model(inputs, x, seed=seed, name="resnet50")


# --------------------------------------------------------------------- basic blocks


def basic_identity_block(x, filters):
    """a[l+2] = ReLU(BN(CONV(ReLU(BN(CONV(a[l]))))) + a[l]) (two 3x3 CONVs, no biases)."""
    shortcut = x
    x = conv_bn(x, filters)
    x = conv_bn(x, filters, relu=False)
    return Activation("relu")(Add()([x, shortcut]))


def basic_convolutional_block(x, filters, strides=2):
    """As the basic identity block, with a strided 1x1 CONV + BN on the shortcut to match
    shapes."""
    shortcut = conv_bn(x, filters, kernel_size=1, strides=strides, relu=False)
    x = conv_bn(x, filters, strides=strides)
    x = conv_bn(x, filters, relu=False)
    return Activation("relu")(Add()([x, shortcut]))


def small_resnet(
    input_shape=(28, 28, 1), n_classes=10, widths=(16, 32, 64), augment=False, seed=None
):
    """A small ResNet, uncompiled, as a functional Model:

    CONV 3x3 -> BN -> ReLU -> basic identity block -> basic convolutional block
    (stride 2) -> basic identity block -> ... -> GAP -> FC softmax
    """
    inputs = Input(input_shape)
    x = inputs
    if augment:
        for layer in augmentation_layers():
            x = layer(x)
    x = conv_bn(x, widths[0])
    x = basic_identity_block(x, widths[0])
    for filters in widths[1:]:
        x = basic_convolutional_block(x, filters)
        x = basic_identity_block(x, filters)
    x = GlobalAveragePooling2D()(x)
    outputs = Dense(n_classes, activation="softmax")(x)
    return Model(inputs, outputs, seed=seed, name="resnet")


# --------------------------------------------------------------------------- helpers


def _three(filters) -> tuple[int, int, int]:
    filters = tuple(int(n) for n in filters)
    if len(filters) != 3 or min(filters) < 1:
        raise ConfigError(f"ResNet block: filters must be (F1, F2, F3) > 0, got {filters}")
    return filters


def _initializer(spec):
    """A name, config or Initializer; or the lab's callable ``initializer(seed=0)``."""
    if isinstance(spec, str | dict | Initializer):
        return registry_get("initializer", spec)
    if callable(spec):
        return registry_get("initializer", spec(seed=0))
    raise ConfigError(f"ResNet block: initializer must be a name or an Initializer, got {spec!r}")


def _bn_trainable(training) -> bool:
    if training not in (True, False):
        raise ConfigError(f"ResNet block: training must be True or False, got {training!r}")
    return bool(training)


def _names(name, *suffixes):
    return [None if name is None else f"{name}_{s}" for s in suffixes]
