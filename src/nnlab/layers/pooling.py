"""Pooling and padding layers for images (m, n_H, n_W, n_C): MaxPool2D, AvgPool2D,
GlobalAveragePooling2D, ZeroPadding2D.  No parameters.

The course's ``pool_forward`` / ``pool_backward``, with window f (pool_size) and stride s
(default s = f), per channel:

    max:      A[i, h, w, c] = max over the window of A_prev[i, h s + p, w s + q, c]
              dA_prev gets dA[i, h, w, c] at the window's argmax only (the course's
              ``create_mask_from_window``); on ties the first maximum in row-major window
              order takes it all, as in PyTorch, so exactly one element per window is routed.
    average:  A = mean over the window;  dA_prev[window] += dA / (number of window entries)

Output size as Conv2D: "valid" n_out = floor((n - f) / s) + 1; "same" n_out = ceil(n / s)
with the extra padding at the bottom / right (Keras).  Padded entries never win a max and
are not counted in an average (Keras; PyTorch's ``count_include_pad=False``).

Computed as loops over the f_h f_w window offsets (p, q), each a strided slice
``A_prev[:, p::s, q::s]`` of the whole batch (a view), never over pixels or examples; with
overlapping windows (s < f) backward adds, otherwise it writes.  When the windows tile the
input (s = f, sizes divisible, "valid"), those slices are the (p, q) planes of the view
A_prev.reshape(m, n_H, f, n_W, f, n_C); average pooling's backward is then one broadcast
write into that view, while for max pooling the per-offset loop measured ~2x faster than one
broadcast over it (which needs a full-size boolean mask).

Max pooling in training keeps, for each output, the number of the winning offset (uint8,
a buffer reused from step to step): argmax = max over k of k * [x_k > running max], which
is branch-free and keeps the first maximum.  Inference skips it (a backward after an
inference forward computes it then).
"""

from __future__ import annotations

from .. import backend, registry
from ..ops.pooling import max_pool, max_pool_backward
from ..ops.windows import Geometry, as_pair, make_geometry, padding_config, parse_padding
from .base import Layer, check_image_shape


class _Pool2D(Layer):
    """Window geometry shared by MaxPool2D and AvgPool2D."""

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        who = type(self).__name__
        self.pool_size = as_pair(pool_size, "pool_size", who)
        self.strides = self.pool_size if strides is None else as_pair(strides, "strides", who)
        self.padding = parse_padding(padding, who, explicit=False)
        self.geometry: Geometry | None = None

    def _geometry(self, input_shape) -> Geometry:
        check_image_shape(self, input_shape)
        return make_geometry(
            self.describe(),
            input_shape,
            self.pool_size,
            self.strides,
            self.padding,
            what="pooling window",
        )

    def build_params(self, input_shape, rng):
        self.geometry = self._geometry(input_shape)

    def compute_output_shape(self, input_shape):
        g = self._geometry(tuple(input_shape))
        return (g.n_H, g.n_W, input_shape[-1])

    @property
    def _overlapping(self) -> bool:
        return self.strides[0] < self.pool_size[0] or self.strides[1] < self.pool_size[1]

    def get_config(self):
        config = super().get_config()
        config.update(
            pool_size=list(self.pool_size), strides=list(self.strides), padding=self.padding
        )
        return config


@registry.register("layer")
class MaxPool2D(_Pool2D):
    """Max pooling over f_h x f_w windows with stride s (see the module docstring).

    Args:
        pool_size: f, an int or a pair (f_h, f_w).
        strides: s, an int or a pair; None (default) means pool_size.
        padding: "valid" or "same".

    Input shape: (m, n_H_prev, n_W_prev, n_C).  Output shape: (m, n_H, n_W, n_C).
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(pool_size, strides, padding, **kwargs)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        g = self.geometry
        out = self.output_array((a_prev.shape[0], *self.output_shape), a_prev.dtype)
        cache = self.cache
        cache.a_prev = a_prev
        cache.argmax = self._argmax_buffer(out.shape) if training else None
        max_pool(a_prev, g, out, cache.argmax)
        return out

    def _argmax_buffer(self, shape):
        """(m, n_H, n_W, n_C): the number of each window's winning tap, reused across steps."""
        xp = backend.xp
        index_type = xp.uint8 if len(self.geometry.taps) <= 256 else xp.int32
        buf = getattr(self.cache, "argmax_buffer", None)
        if buf is None or buf.shape != shape:
            buf = self.cache.argmax_buffer = xp.empty(shape, dtype=index_type)
        return buf

    def backward(self, da, need_input_grad=True):
        if not need_input_grad:
            return None
        xp = backend.xp
        cache = self.cache
        g, a_prev = self.geometry, cache.a_prev
        if cache.argmax is None:  # the forward pass ran in inference mode
            cache.argmax = self._argmax_buffer(da.shape)
            max_pool(a_prev, g, xp.empty(da.shape, dtype=a_prev.dtype), cache.argmax)
        shape = a_prev.shape
        dx = xp.empty(shape, dtype=da.dtype) if g.partition else xp.zeros(shape, dtype=da.dtype)
        max_pool_backward(da, cache.argmax, g, dx, disjoint=not self._overlapping)
        return dx


