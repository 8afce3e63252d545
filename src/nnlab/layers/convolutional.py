"""Convolution layers: Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D, Conv1D
(channels-last, HWIO kernels).

The course's "convolution step by step", batch first.  With input A_prev (m, n_H_prev,
n_W_prev, n_C_prev), kernel W (f_h, f_w, n_C_prev, n_C), bias b (n_C,), strides (s_h, s_w)
and A_pad the zero-padded input:

    Z[i, h, w, c] = sum_{p, q, k} A_pad[i, h s_h + p, w s_w + q, k] W[p, q, k, c] + b[c]
    A = g(Z)                                                     Z and A (m, n_H, n_W, n_C)

Output size along one spatial axis of size n, with kernel f and stride s:

    "valid"   no padding                            n_out = floor((n - f) / s) + 1
    p (int)   p zeros on both sides (the course)    n_out = floor((n + 2 p - f) / s) + 1
    "same"    n_out = ceil(n / s); total padding P = max((n_out - 1) s + f - n, 0), split as
              floor(P / 2) before (top / left) and the rest after (bottom / right): when P is
              odd the extra zero goes to the bottom / right, as in TensorFlow and Keras.

How it is computed (im2col + GEMM), with K = f_h f_w n_C_prev:

    forward:   cols = im2col(A_prev)                  (m n_H n_W, K)   one strided copy
               Z = [cols, 1] @ [W.reshape(K, n_C); b]                  one GEMM
    backward:  dZ = dA * g'(Z)                                         (m n_H n_W, n_C)
               [dW; db] = [cols, 1].T @ dZ                             one GEMM
               slab[p, q] = dZ @ W[p, q].T  for the f_w taps of kernel row p,
                                                       one batched GEMM per row p
               dA_prev[window rows and columns of tap (p, q)] += slab[p, q]
                                                        f_h f_w strided slice additions

im2col is a single copy of a strided window view (``as_strided``) of the input, padded once
into a reused zero-bordered buffer; col2im is a loop over the f_h f_w kernel offsets, never
over pixels or examples, each adding a contiguous (m, n_H, n_W, n_C_prev) slab (computing
the slabs tap by tap, rather than dcols = dZ @ W.T as one (m n_H n_W, K) matrix, makes each
addition run along whole rows).  The bias rides in the GEMMs on a column of ones kept in
the column buffer, which saves a pass over Z and one over dZ.  As everywhere in nnlab, the
1/m of the course's dW lives in the loss; the course's ``conv_backward`` sums over the
examples just as this one does, so its numbers come out unchanged.

Memory against speed: in training, the column matrix of the forward pass (f_h f_w times
the input, ~9x for 3x3 kernels) is kept for the backward pass, in a buffer the layer reuses
from step to step, so backward does no second im2col; the slabs, dZ of a ReLU and its mask
live in reused buffers too (fresh arrays of this size cost page faults, ~3 us per 4 KiB page
here).  A layer therefore holds about 2 f_h f_w / (s_h s_w) times its input (columns and
slabs) plus 1.25 times its output of scratch after the first training step.  When one
batch's columns would exceed ``COLS_BUDGET_BYTES`` (large images, e.g. VGG16 at 224x224),
or the layer is frozen (``trainable=False``: no dW, so nothing to keep them for), they are
not kept, and backward recomputes them chunk by chunk of examples for dW.

Forward passes that keep no columns (inference, frozen or very large layers) take one of
two faster routes instead of one whole-batch im2col:

* 3x3, stride 1, at least ``WINOGRAD_MIN_CHANNELS`` input channels and
  ``WINOGRAD_MIN_WIDTH`` outputs across: Winograd F(2x2, 3x3) (``ops.winograd``), 2.25x
  fewer multiplies, bias and ReLU fused into its output pass.  The input gradient of such
  a layer (with at least as many filters) is one too, in training as well.
* otherwise, once the batch's columns pass ``WHOLE_BATCH_COLS_BYTES``: im2col + GEMM in
  bands of a few output rows (``ops.im2col.conv_by_bands``), so the column matrix stays a
  few MB in cache instead of hundreds in memory; ReLU fused.

Both split their bands between threads, each with single-threaded BLAS.  A 1x1
convolution with stride 1 and no padding skips im2col: the input, reshaped to
(m n_H n_W, n_C_prev), is the column matrix (a view, no copy), and the bias is added to Z.
"""

from __future__ import annotations

import numpy as np

from .. import backend, registry
from ..exceptions import ConfigError, ShapeError
from ..ops import activations, winograd
from ..ops.im2col import col2im, conv_by_bands, depthwise_backward, depthwise_forward, im2col
from ..ops.parallel import run_over_batch
from ..ops.windows import (
    Geometry,
    as_pair,
    is_int,
    make_geometry,
    padding_config,
    parse_padding,
    transposed_axis_geometry,
)
from ..ops.workspace import workspace
from .base import Layer, check_image_shape

#: Largest column matrix (bytes) built at once; bigger batches are processed in chunks.
COLS_BUDGET_BYTES = 256 * 2**20
#: Largest column matrix a forward pass that does not keep it builds for the whole batch;
#: above it the forward runs in bands of output rows (ops.im2col.conv_by_bands).
WHOLE_BATCH_COLS_BYTES = 16 * 2**20
#: Fewest channels summed over (the GEMMs' K: n_C_prev forward, n_C for the input gradient)
#: for which a 3x3 stride-1 convolution runs as Winograd F(2x2, 3x3) rather than im2col +
#: GEMM.  Measured on a 2-core AMD EPYC (Zen 5), batch 8, forward + ReLU, im2col against
#: Winograd: 224x224x64 -> 64 223 / 85 ms, 112x112x128 127 / 55, 56x56x256 94 / 51,
#: 28x28x512 77 / 43, 14x14x512 20 / 21.
WINOGRAD_MIN_CHANNELS = 64
#: Narrowest output (n_W) for Winograd: below it the transforms' strided passes run along
#: rows too short to pay.  Same CPU, backward (dW + dA_prev) of a batch of 64, 64 -> 64
#: channels: 13x13 im2col 7.0 / Winograd 9.9 ms, 26x26 31.4 / 26.5 ms.
WINOGRAD_MIN_WIDTH = 16
#: ... unless there are at least this many channels and outputs per channel (m n_H n_W):
#: VGG16's 14x14x512 layers, forward at batch 8: im2col 18.7 / Winograd 14.6 ms; at
#: batch 1: 2.9 / 4.3 ms.
WINOGRAD_WIDE_CHANNELS = 256
WINOGRAD_MIN_OUTPUTS = 1024
#: Scratch (slabs forward, columns backward) per chunk of examples in Conv2DTranspose (at
#: least one example): small enough to stay in cache between the copy and the GEMM.
#: Measured on a 2-core AMD EPYC, one thread, (16, 32, 32, 128) -> 64 channels, 3x3,
#: stride 2: forward 27 / 28 / 34 / 40 ms with 2 / 4 / 8 / 16 MB, backward 44 / 44 / 48 / 50.
TRANSPOSE_CHUNK_BYTES = 2 * 2**20


