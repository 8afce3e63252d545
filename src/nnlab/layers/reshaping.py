"""Shape-only layers: Input (declares the shape), Flatten (m, ...) -> (m, prod(...)),
RepeatVector (m, d) -> (m, n, d) and Permute (the axes of each example reordered)."""

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


@registry.register("layer")
class Permute(Layer):
    """Reorder the axes of each example (Keras' Permute): ``dims`` lists them, counted from
    1 (the batch axis 0 stays first).  ``Permute((2, 1))``: (m, T, 2) -> (m, 2, T), e.g. a
    per-token Dense(2) made into a start and an end row over the T positions (extractive
    QA), so that a softmax over the last axis runs over the positions.  Backward applies
    the inverse permutation to dA."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims) if isinstance(dims, list | tuple) else (dims,)
        if not dims or sorted(dims) != list(range(1, len(dims) + 1)):
            raise ConfigError(
                f"Permute: dims must be a permutation of 1..n (the batch axis 0 stays), "
                f"got {dims!r}"
            )
        self.dims = tuple(int(d) for d in dims)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims):
            raise ConfigError(
                f"{self.describe()}: dims {self.dims} need examples of {len(self.dims)} axes, "
                f"got (m, {', '.join(map(str, input_shape))})"
            )
        return tuple(input_shape[d - 1] for d in self.dims)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        return backend.xp.transpose(a_prev, (0, *self.dims))

    def backward(self, da, need_input_grad=True):
        if not need_input_grad:
            return None
        return backend.xp.transpose(da, (0, *(int(k) + 1 for k in np.argsort(self.dims))))

    def get_config(self):
        config = super().get_config()
        config["dims"] = list(self.dims)
        return config
