"""Image data augmentation as layers, active only in training (identity at inference).

Each example gets its own random transform, drawn from the model's generator; all
examples are transformed at once (no loop over examples):

    RandomFlip         a[i] = x[i] mirrored (left-right and/or up-down) with probability 1/2
    RandomTranslation  shift by (dy, dx) ~ U(-h, h) * n_H, U(-w, w) * n_W pixels
    RandomRotation     rotate by theta ~ U(-f, f) * 2 pi about the image centre

Translation and rotation resample with bilinear interpolation (``interpolation="bilinear"``,
the default) or take the nearest pixel (``"nearest"``: no blur, so shifted digits stay as
sharp as the test images).  What comes in from outside the image (``fill_mode``): zeros
("constant", the default), the image mirrored at its border ("reflect", Keras' default:
d c b a | a b c d | d c b a), or the border pixel repeated ("nearest").  A source
coordinate u (pixel centres at 0 .. n-1) is mapped into the image before sampling:

    reflect:  t = (u + 1/2) mod 2n;  u' = (t if t < n else 2n - t) - 1/2
    nearest:  u' = clip(u, 0, n - 1)

Photos want "reflect": a band of zeros along the border is something no test image has.
Augmentation changes the data, not the function being learned, so these layers belong
at the model input: their backward passes no gradient on (there is no parameter before
them to learn).  Input and output shape: (m, n_H, n_W, n_C).
"""

from __future__ import annotations

import math

from .. import backend, registry
from ..exceptions import ConfigError
from .base import Layer, check_image_shape


class Augmentation(Layer):
    """Base class: ``transform(x)`` in training, identity otherwise."""

    def build_params(self, input_shape, rng):
        check_image_shape(self, input_shape)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        return self.transform(a_prev) if training else a_prev

    def transform(self, x):
        raise NotImplementedError

    def backward(self, da, need_input_grad=True):
        if need_input_grad:
            raise ConfigError(
                f"{self.describe()}: augmentation layers must come first, at the model input"
            )
        return None


@registry.register("layer")
class RandomFlip(Augmentation):
    """Mirror each image with probability 1/2: ``mode`` "horizontal", "vertical" or both."""

    def __init__(self, mode: str = "horizontal", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ConfigError(
                f"RandomFlip: mode must be 'horizontal', 'vertical' or "
                f"'horizontal_and_vertical', got {mode!r}"
            )
        self.mode = mode

    def transform(self, x):
        xp = backend.xp
        m = x.shape[0]
        out = x
        for axis, name in ((2, "horizontal"), (1, "vertical")):
            if name in self.mode:
                flip = (self.rng.random(m) < 0.5).reshape(m, 1, 1, 1)
                out = xp.where(flip, xp.flip(out, axis=axis), out)
        return out

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


INTERPOLATIONS = ("bilinear", "nearest")
FILL_MODES = ("constant", "reflect", "nearest")


class _AffineAugmentation(Augmentation):
    """Resample every image through its own rotation + translation (``fill_mode`` outside)."""

    def __init__(self, interpolation: str = "bilinear", fill_mode: str = "constant", **kwargs):
        super().__init__(**kwargs)
        if interpolation not in INTERPOLATIONS:
            raise ConfigError(
                f"{type(self).__name__}: interpolation must be one of {INTERPOLATIONS}, "
                f"got {interpolation!r}"
            )
        if fill_mode not in FILL_MODES:
            raise ConfigError(
                f"{type(self).__name__}: fill_mode must be one of {FILL_MODES}, got {fill_mode!r}"
            )
        self.interpolation = interpolation
        self.fill_mode = fill_mode

    def angles_and_shifts(self, m):
        """(theta (m,), dy (m,), dx (m,)) in radians and pixels."""
        raise NotImplementedError

    def transform(self, x):
        xp = backend.xp
        m, h, w, _ = x.shape
        theta, dy, dx = self.angles_and_shifts(m)
        cos, sin = xp.cos(theta)[:, None, None], xp.sin(theta)[:, None, None]
        rows = xp.arange(h, dtype=x.dtype)[None, :, None] - (h - 1) / 2 - dy[:, None, None]
        cols = xp.arange(w, dtype=x.dtype)[None, None, :] - (w - 1) / 2 - dx[:, None, None]
        # source coordinates: rotate the output grid back by -theta about the centre
        src_r = cos * rows + sin * cols + (h - 1) / 2  # (m, h, w)
        src_c = -sin * rows + cos * cols + (w - 1) / 2
        if self.fill_mode != "constant":  # every source point inside the image
            src_r, src_c = _fold(src_r, h, self.fill_mode), _fold(src_c, w, self.fill_mode)
        if self.interpolation == "nearest":
            return _nearest(x, src_r, src_c)
        return _bilinear(x, src_r, src_c)

    def get_config(self):
        return {
            **super().get_config(),
            "interpolation": self.interpolation,
            "fill_mode": self.fill_mode,
        }


def _fold(u, n: int, mode: str):
    """Source coordinates u mapped into [0, n - 1] (module docstring): mirrored at the
    border ("reflect") or clipped ("nearest")."""
    xp = backend.xp
    if mode == "reflect":
        t = xp.mod(u + 0.5, 2 * n)
        u = xp.where(t < n, t, 2 * n - t) - 0.5
    return xp.clip(u, 0, n - 1)


@registry.register("layer")
class RandomTranslation(_AffineAugmentation):
    """Shift by up to ``height_factor`` of the height and ``width_factor`` of the width."""

    def __init__(self, height_factor: float = 0.1, width_factor: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("height_factor", height_factor), ("width_factor", width_factor)):
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"RandomTranslation: {name} must be in [0, 1), got {value}")
        self.height_factor, self.width_factor = float(height_factor), float(width_factor)

    def angles_and_shifts(self, m):
        h, w = self.input_shape[0], self.input_shape[1]
        dy = (self.rng.random(m, dtype=self.dtype) * 2 - 1) * self.height_factor * h
        dx = (self.rng.random(m, dtype=self.dtype) * 2 - 1) * self.width_factor * w
        return backend.xp.zeros(m, dtype=self.dtype), dy, dx

    def get_config(self):
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
        }


