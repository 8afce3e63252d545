"""Ready-made convolutional networks: a LeNet-style CNN and a small ResNet.

Both take channels-last images (m, n_H, n_W, n_C) and end in a softmax over n_classes.

LeNet-style (the course's week-1 CNN, with ReLU and max pooling):

    [augment] -> CONV 3x3 32 -> ReLU -> MAXPOOL 2 -> CONV 3x3 64 -> ReLU -> MAXPOOL 2
              -> FLATTEN -> FC 128 -> ReLU -> DROPOUT -> FC n_classes -> softmax

Small ResNet (the course's week-2 blocks, He et al. 2015):

    CONV 3x3 -> BN -> ReLU -> identity block -> convolutional block (stride 2) ->
    identity block -> convolutional block (stride 2) -> identity block -> GAP -> FC softmax

    identity block:       x -> CONV-BN-ReLU -> CONV-BN -> (+ x) -> ReLU
    convolutional block:  x -> CONV/s-BN-ReLU -> CONV-BN -> (+ CONV1x1/s-BN(x)) -> ReLU
"""

from __future__ import annotations

from ..layers import Activation, Add, BatchNormalization, Dense, Dropout, Flatten, Input
from ..layers.augmentation import RandomTranslation
from ..layers.convolutional import Conv2D
from ..layers.pooling import GlobalAveragePooling2D, MaxPool2D
from ..training.model import Model, Sequential


def augmentation_layers(shift=0.08) -> list:
    """Random shifts of up to ``shift`` of the size (2 pixels of 28), to the nearest pixel.

    No flips (digits are not mirror-symmetric), and no bilinear resampling: it blurs the
    training images, which then differ from the sharp test images (a train/test mismatch
    that cost the ResNet half a point of test accuracy on MNIST).
    """
    return [RandomTranslation(shift, shift, interpolation="nearest")]


def lenet(input_shape=(28, 28, 1), n_classes=10, dropout=0.3, augment=False, seed=None):
    """A LeNet-style CNN (see the module docstring), uncompiled."""
    layers = augmentation_layers() if augment else []
    layers += [
        Conv2D(32, 3, activation="relu", kernel_initializer="he"),
        MaxPool2D(2),
        Conv2D(64, 3, activation="relu", kernel_initializer="he"),
        MaxPool2D(2),
        Flatten(),
        Dense(128, activation="relu", kernel_initializer="he"),
        Dropout(dropout),
        Dense(n_classes, activation="softmax"),
    ]
    return Sequential(layers, input_shape=input_shape, seed=seed, name="lenet")


def conv_bn(x, filters, kernel_size=3, strides=1, relu=True):
    """CONV (no bias: BN's beta replaces it) -> BN [-> ReLU]."""
    x = Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he",
    )(x)
    x = BatchNormalization()(x)
    return Activation("relu")(x) if relu else x


def identity_block(x, filters):
    """a[l+2] = ReLU(BN(CONV(ReLU(BN(CONV(a[l]))))) + a[l])."""
    shortcut = x
    x = conv_bn(x, filters)
    x = conv_bn(x, filters, relu=False)
    return Activation("relu")(Add()([x, shortcut]))


def convolutional_block(x, filters, strides=2):
    """As the identity block, with a strided 1x1 CONV + BN on the shortcut to match shapes."""
    shortcut = conv_bn(x, filters, kernel_size=1, strides=strides, relu=False)
    x = conv_bn(x, filters, strides=strides)
    x = conv_bn(x, filters, relu=False)
    return Activation("relu")(Add()([x, shortcut]))


def small_resnet(
    input_shape=(28, 28, 1), n_classes=10, widths=(16, 32, 64), augment=False, seed=None
):
    """A small ResNet (see the module docstring), uncompiled, as a functional Model."""
    inputs = Input(input_shape)
    x = inputs
    if augment:
        for layer in augmentation_layers():
            x = layer(x)
    x = conv_bn(x, widths[0])
    x = identity_block(x, widths[0])
    for filters in widths[1:]:
        x = convolutional_block(x, filters)
        x = identity_block(x, filters)
    x = GlobalAveragePooling2D()(x)
    outputs = Dense(n_classes, activation="softmax")(x)
    return Model(inputs, outputs, seed=seed, name="resnet")


BUILDERS = {"cnn": lenet, "resnet": small_resnet}
