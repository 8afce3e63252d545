"""im2col / col2im and the depthwise convolution kernels, on channels-last batches.

``im2col`` copies every window of a batch into one column matrix (m n_H n_W, f_h f_w n_C)
so that a convolution is one GEMM; ``col2im`` adds the per-tap slabs of the input gradient
back into place.  See ``nnlab.layers.convolutional`` for the equations and the buffers.
"""

from __future__ import annotations

from .. import backend
from .parallel import run_over_batch
from .windows import Geometry


def window_view(x, g: Geometry):
    """The windows of x (m, n_H_prev + top + bottom, n_W_prev + left + right, C), already
    padded, as a strided view (m, n_H, n_W, f_h, f_w, C): no copy."""
    s_m, s_h, s_w, s_c = x.strides
    shape = (x.shape[0], g.n_H, g.n_W, g.f_h, g.f_w, x.shape[-1])
    strides = (s_m, g.s_h * s_h, g.s_w * s_w, s_h, s_w, s_c)
    return backend.xp.lib.stride_tricks.as_strided(x, shape, strides)


def im2col(x, g: Geometry, out, padded=None):
    """Copy the windows of x (m, n_H_prev, n_W_prev, C) into out (m, n_H, n_W, f_h, f_w, C).

    One strided copy of :func:`window_view`; with padding, x is first copied into the
    interior of ``padded`` (m, n_H_prev + top + bottom, n_W_prev + left + right, C), whose
    border must be zero.  With one channel (C = 1), one copy per kernel tap instead (each
    copies whole output rows; 3x faster than the single copy, whose innermost run would be
    f_w numbers): there ``padded`` is not used and the entries of ``out`` that fall on
    padding are not written, so they must be zero.  Split over the batch across threads.
    """

    def pass_(lo, hi):
        _im2col_chunk(x[lo:hi], g, out[lo:hi], None if padded is None else padded[lo:hi])

    run_over_batch(pass_, x.shape[0], out.size)
    return out


def _im2col_chunk(x, g: Geometry, out, padded):
    """im2col on one chunk of the batch."""
    if x.shape[-1] == 1:
        for p, q, out_r, in_r, out_c, in_c in g.taps:
            out[:, out_r, out_c, p, q, :] = x[:, in_r, in_c, :]
        return out
    if any(g.pad):
        top, _, left, _ = g.pad
        padded[:, top : top + g.n_H_prev, left : left + g.n_W_prev, :] = x
        x = padded
    out[...] = window_view(x, g)
    return out


def col2im(slabs, g: Geometry, dx):
    """The adjoint of im2col: add each tap's slab back where the tap read from.

    slabs (f_h f_w, m, n_H, n_W, C): slabs[p f_w + q] is the gradient w.r.t. the input
    pixels that tap (p, q) saw.  dx (m, n_H_prev, n_W_prev, C) must be zeroed.  f_h f_w
    strided slice additions, each over the whole batch (with stride 1 each adds rows of
    n_W C contiguous numbers), the batch split across threads.
    """

    def pass_(lo, hi):
        for p, q, out_r, in_r, out_c, in_c in g.taps:
            dx[lo:hi, in_r, in_c, :] += slabs[p * g.f_w + q][lo:hi, out_r, out_c, :]

    run_over_batch(pass_, dx.shape[0], slabs.size)
    return dx


def depthwise_forward(x, w, g: Geometry, out):
    """out (m, n_H, n_W, C, d) = each channel of x convolved with its own W[:, :, c, :].

    x (m, n_H_prev, n_W_prev, C), w (f_h, f_w, C, d); ``out`` must be zeroed.  A loop over
    the kernel taps: out[taps' outputs] += x[taps' inputs, :, None] * w[p, q].
    """
    for p, q, out_r, in_r, out_c, in_c in g.taps:
        out[:, out_r, out_c] += x[:, in_r, in_c, :, None] * w[p, q]
    return out


def depthwise_backward(dz, x, w, g: Geometry, dw, dx):
    """Fill dw (f_h, f_w, C, d) in place (None: a new array) and add into dx (zeroed, or
    None to skip); return dw.

    dz (m, n_H, n_W, C, d): dw[p, q] = sum over (m, rows, cols) of x_tap[..., None] * dz;
    dx_tap += sum over d of dz * w[p, q].
    """
    xp = backend.xp
    if dw is None:
        dw = xp.empty_like(w, dtype=dz.dtype)
    dw[...] = 0
    for p, q, out_r, in_r, out_c, in_c in g.taps:
        dz_tap = dz[:, out_r, out_c]
        dw[p, q] = xp.einsum("nhwc,nhwcd->cd", x[:, in_r, in_c], dz_tap)
        if dx is not None:
            dx[:, in_r, in_c] += xp.einsum("nhwcd,cd->nhwc", dz_tap, w[p, q])
    return dw
