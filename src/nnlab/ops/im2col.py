"""im2col / col2im and the depthwise convolution kernels, on channels-last batches.

``im2col`` copies every window of a batch into one column matrix (m n_H n_W, f_h f_w n_C)
so that a convolution is one GEMM; ``col2im`` adds the per-tap slabs of the input gradient
back into place; ``conv_by_bands`` is im2col + GEMM on a few output rows at a time, for
large images, so that the column matrix stays a few MB.  See ``nnlab.layers.convolutional`` for the equations and the buffers.
"""

from __future__ import annotations

from .. import backend
from .parallel import run_over_batch, run_over_rows
from .windows import Geometry, copy_padded_rows
from .workspace import workspace


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


def col2im(slabs, g: Geometry, dx, kernel_row: int | None = None):
    """The adjoint of im2col: add each tap's slab back where the tap read from.

    slabs (f_h f_w, m, n_H, n_W, C): slabs[p f_w + q] is the gradient w.r.t. the input
    pixels that tap (p, q) saw; with ``kernel_row`` p, only that row's taps, slabs (f_w, m,
    n_H, n_W, C) indexed by q.  dx (m, n_H_prev, n_W_prev, C) must be zeroed before the
    first call.  One strided slice addition per tap, each over the whole batch (with stride
    1 each adds rows of n_W C contiguous numbers), the batch split across threads.
    """
    taps = [t for t in g.taps if kernel_row is None or t[0] == kernel_row]
    first = 0 if kernel_row is None else kernel_row * g.f_w

    def pass_(lo, hi):
        for p, q, out_r, in_r, out_c, in_c in taps:
            dx[lo:hi, in_r, in_c, :] += slabs[p * g.f_w + q - first][lo:hi, out_r, out_c, :]

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


# ----------------------------------------------------------------- banded im2col + GEMM
#: Bytes of one band's column matrix in :func:`conv_by_bands`: a few MB, so that the copy
#: writes into cache and the GEMM reads from it.  Measured on a 2-core AMD EPYC (Zen 5),
#: VGG16's 224x224x64 -> 64 layer at batch 8: 107 ms in bands of 8 output rows (4 MB)
#: against 223 ms for the whole batch in chunks of 256 MB.
TILE_BYTES = 4 * 2**20


def conv_by_bands(x, w, g: Geometry, out, bias_row: bool, relu: bool = False):
    """out (m, n_H, n_W, N) = [im2col(x), 1] @ w (then ReLU), band by band of output rows.

    x (m, n_H_prev, n_W_prev, C); w (f_h f_w C [+ 1], N), whose last row is the bias when
    ``bias_row`` (each band's columns then end with a column of ones).  Each band of about
    TILE_BYTES of columns: its input rows, zero-padded into scratch; one copy into the
    band's column matrix; one GEMM into out's rows; the ReLU while they are in cache.  The
    bands are shared out between threads (BLAS single-threaded in each meanwhile), their
    scratch from each thread's workspace.
    """
    m = x.shape[0]
    width = w.shape[0]  # f_h f_w C [+ 1]
    row_bytes = g.n_W * width * x.dtype.itemsize
    # at least TILE_BYTES, and GEMMs of at least K rows (each call packs all of w)
    band = max(TILE_BYTES // row_bytes, -(-width // g.n_W), 1)
    band = min(band, m * g.n_H)
    plan = _BandPlan(x, w, g, out, bias_row, relu, band)
    work = m * g.n_H * g.n_W * width
    run_over_rows(plan.run, m * g.n_H, work, align=band, own_blas=True)
    return out


class _BandPlan:
    """One conv_by_bands call; units are output rows (image i's row r is unit i n_H + r)."""

    def __init__(self, x, w, g: Geometry, out, bias_row, relu, band):
        self.x, self.w, self.g, self.out = x, w, g, out
        self.bias_row, self.relu, self.band = bias_row, relu, band
        self.out2 = out.reshape(-1, out.shape[-1])  # (m n_H n_W, N)

    def input_rows(self, units: int) -> int:
        """Padded input rows that ``units`` output rows read."""
        return (units - 1) * self.g.s_h + self.g.f_h

    def run(self, lo: int, hi: int) -> None:
        g, c = self.g, self.x.shape[-1]
        units = min(self.band, hi - lo)
        padded_width = g.n_W_prev + g.pad[2] + g.pad[3]
        padded, cols = workspace(
            [(self.input_rows(units), padded_width, c), (units * g.n_W, self.w.shape[0])],
            self.x.dtype,
        )
        padded[...] = 0  # the padding around the rows copy_padded_rows writes
        if self.bias_row:
            cols[:, -1] = 1
        for start in range(lo, hi, self.band):
            self._band(start, min(hi, start + self.band), padded, cols)

    def _padded_rows(self, image: int, row: int, end: int, buffer):
        """The padded input rows that output rows row..end-1 of ``image`` read: a view of
        x without padding, else copied into ``buffer``."""
        g = self.g
        first = row * g.s_h
        last = first + self.input_rows(end - row)
        if not any(g.pad):
            return self.x[image, first:last]
        rows = buffer[: last - first]
        return copy_padded_rows(self.x[image], first, last, g.pad[0], g.pad[2], rows)

    def _band(self, start: int, stop: int, padded, cols) -> None:
        xp = backend.xp
        g = self.g
        k = g.f_h * g.f_w * self.x.shape[-1]
        unit, offset = start, 0
        while unit < stop:  # one piece per image the band touches
            image, row = divmod(unit, g.n_H)
            end = min(g.n_H, row + stop - unit)
            count = (end - row) * g.n_W
            source = self._padded_rows(image, row, end, padded)
            target = cols[offset : offset + count, :k].reshape(end - row, g.n_W, g.f_h, g.f_w, -1)
            _copy_windows(source, g, target)
            offset += count
            unit = image * g.n_H + end
        rows = slice(start * g.n_W, stop * g.n_W)
        z = self.out2[rows]
        xp.matmul(cols[:offset], self.w, out=z)
        if self.relu:
            xp.maximum(z, 0, out=z)


def _copy_windows(source, g: Geometry, target) -> None:
    """target (rows, n_W, f_h, f_w, C) = the windows of source (padded rows, W_pad, C): one
    strided copy, or with one channel one copy per tap (a strided copy whose innermost
    run is f_w numbers is slow)."""
    if source.shape[-1] == 1:
        rows, n_w = target.shape[:2]
        for p in range(g.f_h):
            for q in range(g.f_w):
                target[:, :, p, q] = source[
                    p : p + (rows - 1) * g.s_h + 1 : g.s_h, q : q + (n_w - 1) * g.s_w + 1 : g.s_w
                ]
        return
    s_h, s_w, s_c = source.strides
    shape = target.shape
    strides = (g.s_h * s_h, g.s_w * s_w, s_h, s_w, s_c)
    target[...] = backend.xp.lib.stride_tricks.as_strided(source, shape, strides)
