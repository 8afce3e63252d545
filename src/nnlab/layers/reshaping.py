"""Shape-only layers: Input (declares the shape), Flatten (m, ...) -> (m, prod(...)) and
RepeatVector (m, d) -> (m, n, d)."""

from __future__ import annotations

import math

import numpy as np

from .. import backend, registry
from ..exceptions import ConfigError
from .base import Layer
from .node import Node


@registry.register("layer")
class Input(Layer):
    """Declares the input shape (without the batch axis) and, for token ids, the dtype.

    ``Input((784,))`` means inputs of shape (m, 784) in the model's float type;
    ``Input((T,), dtype="int32")`` means (m, T) integer token ids (for an Embedding).  It
    heads a Sequential model, or starts a functional graph: ``x = Dense(10)(Input((784,)))``.
    """

    def __init__(self, shape, dtype=None, **kwargs):
        super().__init__(input_shape=tuple(shape), **kwargs)
        if dtype is not None and np.dtype(dtype).kind not in "iuf":
            raise ConfigError(f"Input: dtype must be an integer or float type, got {dtype!r}")
        self.input_dtype = None if dtype is None else np.dtype(dtype)
        self.output_shape = self.input_shape
        self.node = Node(self, [], self.input_shape, self.input_dtype)  # the graph's source
        self.inbound_nodes = [self.node]

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        return a_prev

    def backward(self, da, need_input_grad=True):
        return da

    def get_config(self):
        config = super().get_config()
        config["shape"] = config.pop("input_shape")
        if self.input_dtype is not None:
            config["dtype"] = self.input_dtype.name
        return config


@registry.register("layer")
class Flatten(Layer):
    """(m, n_H, n_W, n_C) -> (m, n_H * n_W * n_C), row-major (channels vary fastest)."""

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        return a_prev.reshape(a_prev.shape[0], -1)

    def backward(self, da, need_input_grad=True):
        return da.reshape((da.shape[0],) + self.input_shape)


@registry.register("layer")
class RepeatVector(Layer):
    """(m, d) -> (m, n, d): the vector repeated n times (the course's attention repeats
    s<t-1> once per input step, to sit beside every a<t'>).  Backward sums the n copies'
    gradients: da = sum over k of dA[:, k]."""

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"RepeatVector: n must be a positive integer, got {n!r}")
        self.n = n

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ConfigError(
                f"{self.describe()}: expected vectors (m, d), got "
                f"(m, {', '.join(map(str, input_shape))})"
            )
        return (self.n, input_shape[0])

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        return backend.xp.repeat(a_prev[:, None, :], self.n, axis=1)

    def backward(self, da, need_input_grad=True):
        return da.sum(axis=1) if need_input_grad else None

    def get_config(self):
        config = super().get_config()
        config["n"] = self.n
        return config