@registry.register("layer")
class AvgPool2D(_Pool2D):
    """Average pooling over f_h x f_w windows with stride s (see the module docstring).

    Args:
        pool_size: f, an int or a pair (f_h, f_w).
        strides: s, an int or a pair; None (default) means pool_size.
        padding: "valid" or "same" (padded entries are not counted in the mean).

    Input shape: (m, n_H_prev, n_W_prev, n_C).  Output shape: (m, n_H, n_W, n_C).
    """

    def build_params(self, input_shape, rng):
        super().build_params(input_shape, rng)
        g = self.geometry
        if g.full:
            self._inv_count = 1.0 / (g.f_h * g.f_w)
        else:  # (n_H, n_W, 1): 1 / the number of in-range entries of each window
            count = backend.xp.zeros((g.n_H, g.n_W, 1), dtype=self.dtype)
            for _, _, out_r, _, out_c, _ in g.taps:
                count[out_r, out_c] += 1
            self._inv_count = 1.0 / count

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        xp = backend.xp
        g = self.geometry
        m, c = a_prev.shape[0], a_prev.shape[-1]
        out = xp.zeros((m, g.n_H, g.n_W, c), dtype=a_prev.dtype)
        for _, _, out_r, in_r, out_c, in_c in g.taps:
            out[:, out_r, out_c] += a_prev[:, in_r, in_c, :]
        out *= xp.asarray(self._inv_count, dtype=out.dtype)
        self.cache.a_prev = a_prev
        return out

    def backward(self, da, need_input_grad=True):
        if not need_input_grad:
            return None
        xp = backend.xp
        g = self.geometry
        shape = self.cache.a_prev.shape
        m, c = shape[0], shape[-1]
        share = da * xp.asarray(self._inv_count, dtype=da.dtype)  # (m, n_H, n_W, n_C)
        if g.partition:  # one broadcast write into the (m, n_H, f_h, n_W, f_w, n_C) view
            dx = xp.empty(shape, dtype=da.dtype)
            dx.reshape(m, g.n_H, g.f_h, g.n_W, g.f_w, c)[...] = share[:, :, None, :, None, :]
            return dx
        dx = xp.zeros(shape, dtype=da.dtype)
        for _, _, out_r, in_r, out_c, in_c in g.taps:
            dx[:, in_r, in_c] += share[:, out_r, out_c]
        return dx


@registry.register("layer")
class GlobalAveragePooling2D(Layer):
    """(m, n_H, n_W, n_C) -> (m, n_C): the mean of each channel over all positions.

    backward: dA_prev[i, h, w, c] = dA[i, c] / (n_H n_W).
    """

    def compute_output_shape(self, input_shape):
        check_image_shape(self, input_shape)
        return (input_shape[-1],)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        return a_prev.mean(axis=(1, 2))

    def backward(self, da, need_input_grad=True):
        if not need_input_grad:
            return None
        m, n_H, n_W, c = (da.shape[0], *self.input_shape)
        dx = backend.xp.empty((m, n_H, n_W, c), dtype=da.dtype)
        dx[...] = (da * (1.0 / (n_H * n_W)))[:, None, None, :]
        return dx


@registry.register("layer")
class ZeroPadding2D(Layer):
    """Pad images with zeros: (m, n_H, n_W, n_C) -> (m, n_H + top + bottom, n_W + left +
    right, n_C) (the course's ``zero_pad``).  backward crops dA back to the input's size.

    Args:
        padding: p (every side), (p_h, p_w) (top = bottom = p_h, left = right = p_w), or
            ((top, bottom), (left, right)).
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = parse_padding(padding, "ZeroPadding2D", modes=())

    def compute_output_shape(self, input_shape):
        check_image_shape(self, input_shape)
        (top, bottom), (left, right) = self.padding
        n_H, n_W, c = input_shape
        return (n_H + top + bottom, n_W + left + right, c)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        (top, bottom), (left, right) = self.padding
        m, n_H, n_W, c = a_prev.shape
        out = backend.xp.zeros((m, n_H + top + bottom, n_W + left + right, c), a_prev.dtype)
        out[:, top : top + n_H, left : left + n_W, :] = a_prev
        return out

    def backward(self, da, need_input_grad=True):
        if not need_input_grad:
            return None
        (top, _), (left, _) = self.padding
        n_H, n_W, _ = self.input_shape
        return da[:, top : top + n_H, left : left + n_W, :]

    def get_config(self):
        config = super().get_config()
        config["padding"] = padding_config(self.padding)
        return config
