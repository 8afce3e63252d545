"""Inverted dropout (the course's week-1 regularizer) and spatial dropout.

    training:   D = (U < keep_prob) / keep_prob,  U ~ Uniform(0, 1)      a = a_prev * D
    inference:  a = a_prev                       (no scaling: it was done in training)
    backward:   da_prev = da * D

keep_prob = 1 - rate.  Dropout draws U with the input's shape (m, ...); SpatialDropout2D
draws one U per (example, channel), shape (m, 1, 1, n_C), broadcast over n_H and n_W, and
so drops whole feature maps: neighbouring pixels of a feature map are strongly correlated,
so dropping single activations of a convolution's output barely regularizes it (Tompson
et al. 2015).
"""

from __future__ import annotations

from .. import backend, registry
from ..exceptions import ConfigError
from .base import Layer, check_image_shape


@registry.register("layer")
class Dropout(Layer):
    """Zero each activation with probability ``rate`` in training and scale the rest by
    1 / (1 - rate), so the expected activation is unchanged (inverted dropout).

    Args:
        rate: fraction dropped, in [0, 1).  The course's keep_prob is 1 - rate.

    Input and output shape: any (m, ...).
    """

    keeps_mask = True

    def __init__(self, rate: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate < 1.0:
            raise ConfigError(f"{type(self).__name__}: rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)

    @property
    def keep_prob(self) -> float:
        return 1.0 - self.rate

    def noise_shape(self, input_shape) -> tuple:
        """The shape of the mask D for an input of shape (m, ...): one draw per entry."""
        return input_shape

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        if not training or self.rate == 0.0:
            self.cache.mask = None
            return a_prev
        u = self.rng.random(self.noise_shape(a_prev.shape), dtype=a_prev.dtype)
        mask = backend.xp.less(u, self.keep_prob, out=u)  # bool view would need a copy
        mask *= 1.0 / self.keep_prob  # holds 0 or 1 / keep_prob
        self.cache.mask = mask
        return a_prev * mask

    def backward(self, da, need_input_grad=True):
        if not need_input_grad:
            return None
        mask = self.cache.mask
        return da if mask is None else da * mask

    def get_config(self):
        config = super().get_config()
        config["rate"] = self.rate
        return config


@registry.register("layer")
class SpatialDropout2D(Dropout):
    """Zero each channel of each example with probability ``rate`` in training and scale
    the kept ones by 1 / (1 - rate) ("dropout for images").

    Args:
        rate: fraction of channels dropped, in [0, 1).

    Input and output shape: (m, n_H, n_W, n_C).
    """

    def compute_output_shape(self, input_shape):
        check_image_shape(self, input_shape)
        return input_shape

    def noise_shape(self, input_shape) -> tuple:
        """(m, 1, 1, n_C): one draw per example and channel."""
        return (input_shape[0], 1, 1, input_shape[-1])
