"""Layers: each an explicit forward/backward block (see ``base.Layer``).

Every layer class registers under its class name (``nnlab.registry.get("layer", ...)``), which
is how model files name it.
"""

from .activation import Activation, LeakyReLU, PReLU, ReLU, Sigmoid, Softmax, Tanh
from .attention import (
    MaskLogits,
    MultiHeadAttention,
    PaddingMask,
    PositionalEncoding,
    PositionEmbedding,
)
from .augmentation import RandomFlip, RandomRotation, RandomTranslation
from .base import Layer
from .convolutional import Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from .core import Dense, Rescaling
from .embedding import Embedding
from .merging import Add, Concatenate, Dot, PaddedAdd
from .normalization import Affine, BatchNormalization, L2Normalize, LayerNormalization
from .pooling import AvgPool2D, GlobalAveragePooling2D, MaxPool2D, ZeroPadding2D
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from .regularization import Dropout, SpatialDropout2D
from .resampling import UpSampling2D
from .reshaping import Flatten, Input, Permute, RepeatVector

__all__ = [
    "Activation",
    "Add",
    "Affine",
    "AvgPool2D",
    "BatchNormalization",
    "Bidirectional",
    "Concatenate",
    "Conv1D",
    "Conv2D",
    "Conv2DTranspose",
    "Dense",
    "Dot",
    "DepthwiseConv2D",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling2D",
    "GRU",
    "Input",
    "L2Normalize",
    "Layer",
    "LayerNormalization",
    "LeakyReLU",
    "LSTM",
    "MaskLogits",
    "MaxPool2D",
    "MultiHeadAttention",
    "PaddedAdd",
    "PaddingMask",
    "Permute",
    "PReLU",
    "PositionEmbedding",
    "PositionalEncoding",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "ReLU",
    "RepeatVector",
    "Rescaling",
    "SeparableConv2D",
    "Sigmoid",
    "SimpleRNN",
    "Softmax",
    "SpatialDropout2D",
    "Tanh",
    "UpSampling2D",
    "ZeroPadding2D",
]
