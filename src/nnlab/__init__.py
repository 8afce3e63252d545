"""nnlab: the Deep Learning Specialization's networks, from first principles and fast.

Public names only; see the modules for the equations.
"""

from . import (
    activations,
    backend,
    callbacks,
    initializers,
    layers,
    losses,
    metrics,
    optimizers,
    parallel,
    regularizers,
    schedules,
)
from .callbacks import EarlyStopping, ModelCheckpoint
from .errors import (
    ConfigError,
    InputValueError,
    ModelFileError,
    NNLabError,
    ShapeError,
    TrainingDiverged,
)
from .gradcheck import gradcheck
from .io import load_model
from .layers import (
    Activation,
    Add,
    AvgPool2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    LeakyReLU,
    MaxPool2D,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    ReLU,
    SeparableConv2D,
    Sigmoid,
    Softmax,
    SpatialDropout2D,
    Tanh,
    ZeroPadding2D,
)
from .model import Model, Sequential
from .optimizers import Adam, GradientDescent, Momentum, RMSprop
from .regularizers import L2
from .schedules import ExponentialDecay, InverseTimeDecay, ScheduledInverseTimeDecay

__version__ = "0.1.0"

__all__ = [
    "ZeroPadding2D",
    "SpatialDropout2D",
    "SeparableConv2D",
    "RandomTranslation",
    "RandomRotation",
    "RandomFlip",
    "MaxPool2D",
    "GlobalAveragePooling2D",
    "DepthwiseConv2D",
    "Conv2D",
    "AvgPool2D",
    "Activation",
    "Add",
    "Concatenate",
    "Model",
    "Adam",
    "BatchNormalization",
    "ConfigError",
    "Dense",
    "Dropout",
    "EarlyStopping",
    "ExponentialDecay",
    "Flatten",
    "GradientDescent",
    "Input",
    "InputValueError",
    "InverseTimeDecay",
    "L2",
    "LeakyReLU",
    "ModelCheckpoint",
    "ModelFileError",
    "Momentum",
    "NNLabError",
    "RMSprop",
    "ReLU",
    "ScheduledInverseTimeDecay",
    "Sequential",
    "ShapeError",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "TrainingDiverged",
    "activations",
    "backend",
    "callbacks",
    "gradcheck",
    "initializers",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "optimizers",
    "parallel",
    "regularizers",
    "schedules",
]
