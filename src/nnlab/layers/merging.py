"""Merge layers: several inputs, one output (residual connections, concatenation).

Add:          a = a_1 + a_2 + ... + a_k          da_i = da          (all shapes equal)
PaddedAdd:    a = pad(a_1) + ... + pad(a_k)      da_i = da[:n_1, :n_2, ...] (a_i's corner)
              each input zero-padded at the end of every axis to the largest size there
Concatenate:  a = [a_1, ..., a_k] along axis     da_i = the matching slice of da
Dot:          a = sum over an axis of x * y      dx = dOut . y, dy = dOut . x (per example)
"""

from __future__ import annotations

from .. import backend, registry
from ..exceptions import ConfigError, ShapeError
from .base import Layer, shape_matches


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
            if not shape_matches(array.shape[1:], shape):
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
class PaddedAdd(Merge):
    """Sum of inputs whose shapes may differ: each is zero-padded at the end of every axis
    (bottom, right, last channels) to the largest size of that axis, then added.  dlib's
    ``add_prev`` (its residual connection), whose downsampling blocks add a strided
    convolution's output to an average-pooled shortcut with fewer channels, and, where the
    two round sizes differently, a row and a column fewer:

        a[i, h, w, c] = sum over inputs k of a_k[i, h, w, c]  (0 where (h, w, c) is outside a_k)
        da_k = da[:, :n_H(k), :n_W(k), :n_C(k)]

    Input shapes: a list of 2 or more shapes of one rank.
    Output shape: their largest size on each axis.
    """

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < 2 or any(len(s) != len(shapes[0]) for s in shapes):
            raise ShapeError(
                f"{self.describe()}: expected 2 or more inputs of one rank, got {shapes}"
            )
        if any(d is None for s in shapes for d in s):
            raise ShapeError(f"{self.describe()}: every axis needs a known size, got {shapes}")
        return tuple(max(sizes) for sizes in zip(*shapes, strict=True))

    def forward(self, a_prev, training=False):
        self.check_inputs(a_prev)
        xp = backend.xp
        m = a_prev[0].shape[0]
        shape = (m, *self.output_shape)
        full = [k for k, a in enumerate(a_prev) if a.shape == shape]
        first = full[0] if full else None
        out = self.output_array(shape, xp.result_type(*a_prev))
        if first is None:
            out[...] = 0
        else:
            out[...] = a_prev[first]
        for k, a in enumerate(a_prev):
            if k != first:
                out[_corner(a.shape)] += a
        return out

    def backward(self, da, need_input_grad=True):
        if not need_input_grad:
            return None
        m = da.shape[0]
        return [da[_corner((m, *shape))] for shape in self.input_shape]


def _corner(shape) -> tuple:
    """The slices of an array of ``shape`` at the start of every axis of a larger one."""
    return tuple(slice(0, d) for d in shape)


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


@registry.register("layer")
class Dot(Merge):
    """Per example, the dot product of two inputs along one axis each (Keras' Dot): for
    x (m, T, p) and y (m, T, q) with ``axes=1``

        out[i, a, b] = sum over t of x[i, t, a] y[i, t, b]          (m, p, q)

    the course's attention context, Dot(axes=1)([alphas (m, Tx, 1), a (m, Tx, 2 n_a)]) =
    sum over t' of alpha<t'> a<t'>, (m, 1, 2 n_a).  The output's axes are x's that remain,
    then y's.  ``axes``: one axis for both inputs, or a pair (axis of x, axis of y), counted
    with the batch axis (0 is not allowed).  Backward contracts dOut with the other input:

        dx[i, t, a] = sum over b of dOut[i, a, b] y[i, t, b],  dy alike.
    """

    def __init__(self, axes=1, **kwargs):
        super().__init__(**kwargs)
        pair = tuple(axes) if isinstance(axes, list | tuple) else (axes, axes)
        if len(pair) != 2 or any(not isinstance(a, int) or a == 0 for a in pair):
            raise ConfigError(
                f"Dot: axes must be a non-batch axis or a pair of them (not 0), got {axes!r}"
            )
        self.axes = pair

    def _subscripts(self, shapes) -> tuple[str, str, str]:
        """einsum subscripts of x, y and the output, for example shapes (no batch axis)."""
        letters = iter("abcdefghjklnopqrstuvwxyz")
        x_sub = ["i"] + [next(letters) for _ in shapes[0]]
        y_sub = ["i"] + [next(letters) for _ in shapes[1]]
        ax, ay = (a if a > 0 else a + len(s) + 1 for a, s in zip(self.axes, shapes, strict=True))
        y_sub[ay] = x_sub[ax]
        out = ["i"] + [c for k, c in enumerate(x_sub[1:], 1) if k != ax]
        out += [c for k, c in enumerate(y_sub[1:], 1) if k != ay]
        return "".join(x_sub), "".join(y_sub), "".join(out)

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) != 2:
            raise ShapeError(f"{self.describe()}: expected 2 inputs, got {len(shapes)}")
        ax, ay = (a if a > 0 else a + len(s) + 1 for a, s in zip(self.axes, shapes, strict=True))
        if not (1 <= ax <= len(shapes[0]) and 1 <= ay <= len(shapes[1])):
            raise ShapeError(f"{self.describe()}: axes {self.axes} do not fit inputs {shapes}")
        if shapes[0][ax - 1] != shapes[1][ay - 1]:
            raise ShapeError(
                f"{self.describe()}: the contracted axes differ in size: {shapes[0]} axis "
                f"{self.axes[0]} against {shapes[1]} axis {self.axes[1]}"
            )
        rest_x = [d for k, d in enumerate(shapes[0], 1) if k != ax]
        rest_y = [d for k, d in enumerate(shapes[1], 1) if k != ay]
        return tuple(rest_x + rest_y)

    def forward(self, a_prev, training=False):
        self.check_inputs(a_prev)
        x_sub, y_sub, out = self._subscripts(self.input_shape)
        self.cache.inputs = a_prev
        return backend.xp.einsum(f"{x_sub},{y_sub}->{out}", *a_prev, optimize=True)

    def backward(self, da, need_input_grad=True):
        if not need_input_grad:
            return None
        x, y = self.cache.inputs
        x_sub, y_sub, out = self._subscripts(self.input_shape)
        xp = backend.xp
        dx = xp.einsum(f"{out},{y_sub}->{x_sub}", da, y, optimize=True)
        dy = xp.einsum(f"{out},{x_sub}->{y_sub}", da, x, optimize=True)
        return [dx, dy]

    def get_config(self):
        config = super().get_config()
        config["axes"] = list(self.axes)
        return config
