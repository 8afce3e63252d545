"""A deep fully connected network (the course's Course 1 and 2 "deep neural network").

Each hidden layer l = 1..L-1 of width n[l] is

    Dense(n[l]) -> activation                        (batch_norm=False)
    Dense(n[l], no bias) -> BatchNorm -> activation  (batch_norm=True: BN's beta is the bias)

followed by Dropout(rate) when ``dropout`` > 0; every kernel gets the L2 penalty
(lambda/2m) ||W||^2 when ``l2`` > 0.  The output layer is one sigmoid unit for two
classes (the course's logistic output, trained with binary cross-entropy) and a softmax
over n_classes otherwise (categorical cross-entropy); :func:`mlp_loss` names the loss
that goes with it.  Inputs with more than one axis are flattened first.
"""

from __future__ import annotations

from ..layers import Activation, BatchNormalization, Dense, Dropout, Flatten
from ..training.model import Sequential


def mlp(
    input_shape,
    n_classes: int,
    layers=(256, 128),
    activation="relu",
    initializer="he",
    batch_norm=False,
    dropout=0.0,
    l2=0.0,
    seed=None,
) -> Sequential:
    """The network of the module docstring, uncompiled.

    Args:
        input_shape: shape of one example, e.g. (784,) or (28, 28).
        n_classes: number of classes (2: one sigmoid output unit).
        layers: hidden layer widths n[1], ..., n[L-1].
        activation: hidden-layer activation name ("relu", "tanh", ...).
        initializer: hidden kernels' initializer name ("he", "xavier", ...).
        batch_norm: batch normalization before each hidden activation.
        dropout: dropout rate after each hidden layer (the course's 1 - keep_prob).
        l2: the L2 lambda of every kernel (0: none).
        seed: seed of the weights and dropout masks.
    """
    regularizer = l2 or None
    hidden = [Flatten()] if len(input_shape) > 1 else []
    for width in layers:
        hidden += _hidden_layer(width, activation, initializer, batch_norm, regularizer)
        if dropout:
            hidden.append(Dropout(dropout))
    binary = _binary(n_classes)
    output = Dense(
        1 if binary else n_classes,
        "sigmoid" if binary else "softmax",
        kernel_initializer="glorot_uniform",
        kernel_regularizer=regularizer,
    )
    return Sequential([*hidden, output], input_shape=input_shape, seed=seed)


def mlp_loss(n_classes: int) -> str:
    """The loss that matches :func:`mlp`'s output layer for ``n_classes`` classes."""
    return "binary_crossentropy" if _binary(n_classes) else "categorical_crossentropy"


def _binary(n_classes: int) -> bool:
    """Two classes get one sigmoid unit, more a softmax."""
    return n_classes == 2


def _hidden_layer(width, activation, initializer, batch_norm, regularizer) -> list:
    """Dense -> activation, or Dense (no bias) -> BatchNorm -> activation."""
    if not batch_norm:
        return [
            Dense(
                width,
                activation,
                kernel_initializer=initializer,
                kernel_regularizer=regularizer,
            )
        ]
    dense = Dense(
        width, use_bias=False, kernel_initializer=initializer, kernel_regularizer=regularizer
    )
    return [dense, BatchNormalization(), Activation(activation)]