@registry.register("layer")
class RandomRotation(_AffineAugmentation):
    """Rotate by an angle ~ U(-factor, factor) * 2 pi (factor 0.05 is +-18 degrees)."""

    def __init__(self, factor: float = 0.05, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= factor <= 0.5:
            raise ConfigError(f"RandomRotation: factor must be in [0, 0.5], got {factor}")
        self.factor = float(factor)

    def angles_and_shifts(self, m):
        xp = backend.xp
        theta = (self.rng.random(m, dtype=self.dtype) * 2 - 1) * self.factor * 2 * math.pi
        zeros = xp.zeros(m, dtype=self.dtype)
        return theta, zeros, zeros

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _bilinear(x, src_r, src_c):
    """Sample x (m, h, w, c) at fractional (src_r, src_c) (m, h, w); zeros outside."""
    xp = backend.xp
    m, h, w, _ = x.shape
    r0, c0 = xp.floor(src_r), xp.floor(src_c)
    fr, fc = (src_r - r0)[..., None], (src_c - c0)[..., None]
    r0, c0 = r0.astype(xp.int64), c0.astype(xp.int64)
    batch = xp.arange(m)[:, None, None]
    out = xp.zeros_like(x)
    for dr, dc, weight in (
        (0, 0, (1 - fr) * (1 - fc)),
        (0, 1, (1 - fr) * fc),
        (1, 0, fr * (1 - fc)),
        (1, 1, fr * fc),
    ):
        r, c = r0 + dr, c0 + dc
        inside = ((r >= 0) & (r < h) & (c >= 0) & (c < w))[..., None]
        sample = x[batch, xp.clip(r, 0, h - 1), xp.clip(c, 0, w - 1)]  # (m, h, w, c)
        out += xp.where(inside, sample, 0) * weight
    return out


def _nearest(x, src_r, src_c):
    """Sample x (m, h, w, c) at the pixel nearest to (src_r, src_c) (m, h, w); zeros outside."""
    xp = backend.xp
    m, h, w, _ = x.shape
    r = xp.rint(src_r).astype(xp.int64)
    c = xp.rint(src_c).astype(xp.int64)
    inside = ((r >= 0) & (r < h) & (c >= 0) & (c < w))[..., None]
    sample = x[xp.arange(m)[:, None, None], xp.clip(r, 0, h - 1), xp.clip(c, 0, w - 1)]
    return xp.where(inside, sample, xp.zeros((), dtype=x.dtype))
