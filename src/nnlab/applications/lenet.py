"""A LeNet-style CNN: the course's week-1 convolutional network, with ReLU and max pooling.

It takes channels-last images (m, n_H, n_W, n_C) and ends in a softmax over n_classes:

    [augment] -> CONV 3x3 32 -> ReLU -> MAXPOOL 2 -> CONV 3x3 64 -> ReLU -> MAXPOOL 2
              -> FLATTEN -> FC 128 -> ReLU -> DROPOUT -> FC n_classes -> softmax
"""

from __future__ import annotations

from ..layers import Dense, Dropout, Flatten
from ..layers.convolutional import Conv2D
from ..layers.pooling import MaxPool2D
from ..training.model import Sequential
from .augmentation import augmentation_layers


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
