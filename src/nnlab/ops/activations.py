"""Activation functions g(z) and their backward passes dz = da * g'(z).

Each activation is a small object with ``forward(z) -> a`` and ``backward(da, z, a) -> dz``.
Backward receives both z and a so each function uses whichever is cheaper
(sigmoid and tanh from a, ReLU from a > 0).  Shapes are unchanged: any (m, ...) array.

=========== ============================== =====================================
name        g(z)                           g'(z)
=========== ============================== =====================================
linear      z                              1
sigmoid     1 / (1 + exp(-z))              a (1 - a)
tanh        tanh(z)                        1 - a^2
relu        max(0, z)                      1[z > 0]
leaky_relu  max(alpha z, z)                1 if z > 0 else alpha
softmax     exp(z_i) / sum_j exp(z_j)      da -> a * (da - sum(da * a)) (Jacobian-vector)
gelu        z Phi(z)                       Phi(z) + z phi(z)
gelu (tanh) z/2 (1 + tanh(u)),             1/2 (1 + t) + z/2 (1 - t^2) u',
            u = c (z + 0.044715 z^3)       t = tanh(u), c = sqrt(2 / pi)
=========== ============================== =====================================

Phi and phi are the standard normal distribution and density: Phi(z) = (1 + erf(z /
sqrt 2)) / 2 (scipy.special.erf), phi(z) = exp(-z^2 / 2) / sqrt(2 pi).
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..exceptions import ConfigError
from ..registry import register
from .parallel import run_over_batch, run_over_rows


class Activation:
    """Base class: ``forward(z) -> a``, ``backward(da, z, a) -> dz``."""

    name = "activation"
    #: forward may overwrite z in place (the layer keeps no other use of z)
    in_place = False

    def forward(self, z):
        raise NotImplementedError

    def backward(self, da, z, a):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@register("activation")
class Linear(Activation):
    """g(z) = z."""

    name = "linear"

    def forward(self, z):
        return z

    def backward(self, da, z, a):
        return da


@register("activation")
class Sigmoid(Activation):
    """g(z) = 1 / (1 + exp(-z)); g'(z) = a (1 - a).  Finite for any z (exp overflow gives 0)."""

    name = "sigmoid"

    def forward(self, z):
        xp = backend.xp
        with _ignore_overflow():
            return 1.0 / (1.0 + xp.exp(-z))

    def backward(self, da, z, a):
        return da * a * (1.0 - a)


@register("activation")
class Tanh(Activation):
    """g(z) = tanh(z); g'(z) = 1 - a^2."""

    name = "tanh"

    def forward(self, z):
        return backend.xp.tanh(z)

    def backward(self, da, z, a):
        return da * (1.0 - a * a)


@register("activation")
class ReLU(Activation):
    """g(z) = max(0, z), computed in place; g'(z) = 1 where a > 0 (0 at z = 0, as PyTorch).

    The max is taken against a zero array the size of one example, broadcast over the
    batch: NumPy's ``maximum`` runs its vector loop on two contiguous operands but not on
    an array and a scalar, and measured 3.5x faster that way (0.15 against 0.51 ms for a
    (64, 26, 26, 32) float32 batch).
    """

    name = "relu"
    in_place = True

    def __init__(self):
        self._zeros = None

    def forward(self, z):
        xp = backend.xp
        if z.ndim == 0:
            return xp.maximum(z, 0)
        zeros = self._zeros
        if zeros is None or zeros.shape[1:] != z.shape[1:] or zeros.dtype != z.dtype:
            zeros = self._zeros = xp.zeros((1, *z.shape[1:]), dtype=z.dtype)

        def pass_(lo, hi):  # in place, the batch split across threads
            xp.maximum(z[lo:hi], zeros, out=z[lo:hi])

        run_over_batch(pass_, z.shape[0], z.size)
        return z

    def backward(self, da, z, a):
        return da * (a > 0)


@register("activation")
class LeakyReLU(Activation):
    """g(z) = z if z > 0 else alpha z; g'(z) = 1 or alpha."""

    name = "leaky_relu"

    def __init__(self, alpha: float = 0.01):
        if not isinstance(alpha, int | float) or not 0 <= alpha < 1:
            raise ConfigError(f"LeakyReLU: alpha must be a number in [0, 1), got {alpha!r}")
        self.alpha = float(alpha)

    def forward(self, z):
        return backend.xp.where(z > 0, z, z * self.alpha)

    def backward(self, da, z, a):
        return backend.xp.where(z > 0, da, da * self.alpha)

    def get_config(self) -> dict:
        return {"name": self.name, "alpha": self.alpha}

    def __repr__(self) -> str:
        return f"LeakyReLU(alpha={self.alpha})"


@register("activation")
class Gelu(Activation):
    """GELU (Hendrycks and Gimpel 2016): g(z) = z Phi(z), BERT's and GPT's activation.

    ``approximate=True``: the tanh form, z/2 (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))
    (PyTorch's ``GELU(approximate="tanh")``, Keras' ``gelu(approximate=True)``).
    """

    name = "gelu"

    def __init__(self, approximate: bool = False):
        if not isinstance(approximate, bool):
            raise ConfigError(f"Gelu: approximate must be True or False, got {approximate!r}")
        self.approximate = approximate

    def forward(self, z):
        xp = backend.xp
        if self.approximate:
            return 0.5 * z * (1.0 + xp.tanh(_tanh_argument(z)))
        cdf = _normal_cdf(z)  # a new array: the product goes into it
        cdf *= z
        return cdf

    def backward(self, da, z, a):
        xp = backend.xp
        if self.approximate:
            t = xp.tanh(_tanh_argument(z))
            du = _SQRT_2_OVER_PI * (1.0 + 3 * _GELU_CUBIC * z * z)
            return da * (0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * du)
        density = xp.exp(-0.5 * z * z) * _INV_SQRT_2PI
        return da * (_normal_cdf(z) + z * density)

    def get_config(self) -> dict:
        return {"name": self.name, "approximate": self.approximate}

    def __repr__(self) -> str:
        return f"Gelu(approximate={self.approximate})"