# ------------------------------------------------------------------------ base class
class _Conv(Layer):
    """What every convolution shares: window geometry, bias, activation, input checks."""

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        activation=None,
        use_bias: bool = True,
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        who = type(self).__name__
        self.kernel_size = as_pair(kernel_size, "kernel_size", who)
        self.strides = as_pair(strides, "strides", who)
        self.padding = parse_padding(padding, who)
        self.activation = registry.get("activation", activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = registry.get("initializer", bias_initializer)
        self.geometry: Geometry | None = None

    def _geometry(self, input_shape) -> Geometry:
        check_image_shape(self, input_shape)
        return make_geometry(
            self.describe(), input_shape, self.kernel_size, self.strides, self.padding
        )

    def _channels_out(self, input_shape) -> int:
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        g = self._geometry(tuple(input_shape))
        return (g.n_H, g.n_W, self._channels_out(input_shape))

    def _finish(self, z, a_prev, add_bias=True):
        """Add the bias to z (m, n_H, n_W, n_C) in place, apply g, keep the caches."""
        if self.use_bias and add_bias:
            z += self.params["b"]
        a = self.activation.forward(z)
        cache = self.cache
        cache.a_prev = a_prev
        cache.z = None if self.activation.in_place else z
        cache.a = a
        return a

    @property
    def preactivation(self):
        """The cached Z of the last forward pass (None if the activation overwrote it)."""
        return self.cache.z

    def backward(self, da, need_input_grad=True):
        if isinstance(self.activation, activations.ReLU):
            # dZ = dA * 1[A > 0] (activations.ReLU's rule) into workspace arrays that every
            # layer's backward shares: a fresh (m, n_H, n_W, n_C) array per step costs page
            # faults, not just a pass, and arrays kept per layer would add up
            xp = backend.xp
            a = self.cache.a
            (mask,) = workspace([da.shape], bool, name="relu mask")
            (dz,) = workspace([da.shape], xp.result_type(da.dtype, a.dtype), name="relu dz")

            def pass_(lo, hi):
                xp.multiply(da[lo:hi], xp.greater(a[lo:hi], 0, out=mask[lo:hi]), out=dz[lo:hi])

            run_over_batch(pass_, da.shape[0], da.size)
        else:
            dz = self.activation.backward(da, self.cache.z, self.cache.a)
        return self.backward_preactivation(dz, need_input_grad)

    def _buffer(self, name, shape, dtype, keep, ones_column=False):
        """A zeroed scratch array, or the one kept from the last call with this name,
        shape and dtype (its contents as they were left); kept for the next call if
        ``keep``.  Only for arrays that never leave the layer; they belong to the call's
        cache, so the calls of a shared layer never overwrite each other's."""
        buffers = self.cache.buffers
        buf = buffers.get(name)
        if buf is not None and buf.shape == tuple(shape) and buf.dtype == dtype:
            return buf
        buf = backend.xp.zeros(shape, dtype=dtype)
        if ones_column:
            buf[:, -1] = 1
        if keep:
            buffers[name] = buf
        return buf

    def backward_preactivation(self, dz, need_input_grad=True):
        raise NotImplementedError

    def _bias_grad(self, dz2):
        if self.use_bias:
            self.write_grad("b", lambda out: dz2.sum(axis=0, out=out))

    def get_config(self):
        config = super().get_config()
        config.update(
            kernel_size=list(self.kernel_size),
            strides=list(self.strides),
            padding=padding_config(self.padding),
            activation=self.activation.get_config(),
            use_bias=self.use_bias,
            bias_initializer=self.bias_initializer.get_config(),
        )
        return config


def _matmul_into(a, b, out):
    """a @ b (k, n) into ``out`` (any shape of k n elements, e.g. an HWIO kernel's
    gradient), or a new (k, n) array when ``out`` is None (see Layer.write_grad)."""
    if out is None:
        return backend.xp.matmul(a, b)
    backend.xp.matmul(a, b, out=out.reshape(a.shape[0], b.shape[1]))
    return out


def _regularizer_config(reg):
    return reg.get_config() if reg is not None else None


# ---------------------------------------------------------------------------- Conv2D
@registry.register("layer")
class Conv2D(_Conv):
    """2-D convolution ``a = g(conv(a_prev, W) + b)`` (the course's ``conv_forward``).

    Args:
        filters: n_C, the number of filters (output channels).
        kernel_size: f, an int or a pair (f_h, f_w).
        strides: s, an int or a pair (s_h, s_w).
        padding: "valid" (none), "same" (n_out = ceil(n / s); an odd total padding puts the
            extra zero at the bottom / right, as Keras does), or an int p (p zeros on every
            side, the course's ``pad``) or a pair (p_h, p_w).
        activation: name or Activation; None means linear.
        use_bias: False drops b (before batch norm).
        kernel_initializer: for W (default "glorot_uniform"; use "he" with ReLU).
        bias_initializer: for b (default "zeros").
        kernel_regularizer: None, an L2 strength, or ``L2(lambd)``.

    Parameters: W (f_h, f_w, n_C_prev, n_C) (HWIO, as in the course and Keras), b (n_C,).
    Input shape: (m, n_H_prev, n_W_prev, n_C_prev).  Output shape: (m, n_H, n_W, n_C).
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding="valid",
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(
            kernel_size, strides, padding, activation, use_bias, bias_initializer, **kwargs
        )
        if not is_int(filters) or filters < 1:
            raise ConfigError(f"Conv2D: filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.kernel_initializer = registry.get("initializer", kernel_initializer)
        self.kernel_regularizer = registry.get("regularizer", kernel_regularizer)

    def _channels_out(self, input_shape):
        return self.filters

    def build_params(self, input_shape, rng):
        self.geometry = self._geometry(input_shape)
        shape = (*self.kernel_size, input_shape[-1], self.filters)
        self.params["W"] = self.kernel_initializer(shape, rng, self.dtype)
        if self.use_bias:
            self.params["b"] = self.bias_initializer((self.filters,), rng, self.dtype)
        if self.kernel_regularizer is not None:
            self.regularizers["W"] = self.kernel_regularizer

    # ------------------------------------------------------------------ helpers
    def _winograd(self, channels: int, m: int) -> bool:
        """Whether a convolution summing over ``channels`` runs as Winograd F(2x2, 3x3):
        3x3 kernel, stride 1, at most 2 zeros of padding per side (so that the input
        gradient, padded by 2 - pad, is one too), NumPy, enough channels, and outputs wide
        enough (or, with many channels, numerous enough) to pay for the transforms."""
        g = self.geometry
        big = channels >= WINOGRAD_WIDE_CHANNELS and m * g.n_H * g.n_W >= WINOGRAD_MIN_OUTPUTS
        return (
            (g.f_h, g.f_w, g.s_h, g.s_w) == (3, 3, 1, 1)
            and max(g.pad) <= 2
            and channels >= WINOGRAD_MIN_CHANNELS
            and (g.n_W >= WINOGRAD_MIN_WIDTH or big)
            and backend.xp is np
        )

    def _keeps_cols(self, m: int, itemsize: int, training: bool) -> bool:
        """Whether forward keeps the column matrix for backward's dW: in training, for a
        trainable layer whose batch's columns fit COLS_BUDGET_BYTES."""
        return training and self.trainable and self._chunk(m, itemsize) >= m

    def _cols_bytes_per_example(self, itemsize: int) -> int:
        g = self.geometry
        return g.n_H * g.n_W * (g.f_h * g.f_w * self.input_shape[-1] + 1) * itemsize

    def _chunk(self, m: int, itemsize: int) -> int:
        """Examples per im2col chunk so that one chunk's columns fit COLS_BUDGET_BYTES."""
        per_example = self._cols_bytes_per_example(itemsize)
        return max(1, min(m, COLS_BUDGET_BYTES // per_example))

    def _im2col(self, x, keep):
        """Columns (m n_H n_W, f_h f_w n_C_prev [+ 1]) of x; the extra column of ones (with
        a bias) folds b into the GEMM: Z = [cols, 1] @ [W; b]."""
        g = self.geometry
        m, c = x.shape[0], x.shape[-1]
        k = g.f_h * g.f_w * c
        shape = (m * g.n_H * g.n_W, k + self.use_bias)
        cols = self._buffer("cols", shape, x.dtype, keep, ones_column=self.use_bias)
        padded = None
        if any(g.pad) and c > 1:
            top, bottom, left, right = g.pad
            padded_shape = (m, g.n_H_prev + top + bottom, g.n_W_prev + left + right, c)
            padded = self._buffer("padded", padded_shape, x.dtype, keep)
        out = cols[:, :k].reshape(m, g.n_H, g.n_W, g.f_h, g.f_w, c)  # a view into cols
        im2col(x, g, out, padded)
        return cols

    def _weight_grads(self, cols, dz2, accumulate: bool):
        """[dW; db] (+)= [cols, 1].T @ dZ: one GEMM gives both (db from the ones column)."""
        k = cols.shape[1] - self.use_bias
        full = backend.xp.matmul(cols.T, dz2)  # (f_h f_w n_C_prev [+ 1], n_C)
        parts = [(self.grads["W"].reshape(k, self.filters), full[:k])]
        if self.use_bias:
            parts.append((self.grads["b"], full[k]))
        for grad, value in parts:
            if accumulate:
                grad += value
            else:
                grad[...] = value

    # ------------------------------------------------------------------ forward
    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        return self._convolve(a_prev, training)

    def _convolve(self, a_prev, training):
        """A = g(conv(A_prev, W) + b) for a checked batch of images (m, n_H, n_W, n_C)."""
        xp = backend.xp
        g = self.geometry
        m, c_prev = a_prev.shape[0], a_prev.shape[-1]
        w2 = self.params["W"].reshape(-1, self.filters)  # (f_h f_w n_C_prev, n_C)
        dtype = xp.result_type(a_prev.dtype, w2.dtype)
        z = self.output_array((m, g.n_H, g.n_W, self.filters), dtype)
        z2 = z.reshape(-1, self.filters)  # (m n_H n_W, n_C)
        cache = self.cache
        cache.cols = None  # the column matrix, kept for backward in training
        route = self.forward_route(m, training, a_prev.dtype.itemsize)
        if route == "1x1":  # the input is the column matrix
            cache.cols = a_prev.reshape(-1, c_prev)  # a view (when a_prev is contiguous)
            xp.matmul(cache.cols, w2, out=z2)
            return self._finish(z, a_prev)
        if route == "winograd":
            return self._forward_winograd(a_prev, z)
        if self.use_bias:  # [W; b]: (f_h f_w n_C_prev + 1, n_C)
            w_ext = self._buffer("w_ext", (w2.shape[0] + 1, self.filters), w2.dtype, True)
            w_ext[:-1] = w2
            w_ext[-1] = self.params["b"]
            w2 = w_ext
        if route == "bands":
            fused = isinstance(self.activation, activations.ReLU)
            conv_by_bands(a_prev, w2, g, z, bias_row=self.use_bias, relu=fused)
            return self._finish_fused(z, a_prev, fused)
        keep = route == "im2col (columns kept)"
        cols = self._im2col(a_prev, keep=keep)
        xp.matmul(cols, w2, out=z2)
        if keep:
            cache.cols = cols  # kept for backward (reused buffer)
        return self._finish(z, a_prev, add_bias=False)

    def forward_route(self, m: int, training: bool = False, itemsize: int = 4) -> str:
        """How forward computes a batch of m (the module docstring explains each):
        "1x1" (the input is the column matrix), "im2col (columns kept)" (training: kept
        for dW), "winograd", "bands" (im2col + GEMM a few rows at a time) or "im2col"."""
        if self.geometry.identity:
            return "1x1"
        if self._keeps_cols(m, itemsize, training):
            return "im2col (columns kept)"
        if self._winograd(self.input_shape[-1], m):
            return "winograd"
        if m * self._cols_bytes_per_example(itemsize) > WHOLE_BATCH_COLS_BYTES:
            return "bands"
        return "im2col"

    def input_gradient_route(self, m: int) -> str:
        """How backward computes dA_prev for a batch of m: "winograd" or "im2col" (slabs
        of dZ W^T added back by col2im); "1x1" for a 1x1 stride-1 convolution."""
        if self.geometry.identity:
            return "1x1"
        return "winograd" if self._winograd(self.filters, m) else "im2col"

    def _forward_winograd(self, a_prev, z):
        """Z = conv(A_prev, W) + b by Winograd F(2x2, 3x3), with a ReLU fused into its
        output pass (then A is Z, overwritten)."""
        fused = isinstance(self.activation, activations.ReLU)
        u = winograd.kernel_transform(self.params["W"])
        bias = self.params["b"] if self.use_bias else None
        winograd.conv3x3(a_prev, u, self.geometry.pad, z, bias=bias, relu=fused)
        return self._finish_fused(z, a_prev, fused)

    def _finish_fused(self, z, a_prev, fused: bool):
        """Like _finish (no bias to add) when z may already be ReLU(Z) (``fused``)."""
        if not fused:
            return self._finish(z, a_prev, add_bias=False)
        cache = self.cache
        cache.a_prev, cache.z, cache.a = a_prev, None, z
        return z

    # ----------------------------------------------------------------- backward
    def backward_preactivation(self, dz, need_input_grad=True):
        """Backward from dZ (m, n_H, n_W, n_C): fill dW, db; return dA_prev or None."""
        xp = backend.xp
        g = self.geometry
        a_prev, kept_cols = self.cache.a_prev, self.cache.cols
        c_prev = a_prev.shape[-1]
        dz2 = xp.ascontiguousarray(dz).reshape(-1, self.filters)  # (m n_H n_W, n_C)
        w = self.params["W"]
        if g.identity:
            self.write_grad("W", lambda out: _matmul_into(kept_cols.T, dz2, out))
            self._bias_grad(dz2)
            if not need_input_grad:
                return None
            return xp.matmul(dz2, w.reshape(c_prev, self.filters).T).reshape(a_prev.shape)
        winograd_dx = need_input_grad and self.input_gradient_route(a_prev.shape[0]) == "winograd"
        slab_dx = need_input_grad and not winograd_dx
        dx = xp.zeros(a_prev.shape, dtype=dz2.dtype) if slab_dx else None
        if self.trainable or slab_dx:
            self._chunked_backward(a_prev, kept_cols, dz2, dx)
        if winograd_dx:
            dx = self._input_grad_winograd(dz, a_prev.shape)
        return dx

    def _chunked_backward(self, a_prev, kept_cols, dz2, dx) -> None:
        """dW, db (for a trainable layer) and, when dx is given, dA_prev by slabs and
        col2im, chunk by chunk of the batch (one chunk when forward kept the columns)."""
        xp = backend.xp
        g = self.geometry
        m, c_prev = a_prev.shape[0], a_prev.shape[-1]
        taps = g.f_h * g.f_w
        # (taps, n_C, n_C_prev): tap t's slab of dcols is dZ @ W[t].T
        w_taps = self.params["W"].reshape(taps, c_prev, self.filters).transpose(0, 2, 1)
        rows = g.n_H * g.n_W
        kept = kept_cols is not None
        chunk = m if kept else self._chunk(m, a_prev.dtype.itemsize)
        for start in range(0, m, chunk):
            stop = min(start + chunk, m)
            cols = kept_cols if kept else self._im2col(a_prev[start:stop], keep=False)
            dz_chunk = dz2[start * rows : stop * rows]
            if self.trainable:
                accumulate = start > 0 or self.accumulate_grads
                self._weight_grads(cols, dz_chunk, accumulate)
            if dx is not None:  # one kernel row's f_w slabs at a time: f_h x less memory
                shape = (g.f_w, dz_chunk.shape[0], c_prev)
                (slabs,) = workspace([shape], dz2.dtype, name="slabs")
                for p in range(g.f_h):
                    row_taps = w_taps[p * g.f_w : (p + 1) * g.f_w]
                    xp.matmul(dz_chunk, row_taps, out=slabs)  # (f_w, rows, n_C_prev)
                    row_slabs = slabs.reshape(g.f_w, stop - start, g.n_H, g.n_W, c_prev)
                    col2im(row_slabs, g, dx[start:stop], kernel_row=p)

    def _input_grad_winograd(self, dz, input_shape):
        """dA_prev = conv(dZ padded by 2 - pad, W rotated, channels swapped), by Winograd."""
        xp = backend.xp
        u = winograd.input_gradient_transform(self.params["W"])
        pad = tuple(2 - p for p in self.geometry.pad)
        dx = xp.empty(input_shape, dtype=dz.dtype)
        winograd.conv3x3(xp.ascontiguousarray(dz), u, pad, dx)
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_initializer=self.kernel_initializer.get_config(),
            kernel_regularizer=_regularizer_config(self.kernel_regularizer),
        )
        return config


# ------------------------------------------------------------------- Conv2DTranspose
@registry.register("layer")
class Conv2DTranspose(_Conv):
    """Transposed convolution ("deconvolution"): the input gradient of a convolution, used
    as a layer that upsamples by the strides (U-Net's decoder, Keras' Conv2DTranspose).

    Let C be the convolution of an image (n_H, n_W, n_C) with kernel W (f_h, f_w, n_C,
    n_C_prev), strides (s_h, s_w) and zero padding (top, bottom, left, right), which gives
    (n_H_prev, n_W_prev, n_C_prev).  This layer is its transpose, from A_prev (m, n_H_prev,
    n_W_prev, n_C_prev) to Z (m, n_H, n_W, n_C):

        Z[i, h s_h + p - top, w s_w + q - left, c] += sum_k A_prev[i, h, w, k] W[p, q, c, k]
        Z += b[c];  A = g(Z)                     (the sum over every (h, w, p, q) that lands)

    each input pixel spreads a kernel-sized patch, weighted by W, onto the output, the
    patches s apart.  Output size along one axis of n inputs (Keras' deconv_output_length,
    ``ops.windows.transposed_axis_geometry``), and the padding of C that it implies,
    P = (n - 1) s + f - n_out in all, floor(P / 2) before and the rest after (none if P < 0):

        "valid"  n_out = n s + max(f - s, 0)    with output_padding a: (n - 1) s + f + a
        "same"   n_out = n s                    with output_padding a: (n - 1) s + f % 2 + a

    so "same" is the transpose of Conv2D(padding="same") over an (n_H, n_W) image, with
    the odd zero of P at the bottom / right, as TensorFlow and JAX compute it.  (PyTorch's
    ConvTranspose2d(padding=t, output_padding=a) crops t rows at each end of the full
    (n - 1) s + f rows and adds a at the bottom: "same" is t = floor((f - s) / 2) and, when
    f - s is odd, one more row cropped at the bottom, which t and a cannot express.)

    How it is computed (GEMMs, im2col and col2im of Conv2D), with M = m n_H_prev n_W_prev
    and A_prev2 = A_prev.reshape(M, n_C_prev):

        forward:   slab[p, q] = A_prev2 @ W[p, q].T            (M, n_C)   per tap, one
                                                          batched GEMM per kernel row p
                   Z = b;  Z[rows and columns of tap (p, q)] += slab[p, q]      (col2im)
        backward:  dZ = dA * g'(Z)                              (m, n_H, n_W, n_C)
                   cols = im2col(dZ)                  (M, f_h f_w n_C)  C's columns of dZ
                   dA_prev = cols @ W.reshape(f_h f_w n_C, n_C_prev)   one GEMM (dA_prev
                                                          = C(dZ), a plain convolution)
                   dW = cols.T @ A_prev2             (f_h f_w n_C, n_C_prev)   one GEMM
                   db = sum over (i, h, w) of dZ[i, h, w, :]

    in chunks of examples whose slabs and columns fit ``TRANSPOSE_CHUNK_BYTES`` (so they
    stay in cache between the copy and the GEMM), the column matrix in a scratch array
    that every layer shares (``ops.workspace``).  A 1x1 kernel with stride 1 is one GEMM
    each way.  As everywhere, the 1/m lives in the loss.

    Args:
        filters: n_C, the number of output channels.
        kernel_size: f, an int or a pair (f_h, f_w).
        strides: s, an int or a pair (s_h, s_w): the upsampling factor.
        padding: "valid" or "same" (above).
        output_padding: None, or an int or pair a (0 <= a < s) of rows / columns added at
            the bottom / right (as in Keras, it also changes "same"'s size, see above).
        activation: name or Activation; None means linear.
        use_bias: False drops b.
        kernel_initializer: for W (default "glorot_uniform", fans from W's shape, as Keras).
        bias_initializer: for b (default "zeros").
        kernel_regularizer: None, an L2 strength, or ``L2(lambd)``.

    Parameters: W (f_h, f_w, n_C, n_C_prev) (Keras' layout: the HWIO kernel of C), b (n_C,).
    Input shape: (m, n_H_prev, n_W_prev, n_C_prev).  Output shape: (m, n_H, n_W, n_C).
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding="valid",
        output_padding=None,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        who = "Conv2DTranspose"
        super().__init__(
            kernel_size, strides, "valid", activation, use_bias, bias_initializer, **kwargs
        )
        self.padding = parse_padding(padding, who, explicit=False)  # the modes only
        if not is_int(filters) or filters < 1:
            raise ConfigError(f"{who}: filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.output_padding = None
        if output_padding is not None:
            pair = as_pair(output_padding, "output_padding", who, minimum=0)
            if any(a >= s for a, s in zip(pair, self.strides, strict=True)):
                raise ConfigError(
                    f"{who}: output_padding must be smaller than strides, got "
                    f"output_padding={output_padding!r} with strides={self.strides}"
                )
            self.output_padding = pair
        self.kernel_initializer = registry.get("initializer", kernel_initializer)
        self.kernel_regularizer = registry.get("regularizer", kernel_regularizer)

    def _channels_out(self, input_shape):
        return self.filters

    def _geometry(self, input_shape) -> Geometry:
        """The geometry of C, the convolution of the output image back to the input."""
        check_image_shape(self, input_shape)
        sizes, pads = [], []
        for axis in (0, 1):
            a = None if self.output_padding is None else self.output_padding[axis]
            n_out, before, after = transposed_axis_geometry(
                input_shape[axis], self.kernel_size[axis], self.strides[axis], self.padding, a
            )
            sizes.append(n_out)
            pads.append((before, after))
        if min(sizes) < 1:
            raise ShapeError(
                f"{self.describe()}: input shape {tuple(input_shape)} with padding "
                f"{self.padding!r} and output_padding {self.output_padding} gives an empty "
                f"output {tuple(sizes)}"
            )
        g = make_geometry(
            self.describe(), (*sizes, self.filters), self.kernel_size, self.strides, tuple(pads)
        )
        assert (g.n_H, g.n_W) == tuple(input_shape[:2]), (g, input_shape)
        return g

    def compute_output_shape(self, input_shape):
        g = self._geometry(tuple(input_shape))
        return (g.n_H_prev, g.n_W_prev, self.filters)

    def build_params(self, input_shape, rng):
        self.geometry = self._geometry(input_shape)
        shape = (*self.kernel_size, self.filters, input_shape[-1])
        self.params["W"] = self.kernel_initializer(shape, rng, self.dtype)
        if self.use_bias:
            self.params["b"] = self.bias_initializer((self.filters,), rng, self.dtype)
        if self.kernel_regularizer is not None:
            self.regularizers["W"] = self.kernel_regularizer

    def _chunk(self, m: int, row_bytes: int) -> int:
        """Examples per chunk whose scratch (``row_bytes`` per input pixel) fits the budget."""
        g = self.geometry
        return max(1, min(m, TRANSPOSE_CHUNK_BYTES // (g.n_H * g.n_W * row_bytes)))

    # ------------------------------------------------------------------ forward
    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        xp = backend.xp
        g, w = self.geometry, self.params["W"]
        m, c_prev, n_c = a_prev.shape[0], a_prev.shape[-1], self.filters
        dtype = xp.result_type(a_prev.dtype, w.dtype)
        x2 = xp.ascontiguousarray(a_prev).reshape(-1, c_prev)  # (M, n_C_prev)
        z = self.output_array((m, g.n_H_prev, g.n_W_prev, n_c), dtype)
        if g.identity:  # 1x1, stride 1: Z2 = A_prev2 @ W.T
            xp.matmul(x2, w.reshape(n_c, c_prev).T, out=z.reshape(-1, n_c))
        else:
            z[...] = self.params["b"] if self.use_bias else 0
            taps = g.f_h * g.f_w
            # (taps, n_C_prev, n_C): tap t's slab is A_prev2 @ W[t].T
            w_taps = w.reshape(taps, n_c, c_prev).transpose(0, 2, 1)
            rows = g.n_H * g.n_W
            chunk = self._chunk(m, g.f_w * n_c * z.itemsize)
            (slabs,) = workspace([(g.f_w, chunk * rows, n_c)], dtype, name="slabs")
            for start in range(0, m, chunk):
                stop = min(start + chunk, m)
                part = slabs[:, : (stop - start) * rows]
                for p in range(g.f_h):
                    xp.matmul(
                        x2[start * rows : stop * rows],
                        w_taps[p * g.f_w : (p + 1) * g.f_w],
                        out=part,
                    )
                    row_slabs = part.reshape(g.f_w, stop - start, g.n_H, g.n_W, n_c)
                    col2im(row_slabs, g, z[start:stop], kernel_row=p)
        self.cache.x2 = x2
        return self._finish(z, a_prev, add_bias=g.identity)

    # ----------------------------------------------------------------- backward
    def backward_preactivation(self, dz, need_input_grad=True):
        """Backward from dZ (m, n_H, n_W, n_C): fill dW, db; return dA_prev or None."""
        xp = backend.xp
        g, x2 = self.geometry, self.cache.x2
        a_prev = self.cache.a_prev
        m, c_prev, n_c = a_prev.shape[0], a_prev.shape[-1], self.filters
        dz = xp.ascontiguousarray(dz)
        if self.trainable:
            self._bias_grad(dz.reshape(-1, n_c))
        if not (self.trainable or need_input_grad):
            return None
        dx = xp.empty(a_prev.shape, dtype=dz.dtype) if need_input_grad else None
        dx2 = None if dx is None else dx.reshape(-1, c_prev)
        k = g.f_h * g.f_w * n_c
        w2 = self.params["W"].reshape(k, c_prev)  # (f_h f_w n_C, n_C_prev)
        if g.identity:
            chunk, cols, padded = m, None, None
        else:
            chunk = self._chunk(m, k * dz.itemsize)
            top, bottom, left, right = g.pad
            shapes = [(chunk, g.n_H, g.n_W, g.f_h, g.f_w, n_c)]
            if any(g.pad):
                shapes.append((chunk, g.n_H_prev + top + bottom, g.n_W_prev + left + right, n_c))
            cols, *padded = workspace(shapes, dz.dtype, name="cols")
            padded = padded[0] if padded else None
            if padded is not None:
                padded[...] = 0  # the zero border im2col expects
                if n_c == 1:
                    cols[...] = 0  # with one channel im2col skips the padding entries
        rows = g.n_H * g.n_W
        for start in range(0, m, chunk):
            stop = min(start + chunk, m)
            if g.identity:
                cols2 = dz.reshape(-1, k)
            else:
                part = cols[: stop - start]
                im2col(dz[start:stop], g, part, None if padded is None else padded[: stop - start])
                cols2 = part.reshape(-1, k)  # (chunk rows, f_h f_w n_C)
            if dx2 is not None:
                xp.matmul(cols2, w2, out=dx2[start * rows : stop * rows])
            if self.trainable:
                self._kernel_grad(cols2, x2[start * rows : stop * rows], accumulate=start > 0)
        return dx

    def _kernel_grad(self, cols2, x2, accumulate: bool):
        """dW (+)= cols.T @ A_prev2 (written, or added for a later chunk)."""
        if not accumulate:
            self.write_grad("W", lambda out: _matmul_into(cols2.T, x2, out))
            return
        self.grads["W"] += backend.xp.matmul(cols2.T, x2).reshape(self.grads["W"].shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            output_padding=None if self.output_padding is None else list(self.output_padding),
            kernel_initializer=self.kernel_initializer.get_config(),
            kernel_regularizer=_regularizer_config(self.kernel_regularizer),
        )
        return config


# ------------------------------------------------------------------- depthwise math


@registry.register("layer")
class DepthwiseConv2D(_Conv):
    """Depthwise convolution: each input channel convolved with its own filters.

    With depth multiplier d, channel c of the input makes output channels c d .. c d + d - 1
    (Keras' ordering; PyTorch's ``conv2d(groups=n_C_prev)`` orders them the same way):

        Z[i, h, w, c d + k] = sum_{p, q} A_pad[i, h s_h + p, w s_w + q, c] W[p, q, c, k] + b[c d + k]

    Computed as a loop over the f_h f_w kernel taps, each a broadcast multiply-add over the
    whole batch.

    Args:
        kernel_size, strides, padding, activation, use_bias, bias_initializer: as Conv2D.
        depth_multiplier: d, filters per input channel.
        depthwise_initializer: for W (default "glorot_uniform", fans as Keras computes them
            from the (f_h, f_w, n_C_prev, d) shape).
        depthwise_regularizer: None, an L2 strength, or ``L2(lambd)``.

    Parameters: W (f_h, f_w, n_C_prev, d), b (n_C_prev d,).
    Input shape: (m, n_H_prev, n_W_prev, n_C_prev).  Output: (m, n_H, n_W, n_C_prev d).
    """

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier: int = 1,
        activation=None,
        use_bias: bool = True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        **kwargs,
    ):
        super().__init__(
            kernel_size, strides, padding, activation, use_bias, bias_initializer, **kwargs
        )
        if not is_int(depth_multiplier) or depth_multiplier < 1:
            raise ConfigError(
                f"DepthwiseConv2D: depth_multiplier must be a positive integer, got {depth_multiplier!r}"
            )
        self.depth_multiplier = int(depth_multiplier)
        self.depthwise_initializer = registry.get("initializer", depthwise_initializer)
        self.depthwise_regularizer = registry.get("regularizer", depthwise_regularizer)

    def _channels_out(self, input_shape):
        return input_shape[-1] * self.depth_multiplier

    def build_params(self, input_shape, rng):
        self.geometry = self._geometry(input_shape)
        c_prev = input_shape[-1]
        shape = (*self.kernel_size, c_prev, self.depth_multiplier)
        self.params["W"] = self.depthwise_initializer(shape, rng, self.dtype)
        if self.use_bias:
            self.params["b"] = self.bias_initializer(
                (c_prev * self.depth_multiplier,), rng, self.dtype
            )
        if self.depthwise_regularizer is not None:
            self.regularizers["W"] = self.depthwise_regularizer

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        xp = backend.xp
        g, w = self.geometry, self.params["W"]
        m, c_prev = a_prev.shape[0], a_prev.shape[-1]
        dtype = xp.result_type(a_prev.dtype, w.dtype)
        z = xp.zeros((m, g.n_H, g.n_W, c_prev * self.depth_multiplier), dtype=dtype)
        depthwise_forward(a_prev, w, g, z.reshape(m, g.n_H, g.n_W, c_prev, -1))
        return self._finish(z, a_prev)

    def backward_preactivation(self, dz, need_input_grad=True):
        """Backward from dZ (m, n_H, n_W, n_C_prev d): fill dW, db; return dA_prev or None."""
        xp = backend.xp
        a_prev, g = self.cache.a_prev, self.geometry
        m, c_prev = a_prev.shape[0], a_prev.shape[-1]
        dz = xp.ascontiguousarray(dz)
        self._bias_grad(dz.reshape(-1, dz.shape[-1]))
        dx = xp.zeros(a_prev.shape, dtype=dz.dtype) if need_input_grad else None
        dz5 = dz.reshape(m, g.n_H, g.n_W, c_prev, -1)
        w = self.params["W"]
        self.write_grad("W", lambda out: depthwise_backward(dz5, a_prev, w, g, out, dx))
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(
            depth_multiplier=self.depth_multiplier,
            depthwise_initializer=self.depthwise_initializer.get_config(),
            depthwise_regularizer=_regularizer_config(self.depthwise_regularizer),
        )
        return config


@registry.register("layer")
class SeparableConv2D(_Conv):
    """Depthwise separable convolution (MobileNet): a depthwise convolution (no bias, no
    activation) followed by a pointwise 1x1 convolution, bias and activation:

        Y = depthwise(A_prev, W_depthwise)                  (m, n_H, n_W, n_C_prev d)
        Z = Y @ W_pointwise.reshape(n_C_prev d, n_C) + b    (m, n_H, n_W, n_C)
        A = g(Z)

    It costs f_h f_w n_C_prev d + n_C_prev d n_C multiplications per output pixel where a
    Conv2D costs f_h f_w n_C_prev n_C.  (MobileNet's block with batch norm and ReLU between
    the two halves is DepthwiseConv2D, BatchNormalization, ReLU, Conv2D(kernel_size=1).)

    Args:
        filters: n_C, output channels of the pointwise convolution.
        kernel_size, strides, padding: of the depthwise convolution, as Conv2D.
        activation, use_bias, bias_initializer: applied after the pointwise convolution.
        depth_multiplier: d, depthwise filters per input channel.
        depthwise_initializer, pointwise_initializer: default "glorot_uniform".
        depthwise_regularizer, pointwise_regularizer: None, an L2 strength, or ``L2(lambd)``.

    Parameters: W_depthwise (f_h, f_w, n_C_prev, d), W_pointwise (1, 1, n_C_prev d, n_C),
    b (n_C,).  Input shape: (m, n_H_prev, n_W_prev, n_C_prev).  Output: (m, n_H, n_W, n_C).
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding="valid",
        activation=None,
        depth_multiplier: int = 1,
        use_bias: bool = True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        **kwargs,
    ):
        super().__init__(
            kernel_size, strides, padding, activation, use_bias, bias_initializer, **kwargs
        )
        if not is_int(filters) or filters < 1:
            raise ConfigError(
                f"SeparableConv2D: filters must be a positive integer, got {filters!r}"
            )
        if not is_int(depth_multiplier) or depth_multiplier < 1:
            raise ConfigError(
                f"SeparableConv2D: depth_multiplier must be a positive integer, got {depth_multiplier!r}"
            )
        self.filters = int(filters)
        self.depth_multiplier = int(depth_multiplier)
        self.depthwise_initializer = registry.get("initializer", depthwise_initializer)
        self.pointwise_initializer = registry.get("initializer", pointwise_initializer)
        self.depthwise_regularizer = registry.get("regularizer", depthwise_regularizer)
        self.pointwise_regularizer = registry.get("regularizer", pointwise_regularizer)

    def _channels_out(self, input_shape):
        return self.filters

    def build_params(self, input_shape, rng):
        self.geometry = self._geometry(input_shape)
        c_mid = input_shape[-1] * self.depth_multiplier
        dw_shape = (*self.kernel_size, input_shape[-1], self.depth_multiplier)
        self.params["W_depthwise"] = self.depthwise_initializer(dw_shape, rng, self.dtype)
        self.params["W_pointwise"] = self.pointwise_initializer(
            (1, 1, c_mid, self.filters), rng, self.dtype
        )
        if self.use_bias:
            self.params["b"] = self.bias_initializer((self.filters,), rng, self.dtype)
        if self.depthwise_regularizer is not None:
            self.regularizers["W_depthwise"] = self.depthwise_regularizer
        if self.pointwise_regularizer is not None:
            self.regularizers["W_pointwise"] = self.pointwise_regularizer

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        xp = backend.xp
        g, w_d = self.geometry, self.params["W_depthwise"]
        m, c_prev = a_prev.shape[0], a_prev.shape[-1]
        c_mid = c_prev * self.depth_multiplier
        dtype = xp.result_type(a_prev.dtype, w_d.dtype)
        y = xp.zeros((m, g.n_H, g.n_W, c_mid), dtype=dtype)
        depthwise_forward(a_prev, w_d, g, y.reshape(m, g.n_H, g.n_W, c_prev, -1))
        w_p = self.params["W_pointwise"].reshape(c_mid, self.filters)
        z = xp.matmul(y.reshape(-1, c_mid), w_p).reshape(m, g.n_H, g.n_W, self.filters)
        self.cache.y = y
        return self._finish(z, a_prev)

    def backward_preactivation(self, dz, need_input_grad=True):
        """Backward from dZ (m, n_H, n_W, n_C): fill the three gradients; return dA_prev."""
        xp = backend.xp
        a_prev, g, y = self.cache.a_prev, self.geometry, self.cache.y
        m, c_prev = a_prev.shape[0], a_prev.shape[-1]
        c_mid = y.shape[-1]
        dz2 = xp.ascontiguousarray(dz).reshape(-1, self.filters)
        self._bias_grad(dz2)
        y2 = y.reshape(-1, c_mid)
        self.write_grad("W_pointwise", lambda out: _matmul_into(y2.T, dz2, out))
        w_p = self.params["W_pointwise"].reshape(c_mid, self.filters)
        dy = xp.matmul(dz2, w_p.T).reshape(m, g.n_H, g.n_W, c_prev, -1)
        dx = xp.zeros(a_prev.shape, dtype=dz2.dtype) if need_input_grad else None
        w_d = self.params["W_depthwise"]
        self.write_grad("W_depthwise", lambda out: depthwise_backward(dy, a_prev, w_d, g, out, dx))
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            depth_multiplier=self.depth_multiplier,
            depthwise_initializer=self.depthwise_initializer.get_config(),
            pointwise_initializer=self.pointwise_initializer.get_config(),
            depthwise_regularizer=_regularizer_config(self.depthwise_regularizer),
            pointwise_regularizer=_regularizer_config(self.pointwise_regularizer),
        )
        return config


