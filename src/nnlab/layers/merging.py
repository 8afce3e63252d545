"""Merge layers: several inputs, one output (residual connections, concatenation).

Add:          a = a_1 + a_2 + ... + a_k          da_i = da          (all shapes equal)
Concatenate:  a = [a_1, ..., a_k] along axis     da_i = the matching slice of da
"""

from __future__ import annotations

from .. import backend, registry
from ..exceptions import ConfigError, ShapeError
from .base import Layer


class Merge(Layer):
    """Base class: ``forward(list of arrays)``, ``backward(da) -> list of gradients``."""

    multi_input = True

    def check_inputs(self, arrays) -> None:
        if not isinstance(arrays, list | tuple) or len(arrays) != len(self.input_shape):
            raise ShapeError(
                f"{self.describe()}: expected a list of {len(self.input_shape)} arrays, "
                f"got {type(arrays).__name__}"
            )
        for i, (array, shape) in enumerate(zip(arrays, self.input_shape, strict=True)):
            if tuple(array.shape[1:]) != shape:
                raise ShapeError(
                    f"{self.describe()}: input {i} expected shape (m, "
                    f"{', '.join(map(str, shape))}), got {tuple(array.shape)}"
                )


@registry.register("layer")
class Add(Merge):
    """Element-wise sum of inputs of one shape: the ResNet skip connection a[l+2] += a[l]."""

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < 2 or any(s != shapes[0] for s in shapes):
            raise ShapeError(
                f"{self.describe()}: expected 2 or more inputs of one shape, got {shapes}"
            )
        return shapes[0]

    def forward(self, a_prev, training=False):
        self.check_inputs(a_prev)
        out = a_prev[0] + a_prev[1]
        for a in a_prev[2:]:
            out += a
        return out

    def backward(self, da, need_input_grad=True):
        return [da] * len(self.input_shape) if need_input_grad else None


@registry.register("layer")
class Concatenate(Merge):
    """Join inputs along ``axis`` (default the channels, -1)."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        if axis == 0:
            raise ConfigError("Concatenate: axis 0 is the batch axis; use -1 or a feature axis")
        self.axis = axis

    def compute_output_shape(self, input_shape):
        shapes = [list(s) for s in input_shape]
        k = self.axis if self.axis < 0 else self.axis - 1  # shapes exclude the batch axis
        rest = [s[:k] + s[k + 1 :] if k != -1 else s[:-1] for s in shapes]
        if any(r != rest[0] for r in rest):
            raise ShapeError(
                f"{self.describe()}: inputs must agree except on axis {self.axis}, got "
                f"{[tuple(s) for s in shapes]}"
            )
        out = list(shapes[0])
        out[k] = sum(s[k] for s in shapes)
        return tuple(out)

    def forward(self, a_prev, training=False):
        self.check_inputs(a_prev)
        return backend.xp.concatenate(a_prev, axis=self.axis)

    def backward(self, da, need_input_grad=True):
        if not need_input_grad:
            return None
        sizes = [s[self.axis if self.axis < 0 else self.axis - 1] for s in self.input_shape]
        cuts = [sum(sizes[: i + 1]) for i in range(len(sizes) - 1)]
        return backend.xp.split(da, cuts, axis=self.axis)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config
