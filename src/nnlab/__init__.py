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
    BatchNormalization,
    Concatenate,
    Dense,
    Dropout,
    Flatten,
    Input,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from .model import Model, Sequential
from .optimizers import Adam, GradientDescent, Momentum, RMSprop
from .regularizers import L2
from .schedules import ExponentialDecay, InverseTimeDecay, ScheduledInverseTimeDecay

__version__ = "0.1.0"

__all__ = [
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
    "regularizers",
    "schedules",
]
