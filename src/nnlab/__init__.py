"""nnlab: the Deep Learning Specialization's networks, from first principles and fast.

Public names only; see the modules for the equations.
"""

import os as _os

# OpenBLAS' idle worker threads spin for about 0.1 s (2^28 cycles) after every GEMM.  On a
# small machine they then hold the cores that the memory-bound passes between GEMMs, and
# nnlab's batch threads (nnlab.ops.parallel), need: measured here, those passes ran 2x slower
# right after a GEMM, and a small CNN trained 25-35% faster with a 2^14-cycle spin.  A
# default only (a value you set wins), and only effective if nnlab is imported before
# NumPy loads OpenBLAS (the nnlab command always is).
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "14")

from . import backend, layers, registry  # noqa: E402
from .exceptions import (  # noqa: E402
    ConfigError,
    InputValueError,
    ModelFileError,
    NNLabError,
    ShapeError,
    TrainingDiverged,
)
from .layers import (  # noqa: E402
    GRU,
    LSTM,
    Activation,
    Add,
    Affine,
    AvgPool2D,
    BatchNormalization,
    Bidirectional,
    Concatenate,
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Dense,
    DepthwiseConv2D,
    Dot,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    L2Normalize,
    LayerNormalization,
    LeakyReLU,
    MaskLogits,
    MaxPool2D,
    MultiHeadAttention,
    PaddedAdd,
    PaddingMask,
    Permute,
    PositionalEncoding,
    PositionEmbedding,
    PReLU,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    ReLU,
    RepeatVector,
    Rescaling,
    SeparableConv2D,
    Sigmoid,
    SimpleRNN,
    Softmax,
    SpatialDropout2D,
    Tanh,
    UpSampling2D,
    ZeroPadding2D,
)
from .models.network import set_trainable  # noqa: E402
from .ops import activations, initializers, parallel, regularizers  # noqa: E402
from .ops.regularizers import L2  # noqa: E402
from .saving.model_file import load_model  # noqa: E402
from .training import callbacks, losses, metrics, optimizers, schedules  # noqa: E402
from .training.callbacks import EarlyStopping, ModelCheckpoint  # noqa: E402
from .training.gradcheck import gradcheck  # noqa: E402
from .training.model import Model, Sequential  # noqa: E402
from .training.optimizers import Adam, AdamW, GradientDescent, Momentum, RMSprop  # noqa: E402
from .training.schedules import (  # noqa: E402
    ExponentialDecay,
    InverseTimeDecay,
    ScheduledInverseTimeDecay,
)

__version__ = "0.1.0"

__all__ = [
    "set_trainable",
    "ZeroPadding2D",
    "UpSampling2D",
    "SpatialDropout2D",
    "SeparableConv2D",
    "RandomTranslation",
    "RandomRotation",
    "RandomFlip",
    "MaxPool2D",
    "MaskLogits",
    "MultiHeadAttention",
    "PaddedAdd",
    "PaddingMask",
    "Permute",
    "PositionEmbedding",
    "PositionalEncoding",
    "GlobalAveragePooling2D",
    "DepthwiseConv2D",
    "Conv1D",
    "Conv2D",
    "Conv2DTranspose",
    "AvgPool2D",
    "Activation",
    "Add",
    "Affine",
    "Concatenate",
    "Dot",
    "Model",
    "Adam",
    "AdamW",
    "BatchNormalization",
    "Bidirectional",
    "ConfigError",
    "Dense",
    "Dropout",
    "Embedding",
    "EarlyStopping",
    "ExponentialDecay",
    "Flatten",
    "GradientDescent",
    "GRU",
    "Input",
    "L2Normalize",
    "LayerNormalization",
    "InputValueError",
    "InverseTimeDecay",
    "L2",
    "LeakyReLU",
    "LSTM",
    "ModelCheckpoint",
    "ModelFileError",
    "Momentum",
    "NNLabError",
    "PReLU",
    "RMSprop",
    "ReLU",
    "RepeatVector",
    "Rescaling",
    "ScheduledInverseTimeDecay",
    "Sequential",
    "ShapeError",
    "Sigmoid",
    "SimpleRNN",
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
    "registry",
    "regularizers",
    "schedules",
]
