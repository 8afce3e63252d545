"""Resampling layers: UpSampling2D (nearest or bilinear, by integer factors), the
decoder's upsampling in U-Net and FCN-style segmentation networks.  No parameters.

The equations, and how forward and backward are computed, are in ``nnlab.ops.resampling``.
"""

from __future__ import annotations

from .. import backend, registry
from ..exceptions import ConfigError
from ..ops.resampling import (
    upsample_bilinear,
    upsample_bilinear_backward,
    upsample_nearest,
    upsample_nearest_backward,
)
from ..ops.windows import as_pair
from .base import Layer, check_image_shape

INTERPOLATIONS = {
    "nearest": (upsample_nearest, upsample_nearest_backward),
    "bilinear": (upsample_bilinear, upsample_bilinear_backward),
}


@registry.register("layer")
class UpSampling2D(Layer):
    """Upsample images by integer factors (s_h, s_w), as Keras' UpSampling2D.

        "nearest":   A[i, h, w, c] = A_prev[i, floor(h / s_h), floor(w / s_w), c]
        "bilinear":  linear along H, then along W, between the two input pixels nearest to
                     the output's centre mapped back to the input, ((h + 1/2) / s_h - 1/2,
                     (w + 1/2) / s_w - 1/2), clamped to the image (half-pixel centres:
                     Keras 3, ``tf.image.resize``, PyTorch's ``align_corners=False``)

    Backward is the transpose of each: nearest sums dA over each input pixel's s_h x s_w
    block; bilinear sends each output's gradient back to its two (along each axis)
    neighbours with the same weights.

    Args:
        size: (s_h, s_w), or an int for both.
        interpolation: "nearest" (default) or "bilinear".

    Input shape: (m, n_H, n_W, n_C).  Output shape: (m, n_H s_h, n_W s_w, n_C).
    """

    def __init__(self, size=(2, 2), interpolation: str = "nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = as_pair(size, "size", "UpSampling2D")
        key = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if key not in INTERPOLATIONS:
            raise ConfigError(
                f"UpSampling2D: interpolation must be 'nearest' or 'bilinear', "
                f"got {interpolation!r}"
            )
        self.interpolation = key

    def compute_output_shape(self, input_shape):
        check_image_shape(self, input_shape)
        n_h, n_w, c = input_shape
        return (n_h * self.size[0], n_w * self.size[1], c)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        a_prev = backend.xp.ascontiguousarray(a_prev)
        out = self.output_array((a_prev.shape[0], *self.output_shape), a_prev.dtype)
        self.cache.shape = a_prev.shape
        return INTERPOLATIONS[self.interpolation][0](a_prev, self.size, out)

    def backward(self, da, need_input_grad=True):
        if not need_input_grad:
            return None
        xp = backend.xp
        dx = xp.empty(self.cache.shape, dtype=da.dtype)
        return INTERPOLATIONS[self.interpolation][1](xp.ascontiguousarray(da), self.size, dx)

    def get_config(self):
        config = super().get_config()
        config.update(size=list(self.size), interpolation=self.interpolation)
        return config
