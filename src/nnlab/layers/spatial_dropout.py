"""Spatial dropout: inverted dropout of whole feature maps (Tompson et al. 2015).

Neighbouring pixels of a feature map are strongly correlated, so dropping single
activations of a convolution's output barely regularizes it; SpatialDropout2D drops whole
channels instead, one draw per (example, channel):

    training:   D = (U < keep_prob) / keep_prob,  U ~ Uniform(0, 1) of shape (m, 1, 1, n_C)
                a = a_prev * D                    (broadcast over n_H, n_W)
    inference:  a = a_prev
    backward:   da_prev = da * D

keep_prob = 1 - rate.  Input and output shape: (m, n_H, n_W, n_C).
"""

from __future__ import annotations

from .. import backend, registry
from ..exceptions import ConfigError, ShapeError
from .base import Layer


@registry.register("layer")
class SpatialDropout2D(Layer):
    """Zero each channel of each example with probability ``rate`` in training and scale
    the kept ones by 1 / (1 - rate) ("dropout for images").

    Args:
        rate: fraction of channels dropped, in [0, 1).
    """

    def __init__(self, rate: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ConfigError(f"SpatialDropout2D: rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self._mask = None

    @property
    def keep_prob(self) -> float:
        return 1.0 - self.rate

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            dims = ", ".join(map(str, input_shape))
            raise ShapeError(
                f"{self.describe()}: expected input of shape (m, n_H, n_W, n_C), got (m, {dims})"
            )
        return input_shape

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        if not training or self.rate == 0.0:
            self._mask = None
            return a_prev
        m, c = a_prev.shape[0], a_prev.shape[-1]
        u = self.rng.random((m, 1, 1, c), dtype=a_prev.dtype)
        mask = backend.xp.less(u, self.keep_prob).astype(a_prev.dtype)
        mask *= 1.0 / self.keep_prob  # (m, 1, 1, n_C) holds 0 or 1 / keep_prob
        self._mask = mask
        return a_prev * mask

    def backward(self, da, need_input_grad=True):
        if not need_input_grad:
            return None
        return da if self._mask is None else da * self._mask

    def get_config(self):
        config = super().get_config()
        config["rate"] = self.rate
        return config