# ---------------------------------------------------------------------------- Conv1D
@registry.register("layer")
class Conv1D(Conv2D):
    """1-D convolution over time: sequences (m, T, n_C_prev) -> (m, T', n_C).

        Z[i, t, c] = sum_{q, k} A_pad[i, t s + q, k] W[q, k, c] + b[c],   A = g(Z)

    Computed as Conv2D on (m, 1, T, n_C_prev) with a 1 x f kernel (the same im2col + GEMM,
    bands and threads).

    Args:
        filters: n_C.
        kernel_size: f (an int).
        strides: s (an int).
        padding: "valid", "same" (T' = ceil(T / s)), "causal" (f - 1 zeros before the
            sequence, none after: Z<t> sees only steps <= t), or an int p (both ends).
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer: as
            Conv2D.

    Parameters: W (f, n_C_prev, n_C) (Keras' layout), b (n_C,).
    Input shape: (m, T, n_C_prev).  Output shape: (m, T', n_C).
    """

    def __init__(self, filters: int, kernel_size, strides=1, padding="valid", **kwargs):
        for name, value in (("kernel_size", kernel_size), ("strides", strides)):
            if not is_int(value) or value < 1:
                raise ConfigError(f"Conv1D: {name} must be a positive integer, got {value!r}")
        self.padding_1d = padding.lower() if isinstance(padding, str) else padding
        if self.padding_1d == "causal":
            padding_2d = ((0, 0), (kernel_size - 1, 0))
        elif is_int(padding):
            padding_2d = ((0, 0), (padding, padding))
        elif self.padding_1d in ("valid", "same"):
            padding_2d = self.padding_1d
        else:
            raise ConfigError(
                f"Conv1D: padding must be 'valid', 'same', 'causal' or an int, got {padding!r}"
            )
        super().__init__(filters, (1, kernel_size), (1, strides), padding_2d, **kwargs)

    def _geometry(self, input_shape) -> Geometry:
        if len(input_shape) != 2:
            raise ShapeError(
                f"{self.describe()}: expected sequences of shape (m, T, n_C), got "
                f"(m, {', '.join(map(str, input_shape))})"
            )
        return super()._geometry((1, *input_shape))

    def compute_output_shape(self, input_shape):
        return super().compute_output_shape(input_shape)[1:]

    def build_params(self, input_shape, rng):
        super().build_params(input_shape, rng)
        self.params["W"] = self.params["W"][0]  # (1, f, n_C_prev, n_C) -> (f, n_C_prev, n_C)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        return self._convolve(a_prev[:, None], training)[:, 0]

    def backward(self, da, need_input_grad=True):
        dx = super().backward(da[:, None], need_input_grad)
        return None if dx is None else dx[:, 0]

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=self.kernel_size[1], strides=self.strides[1])
        config["padding"] = self.padding_1d
        return config
