"""The block every layer is: ``forward(a_prev) -> a`` and ``backward(da) -> da_prev``.

A layer owns ``params`` (name -> array) and ``grads`` (name -> array of the same shape)
side by side.  Once a model is built, both dicts hold *views* into the model's flat
parameter and gradient buffers, so a layer must write gradients in place
(``xp.matmul(..., out=self.grads["W"])`` or ``self.grads["W"][...] = ...``) and never
rebind an entry.  Non-trainable arrays that must be saved (batch-norm running averages)
live in ``state``.

Shapes exclude the batch axis: ``input_shape = (784,)`` means inputs of shape (m, 784).
"""

from __future__ import annotations

import re

import numpy as np

from .. import backend
from ..exceptions import ShapeError


class Layer:
    """Base class of all layers.

    Subclasses implement ``build_params`` (create parameters for an input shape),
    ``compute_output_shape``, ``forward`` and ``backward``, and list their constructor
    arguments in ``get_config`` so a model file can rebuild them.
    """

    def __init__(self, name: str | None = None, input_shape=None, trainable: bool = True):
        self.name = name
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.output_shape = None
        self.trainable = trainable
        self.params: dict = {}
        self.grads: dict = {}
        self.state: dict = {}
        self.regularizers: dict = {}
        self.built = False
        self.rng = None
        self.dtype = None

    # ----------------------------------------------------------------- building
    #: merge layers (Add, Concatenate) take a list of inputs and return a list of gradients
    multi_input = False

    def build(self, input_shape, rng, dtype=None) -> tuple:
        """Create the parameters for inputs of shape (m, *input_shape); return the output shape."""
        if self.multi_input:
            self.input_shape = [tuple(int(d) for d in shape) for shape in input_shape]
        else:
            self.input_shape = tuple(int(d) for d in input_shape)
        self.dtype = np.dtype(dtype or backend.floatx())
        self.rng = rng
        self.build_params(self.input_shape, rng)
        for key, value in self.params.items():
            self.grads[key] = backend.xp.zeros_like(value)
        self.output_shape = tuple(self.compute_output_shape(self.input_shape))
        self.built = True
        return self.output_shape

    def build_params(self, input_shape, rng) -> None:
        """Create ``self.params`` (default: none)."""

    def compute_output_shape(self, input_shape) -> tuple:
        return input_shape

    # ------------------------------------------------------------------ running
    def forward(self, a_prev, training: bool = False):
        raise NotImplementedError

    def backward(self, da, need_input_grad: bool = True):
        raise NotImplementedError

    def __call__(self, a_prev, training: bool = False):
        """Forward on arrays; on symbolic nodes (functional API) record a graph edge."""
        from ..models.graph import call_symbolic, is_symbolic

        if is_symbolic(a_prev):
            return call_symbolic(self, a_prev)
        return self.forward(a_prev, training=training)

    def check_input(self, a_prev) -> None:
        """Raise a ShapeError naming this layer if a_prev is not (m, *input_shape)."""
        if tuple(a_prev.shape[1:]) != self.input_shape:
            expected = ("m",) + self.input_shape
            raise ShapeError(
                f"{self.describe()}: expected input of shape {_fmt(expected)}, "
                f"got {tuple(a_prev.shape)}"
            )

    # ----------------------------------------------------------------- metadata
    def describe(self) -> str:
        """'Dense layer "dense_1"': how error messages name this layer."""
        return f'{type(self).__name__} layer "{self.name}"'

    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def default_name(layer: Layer) -> str:
    """Keras' snake case: BatchNormalization -> 'batch_normalization', ReLU -> 're_lu',
    Conv2D -> 'conv2d'."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", type(layer).__name__).lower()


def _fmt(shape) -> str:
    inner = ", ".join(str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"
