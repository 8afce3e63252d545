"""Shape-only layers: Input (declares the shape) and Flatten (m, ...) -> (m, prod(...))."""

from __future__ import annotations

import math

from .. import registry
from .base import Layer


@registry.register("layer")
class Input(Layer):
    """Declares the input shape (without the batch axis).

    ``Input((784,))`` means inputs of shape (m, 784).  It heads a Sequential model, or
    starts a functional graph: ``x = Dense(10)(Input((784,)))``.
    """

    def __init__(self, shape, **kwargs):
        from ..models.graph import Node

        super().__init__(input_shape=tuple(shape), **kwargs)
        self.output_shape = self.input_shape
        self.node = Node(self, [], self.input_shape)  # the functional API's source

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        return a_prev

    def backward(self, da, need_input_grad=True):
        return da

    def get_config(self):
        config = super().get_config()
        config["shape"] = config.pop("input_shape")
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
