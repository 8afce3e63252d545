"""Weight initializers: zeros, small random, large random, Xavier/Glorot, He.

An initializer is called as ``init(shape, rng, dtype)`` and returns a new array.
For a Dense kernel ``shape = (n_in, n_out)`` (nnlab stores W transposed relative to the
course's (n[l], n[l-1])); for a convolution kernel ``shape = (f, f, n_C_prev, n_C)``.
fan_in = n_in * receptive field, fan_out = n_out * receptive field.

=================== ===================================== ===========================
name                W ~                                   use
=================== ===================================== ===========================
zeros               0                                     biases (breaks symmetry never)
small_random        0.01 N(0, 1)                          the course's first nets
random_normal       scale N(0, 1)  (scale=10: "large")    the course's initialization lab
xavier              N(0, 1) sqrt(1 / fan_in)              tanh (the course's Xavier)
glorot_uniform      U(-l, l), l = sqrt(6/(fan_in+fan_out)) Keras' default
random_uniform      U(minval, maxval), (-0.05, 0.05)      Keras' RandomUniform
constant            value                                 tests (Keras' Constant)
glorot_normal       N(0, 1) sqrt(2 / (fan_in + fan_out))  tanh
he                  N(0, 1) sqrt(2 / fan_in)              ReLU (He et al. 2015)
orthogonal          Q of the QR of an N(0, 1) matrix      recurrent kernels (Keras' default)
=================== ===================================== ===========================
"""

from __future__ import annotations

import math

from .. import backend
from ..exceptions import ConfigError
from ..registry import register


def fans(shape) -> tuple[int, int]:
    """Return (fan_in, fan_out) of a kernel shape (..., n_in, n_out)."""
    if len(shape) < 2:
        return int(shape[0]), int(shape[0])
    receptive = math.prod(shape[:-2])
    return receptive * int(shape[-2]), receptive * int(shape[-1])


class Initializer:
    """Base class: ``__call__(shape, rng, dtype) -> array``."""

    name = "initializer"

    def __call__(self, shape, rng, dtype=None):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name}


@register("initializer")
class Zeros(Initializer):
    name = "zeros"

    def __call__(self, shape, rng, dtype=None):
        return backend.xp.zeros(shape, dtype=dtype or backend.floatx())


@register("initializer")
class Ones(Initializer):
    name = "ones"

    def __call__(self, shape, rng, dtype=None):
        return backend.xp.ones(shape, dtype=dtype or backend.floatx())


@register("initializer", aliases={"large_random": {"scale": 10.0}})
class RandomNormal(Initializer):
    """W = scale * N(0, 1).  ``scale=0.01`` is the course's "small random", 10 its "large"."""

    name = "random_normal"

    def __init__(self, scale: float = 0.05):
        self.scale = float(scale)

    def __call__(self, shape, rng, dtype=None):
        return _normal(shape, rng, dtype) * self.scale

    def get_config(self) -> dict:
        return {"name": self.name, "scale": self.scale}


@register("initializer")
class RandomUniform(Initializer):
    """W = U(minval, maxval) (Keras' ``RandomUniform``: -0.05 to 0.05 by default; the
    course's ResNet identity block starts from it)."""

    name = "random_uniform"

    def __init__(self, minval: float = -0.05, maxval: float = 0.05):
        self.minval, self.maxval = float(minval), float(maxval)
        if not self.minval < self.maxval:
            raise ConfigError(f"RandomUniform: minval must be < maxval, got {minval}, {maxval}")

    def __call__(self, shape, rng, dtype=None):
        u = rng.random(shape, dtype=dtype or backend.floatx())
        return u * (self.maxval - self.minval) + self.minval

    def get_config(self) -> dict:
        return {"name": self.name, "minval": self.minval, "maxval": self.maxval}


@register("initializer")
class Constant(Initializer):
    """W = value everywhere (Keras' ``Constant``; the course's ResNet tests use 1)."""

    name = "constant"

    def __init__(self, value: float = 0.0):
        self.value = float(value)

    def __call__(self, shape, rng, dtype=None):
        return backend.xp.full(shape, self.value, dtype=dtype or backend.floatx())

    def get_config(self) -> dict:
        return {"name": self.name, "value": self.value}


@register("initializer")
class SmallRandom(RandomNormal):
    """W = 0.01 N(0, 1), the course's first initialization."""

    name = "small_random"

    def __init__(self):
        super().__init__(0.01)

    def get_config(self) -> dict:
        return {"name": self.name}


class VarianceScaling(Initializer):
    """W = N(0, 1) * sqrt(gain / fan), fan chosen by ``mode``."""

    name = "variance_scaling"
    gain = 1.0
    mode = "fan_in"

    def __call__(self, shape, rng, dtype=None):
        fan_in, fan_out = fans(shape)
        fan = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        return _normal(shape, rng, dtype) * math.sqrt(self.gain / fan)


@register("initializer")
class Xavier(VarianceScaling):
    """W = N(0, 1) sqrt(1 / fan_in), the course's Xavier initialization."""

    name = "xavier"


@register("initializer")
class GlorotNormal(VarianceScaling):
    """W = N(0, 1) sqrt(2 / (fan_in + fan_out))."""

    name = "glorot_normal"
    mode = "fan_avg"


@register("initializer", aliases=("he_normal",))
class He(VarianceScaling):
    """W = N(0, 1) sqrt(2 / fan_in) (He et al. 2015), for ReLU layers."""

    name = "he"
    gain = 2.0


@register("initializer", aliases=("glorot",))
class GlorotUniform(Initializer):
    """W = U(-l, l) with l = sqrt(6 / (fan_in + fan_out)) (Keras' default)."""

    name = "glorot_uniform"

    def __call__(self, shape, rng, dtype=None):
        fan_in, fan_out = fans(shape)
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        u = rng.random(shape, dtype=dtype or backend.floatx())
        return (u * 2.0 - 1.0) * limit


@register("initializer")
class Orthogonal(Initializer):
    """W with orthonormal rows or columns (Saxe et al. 2014), Keras' recurrent default.

    For a (rows, cols) kernel (leading axes folded into the rows): the Q of the QR
    factorization of an N(0, 1) matrix of shape (max, min), with the signs of R's diagonal
    folded in so that Q is uniformly distributed, transposed when rows < cols.  Repeated
    products with an orthogonal matrix neither grow nor shrink a vector: gradients through
    time neither explode nor vanish at first.
    """

    name = "orthogonal"

    def __call__(self, shape, rng, dtype=None):
        import numpy as np

        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return backend.xp.ascontiguousarray(q.reshape(shape), dtype=dtype or backend.floatx())


def _normal(shape, rng, dtype):
    return rng.standard_normal(shape, dtype=dtype or backend.floatx())