_SQRT_2_OVER_PI = 0.7978845608028654
_INV_SQRT_2PI = 0.3989422804014327
_GELU_CUBIC = 0.044715


def _tanh_argument(z):
    return _SQRT_2_OVER_PI * (z + _GELU_CUBIC * z * z * z)


def _normal_cdf(z):
    """Phi(z) = (1 + erf(z / sqrt 2)) / 2, in z's dtype.  float32 on NumPy: erf from a
    rational function (``_erf_float32``), in cache-sized chunks over the threads; float64
    (gradient checks) and CuPy: the library's erf."""
    xp = backend.xp
    if xp is np and z.dtype == np.float32:
        flat = z.reshape(-1)
        out = np.empty_like(flat)

        def pass_(lo, hi):
            for start in range(lo, hi, _ERF_CHUNK):
                stop = min(start + _ERF_CHUNK, hi)
                u = flat[start:stop] * np.float32(0.7071067811865476)
                _erf_float32(u, out=out[start:stop])

        run_over_rows(pass_, flat.size, flat.size, align=_ERF_CHUNK)
        out += 1.0
        out *= 0.5
        return out.reshape(z.shape)
    if xp is not np:  # CuPy has its own erf
        from cupyx.scipy.special import erf
    else:
        from scipy.special import erf
    return (0.5 * (1.0 + erf(z * 0.7071067811865476))).astype(z.dtype, copy=False)


_SOFTMAX_BLOCK = 131072  # elements of a softmax block (512 KB of float32)
_ERF_CHUNK = 131072  # elements: ~30 NumPy calls a chunk; smaller chunks spend the time in
# the calls and the GIL (16,384: GELU of 4096 x 1536 in 22 ms on 2 EPYC threads, 131,072: 10)
# erf(x) = x p(x^2) / q(x^2) on [-4, 4] (+-1 beyond, in float32), the rational
# approximation of Eigen's and XLA's float erf; |error| < 7e-8 in exact arithmetic, 4.5e-7
# in float32 against scipy.special.erf (tests/layers/test_attention.py)
_ERF_P = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
          -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
          -1.60960333262415e-02)  # fmt: skip
_ERF_Q = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
          -7.37332916720468e-03, -1.42647390514189e-02)  # fmt: skip


def _erf_float32(x, out):
    """erf of a float32 chunk into ``out`` (module constants: x p(x^2) / q(x^2))."""
    np.clip(x, -4.0, 4.0, out=x)
    x2 = x * x
    p = np.full_like(x, _ERF_P[0])
    for a in _ERF_P[1:]:
        p *= x2
        p += a
    p *= x
    q = np.full_like(x, _ERF_Q[0])
    for b in _ERF_Q[1:]:
        q *= x2
        q += b
    np.divide(p, q, out=out)


@register("activation")
class Softmax(Activation):
    """a_i = exp(z_i - max z) / sum_j exp(z_j - max z) over the last axis.

    Backward is the Jacobian-vector product dz = a * (da - sum_j da_j a_j).  When softmax
    feeds categorical cross-entropy the model fuses both and uses dz = (a - y) / m instead.
    """

    name = "softmax"

    def forward(self, z):
        xp = backend.xp
        rows = z.reshape(-1, z.shape[-1])  # (every position, K)
        out = xp.empty(rows.shape, dtype=z.dtype)

        block = max(1, _SOFTMAX_BLOCK // rows.shape[1])  # rows whose passes stay in cache

        def pass_(lo, hi):  # row by row, so the rows split across threads
            for start in range(lo, hi, block):
                stop = min(start + block, hi)
                e, z = out[start:stop], rows[start:stop]
                xp.subtract(z, row_max(z), out=e)
                xp.exp(e, out=e)
                e /= e.sum(axis=-1, keepdims=True)

        run_over_rows(pass_, rows.shape[0], rows.size)
        return out.reshape(z.shape)

    def backward(self, da, z, a):
        return a * (da - (da * a).sum(axis=-1, keepdims=True))


def row_max(z):
    """max over the last axis, kept as an axis of 1: (..., K) -> (..., 1).

    On NumPy through ``fmax.reduce``: ``ndarray.max`` propagates NaN and runs unvectorized
    on short rows (11 ms against 2.3 ms for 49,152 rows of 128 on one EPYC core).  The two
    differ only on a row holding NaN (fmax skips it), where a softmax is NaN either way.
    """
    xp = backend.xp
    if xp is np:
        return np.fmax.reduce(z, axis=-1, keepdims=True)
    return z.max(axis=-1, keepdims=True)


class _ignore_overflow:
    """Silence NumPy's overflow warning where inf is the intended intermediate."""

    def __enter__(self):
        xp = backend.xp
        self._state = xp.seterr(over="ignore") if hasattr(xp, "seterr") else None

    def __exit__(self, *exc):
        if self._state is not None:
            backend.xp.seterr(**self._state)
