"""Upsampling kernels on channels-last batches (m, n_H, n_W, n_C) by integer factors
(s_h, s_w): nearest-neighbour and bilinear, forward and backward (stateless).

Nearest:  Y[i, h, w] = X[i, floor(h / s_h), floor(w / s_w)]
          forward: one broadcast copy into the view Y.reshape(m, n_H, s_h, n_W, s_w, n_C);
          backward: dX = the sum of dY over the (s_h, s_w) block of each input pixel.

Bilinear with half-pixel centres (TensorFlow's and Keras 3's ``resize``, PyTorch's
``align_corners=False``), separable: along H, then along W.  Along one axis of n inputs
upsampled by s, output o reads the input position t = (o + 1/2) / s - 1/2, clamped to
[0, n - 1], and mixes its two neighbours linearly.  Output o = r s + j (phase j = 0 .. s-1)
lies d_j = (2 j + 1 - s) / (2 s) from input r, |d_j| < 1/2, the same for every r, so with
the differences D[r] = X[r + 1] - X[r] (n - 1 of them):

    d_j > 0:  Y[r s + j] = X[r] + d_j D[r]        r < n - 1;   Y[(n - 1) s + j] = X[n - 1]
    d_j < 0:  Y[r s + j] = X[r] + d_j D[r - 1]    r > 0;       Y[j] = X[0]
    d_j = 0:  Y[r s + j] = X[r]                   (odd s, the middle phase)

Phases j and s - 1 - j have opposite d (a pair).  The transpose (backward), with
dY_j = dY[j::s] along the axis:

    dX = sum_j dY_j + D^T(dD),   dD = sum over pairs of |d_j| (dY_j+[:-1] - dY_j-[1:])
    D^T(dD): dX[1:] += dD, dX[:-1] -= dD

So each axis costs a few whole-array passes (no gather, no scatter, no np.add.at, and
nothing that grows with n as a dense (n s, n) interpolation matrix would).  Each pass is
split over the batch across threads (``ops.parallel``); scratch comes from the thread's
workspace.
"""

from __future__ import annotations

from .. import backend
from .parallel import run_over_batch
from .workspace import workspace


