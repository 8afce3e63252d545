"""Course-compatible mode: replay the course's ``np.random.seed`` order exactly.

The course's NumPy assignments draw every random number from NumPy's legacy global
generator, with column-major weights W[l] of shape (n[l], n[l-1]).  nnlab stores Dense
kernels as (n_in, n_out), so :class:`LegacyGlobalRNG` draws 2-D kernels in the course's
(n_out, n_in) layout and transposes them; other shapes are drawn as they are.  Passed to
``model.build(input_shape, rng=LegacyGlobalRNG(seed))`` it makes nnlab's layers start
from the course's exact weights; :func:`epoch_seeded_shuffle` reproduces the
optimization lab's mini-batches (a seed counter increased at the start of every epoch).

This module is the one place nnlab touches NumPy's global random state, on purpose.
"""

from __future__ import annotations

import numpy as np

from .. import backend


class LegacyGlobalRNG:
    """A generator facade over ``np.random``'s legacy global state, seeded once."""

    def __init__(self, seed: int):
        np.random.seed(seed)

    def standard_normal(self, shape, dtype=None):
        shape = tuple(shape)
        if len(shape) == 2:  # course layout (n_out, n_in), stored transposed
            values = np.random.randn(shape[1], shape[0]).T
        else:
            values = np.random.randn(*shape)
        return backend.xp.asarray(values, dtype=dtype or backend.floatx())

    def random(self, shape, dtype=None):
        return backend.xp.asarray(np.random.rand(*shape), dtype=dtype or backend.floatx())

    def permutation(self, m: int):
        return np.random.permutation(m)


def epoch_seeded_shuffle(start: int = 10):
    """``shuffle=`` for fit: epoch e uses ``np.random.seed(start + 1 + e); permutation(m)``.

    The course's optimization lab increases a seed counter (starting at 10) at the
    start of every epoch and reseeds the global generator with it before shuffling.
    """

    def order(epoch: int, m: int):
        np.random.seed(start + 1 + epoch)
        return np.random.permutation(m)

    return order
