"""Layers: each an explicit forward/backward block (see ``base.Layer``)."""

from .activation import Activation, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .augmentation import RandomFlip, RandomRotation, RandomTranslation
from .base import Layer
from .dense import Dense
from .dropout import Dropout
from .merge import Add, Concatenate
from .normalization import BatchNormalization
from .reshape import Flatten, Input

LAYERS = {
    cls.__name__: cls
    for cls in (
        Activation,
        Add,
        Concatenate,
        BatchNormalization,
        Dense,
        Dropout,
        Flatten,
        Input,
        LeakyReLU,
        RandomFlip,
        RandomRotation,
        RandomTranslation,
        ReLU,
        Sigmoid,
        Softmax,
        Tanh,
    )
}

__all__ = ["LAYERS", "Layer", *LAYERS]
