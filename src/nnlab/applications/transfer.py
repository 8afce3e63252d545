"""Transfer learning (Course 4 week 2, "Transfer Learning with MobileNetV2"), with VGG16.

The course's recipe, on a pretrained convolutional base (here VGG16's ImageNet weights:
MobileNetV2's cannot be had offline):

    1. frozen base + new head:   augmentation -> base (trainable=False) -> GAP -> Dropout
                                 -> Dense (sigmoid, or softmax over n classes); only the
                                 head learns, at learning rate alpha
    2. fine-tuning:              unfreeze the last block (block5_conv1 on; every earlier
                                 layer stays frozen) and train on at alpha / 10, so the
                                 pretrained features move a little, not away
    3. the baseline:             a small CNN trained from scratch on the same images for
                                 the same number of epochs (steps)

A frozen layer costs only its forward pass: backward stops at the first trainable layer
(block5_conv1 in step 2, the head in step 1), its convolutions take the inference routes
(Winograd for 3x3), and its parameters are not in the optimizer's buffers.

:func:`compare_transfer` runs the three on one split and reports accuracies and times;
``examples/transfer_learning.py`` runs it on scikit-image's LFW faces / non-faces.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from ..exceptions import ConfigError, InputValueError
from ..layers import (
    Activation,
    BatchNormalization,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    Rescaling,
)
from ..layers.convolutional import Conv2D
from ..layers.pooling import MaxPool2D
from ..models.network import set_trainable
from ..training.model import Sequential
from ..training.optimizers import Adam
from .augmentation import photo_augmentation_layers
from .vgg16 import load_vgg16_weights, vgg16_layers

#: The first layer of the head that :func:`vgg16_transfer_model` puts on the base.
HEAD_START = "head_pool"


def vgg16_transfer_model(
    input_shape=(64, 64, 3),
    n_classes: int = 2,
    head: str = "gap",
    dropout: float = 0.2,
    augment: bool = True,
    weights="imagenet",
    seed=None,
):
    """VGG16's convolutional base, frozen, under a new classification head; built.

        [flip, shift, rotate] -> block1_conv1 .. block5_pool (frozen) -> head_pool (GAP,
        or Flatten with ``head="flatten"``) -> head_dropout -> head_output

    Args:
        input_shape: (H, W, 3), at least 32 x 32 (block5_pool halves the size 5 times).
        n_classes: 2 gives one sigmoid unit (binary cross-entropy); more, a softmax.
        head: "gap" (the course's GlobalAveragePooling2D, 512 features) or "flatten".
        dropout: the head's dropout rate (the course's 0.2); 0 leaves it out.
        augment: True puts :func:`photo_augmentation_layers` first; a list of
            augmentation layers puts those.
        weights: "imagenet" (:func:`load_vgg16_weights`), a weights file, or None (random).
        seed: seeds the head's initialization, dropout and augmentation.

    Returns:
        An uncompiled Sequential; inputs must be :func:`preprocess_caffe` images.
        Unfreeze with :func:`fine_tune` (or :func:`nnlab.set_trainable`).
    """
    if head not in ("gap", "flatten"):
        raise ConfigError(f"vgg16_transfer_model: head must be 'gap' or 'flatten', got {head!r}")
    if n_classes < 2:
        raise ConfigError(f"vgg16_transfer_model: n_classes must be >= 2, got {n_classes}")
    pool = GlobalAveragePooling2D if head == "gap" else Flatten
    layers = [Input(input_shape), *_augmentation(augment), *vgg16_layers()]
    layers.append(pool(name=HEAD_START))
    if dropout:
        layers.append(Dropout(dropout, name="head_dropout"))
    # zeros: the pretrained features are large (VGG16's GAP features reach ~100), so a
    # Glorot start gives logits of about +-10 and saturated sigmoids; a linear classifier
    # on fixed features needs no symmetry breaking
    layers.append(_output_layer(n_classes, "head_output", initializer="zeros"))
    model = Sequential(layers, seed=seed, name="vgg16_transfer")
    model.build()
    if weights is not None:
        load_vgg16_weights(model, source=None if weights == "imagenet" else weights)
    set_trainable(model, True, from_layer=HEAD_START)
    return model


def fine_tune(model, from_layer: str = "block5_conv1") -> list[str]:
    """Unfreeze ``from_layer`` and every later layer, freeze every earlier one (the
    course's ``fine_tune_at``); return the names of the trainable layers.  Compile again
    with a lower learning rate (the course: a tenth)."""
    return set_trainable(model, True, from_layer=from_layer)


def scratch_cnn(
    input_shape=(64, 64, 3),
    n_classes: int = 2,
    widths=(16, 32, 64),
    dropout: float = 0.2,
    augment: bool = True,
    scale: float = 1 / 128,
    seed=None,
):
    """A small CNN to train from scratch (the baseline transfer learning must beat):

        [flip, shift, rotate] -> x * scale -> (CONV 3x3 -> BN -> ReLU -> MAXPOOL 2) per
        width -> GAP -> Dropout -> Dense (sigmoid, or softmax)

    ``scale`` brings :func:`preprocess_caffe` inputs (about -124 to 152) near [-1, 1].
    The batch norms average with momentum 0.9: a few hundred steps are all a small data
    set gives, too few for Keras' 0.99 to forget the initial statistics.
    """
    layers = [Input(input_shape), *_augmentation(augment), Rescaling(scale)]
    for width in widths:
        layers += [
            Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer="he"),
            BatchNormalization(momentum=0.9),
            Activation("relu"),
            MaxPool2D(2),
        ]
    layers.append(GlobalAveragePooling2D())
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(_output_layer(n_classes))
    return Sequential(layers, seed=seed, name="scratch_cnn")


def _augmentation(augment) -> list:
    """True: :func:`photo_augmentation_layers`; False/None: none; a list: those layers."""
    if isinstance(augment, list | tuple):
        return list(augment)
    return photo_augmentation_layers() if augment else []


def _output_layer(n_classes: int, name=None, initializer="glorot_uniform"):
    if n_classes == 2:
        return Dense(1, activation="sigmoid", kernel_initializer=initializer, name=name)
    return Dense(n_classes, activation="softmax", kernel_initializer=initializer, name=name)


def _loss(n_classes: int) -> str:
    return "binary_crossentropy" if n_classes == 2 else "sparse_categorical_crossentropy"


# -------------------------------------------------------------------- the comparison


@dataclass
class TransferConfig:
    """The budget and learning rates of :func:`compare_transfer`.

    Attributes:
        head_epochs: epochs of step 1 (frozen base, new head).
        fine_tune_epochs: epochs of step 2 (block5 unfrozen); the scratch CNN trains for
            ``head_epochs + fine_tune_epochs`` epochs: the same number of steps.
        batch_size: examples per step (all three).
        learning_rate: Adam's rate for the head, alpha (3e-4: VGG16's pooled features
            are large, up to ~100, so a step moves the logit a lot; chosen on the dev set).
        scratch_learning_rate: Adam's rate for the scratch CNN (Keras' default 1e-3).
        fine_tune_factor: step 2 trains at ``learning_rate * fine_tune_factor`` (the
            course's 0.1).
        fine_tune_from: the first layer unfrozen in step 2.
        head: "gap" or "flatten".
        dropout: the heads' dropout rate.
        augment: flips, shifts and rotations in training (all three).
        seed: seeds initializations, dropout, augmentation and shuffling.
    """

    head_epochs: int = 10
    fine_tune_epochs: int = 5
    batch_size: int = 10
    learning_rate: float = 3e-4
    scratch_learning_rate: float = 1e-3
    fine_tune_factor: float = 0.1
    fine_tune_from: str = "block5_conv1"
    head: str = "gap"
    dropout: float = 0.2
    augment: bool = True
    seed: int = 0


def compare_transfer(split, config: TransferConfig | None = None, weights="imagenet", log=None):
    """Train (1) a frozen VGG16 base with a new head, (2) the same fine-tuned from block5,
    (3) a small CNN from scratch, on ``split``; return what each reached.

    Args:
        split: (x_train, y_train, x_dev, y_dev, x_test, y_test) (a ``Split``): images
            preprocessed with :func:`preprocess_caffe`, integer labels.
        config: a :class:`TransferConfig` (default: its defaults).
        weights: VGG16's weights ("imagenet", a file, or None for a random base).
        log: a function called with a line of progress (e.g. ``print``), or None.

    Returns:
        ``{"frozen": r, "fine_tuned": r, "scratch": r, "config": {...}}``, each ``r`` a
        dict of ``train_accuracy``, ``dev_accuracy``, ``test_accuracy`` (the model in
        inference mode), ``epochs``, ``steps``, ``seconds`` (training only; the
        fine-tuned model's include step 1's) and ``trainable_params``.
    """
    config = config or TransferConfig()
    x_train, y_train, x_dev, y_dev, x_test, y_test = split
    if len(x_train) == 0:
        raise InputValueError("compare_transfer: the training set is empty")
    n_classes = max(2, int(np.max(np.concatenate([y_train, y_dev, y_test]))) + 1)
    shape = tuple(x_train.shape[1:])
    steps_per_epoch = -(-len(x_train) // config.batch_size)
    say = log or (lambda line: None)
    results = {}

    def fit(model, epochs, initial_epoch=0):
        start = time.perf_counter()
        model.fit(
            x_train,
            y_train,
            epochs=initial_epoch + epochs,
            initial_epoch=initial_epoch,
            batch_size=config.batch_size,
            verbose=0,
        )
        return time.perf_counter() - start

    def report(name, model, seconds, epochs):
        accuracy = {
            f"{part}_accuracy": float(model.evaluate(x, y, batch_size=50)["accuracy"])
            for part, x, y in (("train", x_train, y_train), ("dev", x_dev, y_dev), ("test", x_test, y_test))
        }  # fmt: skip
        results[name] = {
            **accuracy,
            "epochs": epochs,
            "steps": epochs * steps_per_epoch,
            "seconds": round(seconds, 2),
            "trainable_params": model.count_trainable_params(),
        }
        say(
            f"{name:>10}: train {accuracy['train_accuracy']:.3f}  dev "
            f"{accuracy['dev_accuracy']:.3f}  test {accuracy['test_accuracy']:.3f}  "
            f"({epochs} epochs, {seconds:.1f} s)"
        )

    model = vgg16_transfer_model(
        shape, n_classes, config.head, config.dropout, config.augment, weights, config.seed
    )
    model.compile(Adam(config.learning_rate), _loss(n_classes), metrics=["accuracy"])
    seconds = fit(model, config.head_epochs)
    report("frozen", model, seconds, config.head_epochs)

    fine_tune(model, config.fine_tune_from)
    rate = config.learning_rate * config.fine_tune_factor
    model.compile(Adam(rate), _loss(n_classes), metrics=["accuracy"])
    seconds += fit(model, config.fine_tune_epochs, initial_epoch=config.head_epochs)
    report("fine_tuned", model, seconds, config.head_epochs + config.fine_tune_epochs)

    epochs = config.head_epochs + config.fine_tune_epochs
    scratch = scratch_cnn(
        shape, n_classes, dropout=config.dropout, augment=config.augment, seed=config.seed
    )
    scratch.compile(Adam(config.scratch_learning_rate), _loss(n_classes), metrics=["accuracy"])
    report("scratch", scratch, fit(scratch, epochs), epochs)
    results["config"] = asdict(config)
    return results


def take_per_class(x, y, n: int, seed=0):
    """``n`` examples of every class of ``y``, drawn without replacement by ``seed``,
    in a shuffled order: a smaller training set with the classes balanced."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        if len(rows) < n:
            raise InputValueError(
                f"take_per_class: class {label} has {len(rows)} examples, {n} asked for"
            )
        picked.append(rng.choice(rows, n, replace=False))
    order = rng.permutation(np.concatenate(picked))
    return x[order], y[order]