def phase_pairs(s: int) -> list[tuple[int, int, float]]:
    """(j_minus, j_plus, |d|) for each pair of phases with d_j < 0 < d_(s-1-j)."""
    return [(j, s - 1 - j, (s - 1 - 2 * j) / (2 * s)) for j in range(s // 2)]


# -------------------------------------------------------------------------- nearest
def upsample_nearest(x, size, out):
    """out (m, n_H s_h, n_W s_w, C) = x (m, n_H, n_W, C) with every pixel repeated into an
    s_h x s_w block; returns out."""
    (s_h, s_w), (m, n_h, n_w, c) = size, x.shape
    out6 = out.reshape(m, n_h, s_h, n_w, s_w, c)

    def pass_(lo, hi):
        out6[lo:hi] = x[lo:hi, :, None, :, None, :]

    run_over_batch(pass_, m, out.size)
    return out


def upsample_nearest_backward(dy, size, dx):
    """dx (m, n_H, n_W, C) = the sum of dy (m, n_H s_h, n_W s_w, C) over each block."""
    xp = backend.xp
    (s_h, s_w), (m, n_h, n_w, c) = size, dx.shape
    dy6 = dy.reshape(m, n_h, s_h, n_w, s_w, c)

    def pass_(lo, hi):
        xp.sum(dy6[lo:hi], axis=(2, 4), out=dx[lo:hi])

    run_over_batch(pass_, m, dy.size)
    return dx


# ------------------------------------------------------------------------- bilinear
def _lerp_axis(x, s: int, out, diff):
    """Bilinear upsampling along axis 1: x (A, n, B) -> out (A, n, s, B) (out[:, r, j] is
    output row r s + j); diff: scratch (A, n - 1, B)."""
    xp = backend.xp
    pairs = phase_pairs(s)
    if pairs:
        xp.subtract(x[:, 1:], x[:, :-1], out=diff)  # D
    if s % 2:
        out[:, :, s // 2] = x  # the middle phase of an odd s: d = 0
    for j_minus, j_plus, weight in pairs:
        if len(pairs) == 1:
            scaled = diff
            scaled *= weight
        else:  # D is needed by the next pair: |d| D into the phase itself
            scaled = out[:, :-1, j_plus]
            xp.multiply(diff, weight, out=scaled)
        # d > 0: Y_j+[r] = X[r] + |d| D[r], the last row X[n - 1]
        # d < 0: Y_j-[r] = X[r] - |d| D[r - 1], the first row X[0]
        xp.subtract(x[:, 1:], scaled, out=out[:, 1:, j_minus])
        xp.add(x[:, :-1], scaled, out=out[:, :-1, j_plus])
        out[:, -1, j_plus] = x[:, -1]
        out[:, 0, j_minus] = x[:, 0]
    return out


def _lerp_axis_backward(dy, s: int, dx, ddiff):
    """The transpose of :func:`_lerp_axis`: dy (A, n, s, B) -> dx (A, n, B); ddiff:
    scratch (A, n - 1, B)."""
    xp = backend.xp
    if s == 1:
        dx[...] = dy[:, :, 0]
        return dx
    xp.add(dy[:, :, 0], dy[:, :, 1], out=dx)  # sum_j dY_j
    for j in range(2, s):
        dx += dy[:, :, j]
    if dx.shape[1] == 1:
        return dx  # one input row: every output is X[0]
    for k, (j_minus, j_plus, weight) in enumerate(phase_pairs(s)):
        if k == 0:  # dD = sum over pairs of |d| (dY_j+[:-1] - dY_j-[1:])
            xp.subtract(dy[:, :-1, j_plus], dy[:, 1:, j_minus], out=ddiff)
            ddiff *= weight
        else:
            ddiff += weight * (dy[:, :-1, j_plus] - dy[:, 1:, j_minus])
    dx[:, 1:] += ddiff  # D^T(dD)
    dx[:, :-1] -= ddiff
    return dx


def upsample_bilinear(x, size, out):
    """out (m, n_H s_h, n_W s_w, C) = x (m, n_H, n_W, C) resized bilinearly (half-pixel
    centres): along H into scratch, then along W into out; returns out."""
    (s_h, s_w), (m, n_h, n_w, c) = size, x.shape

    def pass_(lo, hi):
        k = hi - lo
        tall, diff_h, diff_w = workspace(
            [
                (k, n_h, s_h, n_w * c),
                (k, max(n_h - 1, 0), n_w * c),
                (k * n_h * s_h, max(n_w - 1, 0), c),
            ],
            out.dtype,
            name="resampling",
        )
        _lerp_axis(x[lo:hi].reshape(k, n_h, n_w * c), s_h, tall, diff_h)
        _lerp_axis(
            tall.reshape(k * n_h * s_h, n_w, c),
            s_w,
            out[lo:hi].reshape(k * n_h * s_h, n_w, s_w, c),
            diff_w,
        )

    run_over_batch(pass_, m, out.size)
    return out


def upsample_bilinear_backward(dy, size, dx):
    """dx (m, n_H, n_W, C) = the transpose of :func:`upsample_bilinear` applied to dy:
    along W into scratch, then along H into dx; returns dx."""
    (s_h, s_w), (m, n_h, n_w, c) = size, dx.shape

    def pass_(lo, hi):
        k = hi - lo
        tall, diff_w, diff_h = workspace(
            [
                (k * n_h * s_h, n_w, c),
                (k * n_h * s_h, max(n_w - 1, 0), c),
                (k, max(n_h - 1, 0), n_w * c),
            ],
            dx.dtype,
            name="resampling",
        )
        _lerp_axis_backward(dy[lo:hi].reshape(k * n_h * s_h, n_w, s_w, c), s_w, tall, diff_w)
        _lerp_axis_backward(
            tall.reshape(k, n_h, s_h, n_w * c), s_h, dx[lo:hi].reshape(k, n_h, n_w * c), diff_h
        )

    run_over_batch(pass_, m, dy.size)
    return dx
