"""Max-pooling kernels: the forward pass with the winning tap of every window, and the
backward pass that routes each output gradient to its winner (see ``nnlab.layers.pooling``
for the equations).  Each is a loop over the window's taps, split over the batch across
threads.
"""

from __future__ import annotations

from .. import backend
from .parallel import run_over_batch
from .windows import Geometry


def max_pool(x, g: Geometry, out, argmax=None):
    """out = the max over each window of x; argmax (if given) = the number of the tap
    that holds it (the first one on ties).  Split over the batch across threads."""

    def pass_(lo, hi):
        _max_pool_chunk(x[lo:hi], g, out[lo:hi], None if argmax is None else argmax[lo:hi])

    run_over_batch(pass_, x.shape[0], x.size)


def _max_pool_chunk(x, g: Geometry, out, argmax=None):
    """max_pool on one chunk of the batch."""
    xp = backend.xp
    taps = g.taps
    if g.full and len(taps) > 1:  # taps 0 and 1 see every window: start from them
        x0 = x[:, taps[0][3], taps[0][5], :]
        x1 = x[:, taps[1][3], taps[1][5], :]
        if argmax is not None:
            xp.greater(x1, x0, out=argmax, casting="unsafe")  # tap 1 wins only if larger
        xp.maximum(x0, x1, out=out)
        rest = enumerate(taps[2:], start=2)
    else:
        if argmax is not None:
            argmax[...] = 0
        if g.full:  # a 1x1 window
            out[...] = x[:, taps[0][3], taps[0][5], :]
            rest = ()
        else:  # padding: windows at the border see fewer taps
            out[...] = -xp.inf
            rest = enumerate(taps)
    for k, (_, _, out_r, in_r, out_c, in_c) in rest:
        x_tap = x[:, in_r, in_c, :]
        best = out[:, out_r, out_c]
        if argmax is None:
            xp.maximum(best, x_tap, out=best)
            continue
        better = xp.greater(x_tap, best)  # strict: on ties the earlier tap keeps it
        xp.maximum(best, x_tap, out=best)
        # argmax = the last tap that improved = max over k of k * better_k (branch-free;
        # copyto(where=better) is ~10x slower on realistic, unpredictable masks)
        won = argmax[:, out_r, out_c]
        index_type = argmax.dtype.type
        xp.maximum(won, xp.multiply(better, index_type(k), dtype=index_type), out=won)


def max_pool_backward(da, argmax, g: Geometry, dx, disjoint: bool):
    """Route each window's gradient to its argmax tap (dx zeroed unless windows tile it).
    Split over the batch across threads."""

    def pass_(lo, hi):
        _max_pool_backward_chunk(da[lo:hi], argmax[lo:hi], g, dx[lo:hi], disjoint)

    run_over_batch(pass_, dx.shape[0], dx.size)


def _max_pool_backward_chunk(da, argmax, g: Geometry, dx, disjoint: bool):
    """_max_pool_backward on one chunk of the batch."""
    xp = backend.xp
    index_type = argmax.dtype.type
    for k, (_, _, out_r, in_r, out_c, in_c) in enumerate(g.taps):
        won = argmax[:, out_r, out_c] == index_type(k)
        if disjoint:
            xp.multiply(da[:, out_r, out_c], won, out=dx[:, in_r, in_c])
        else:
            dx[:, in_r, in_c] += da[:, out_r, out_c] * won
