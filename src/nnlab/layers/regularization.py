"""Inverted dropout (the course's week-1 regularizer).

    training:   D = (U < keep_prob) / keep_prob,  U ~ Uniform(0, 1)      a = a_prev * D
    inference:  a = a_prev                       (no scaling: it was done in training)
    backward:   da_prev = da * D

keep_prob = 1 - rate.  Input and output shape: any (m, ...).
"""

from __future__ import annotations

from .. import backend, registry
from ..exceptions import ConfigError
from .base import Layer


@registry.register("layer")
class Dropout(Layer):
    """Zero each activation with probability ``rate`` in training and scale the rest by
    1 / (1 - rate), so the expected activation is unchanged (inverted dropout).

    Args:
        rate: fraction dropped, in [0, 1).  The course's keep_prob is 1 - rate.
    """

    def __init__(self, rate: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate < 1.0:
            raise ConfigError(f"Dropout: rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self._mask = None

    @property
    def keep_prob(self) -> float:
        return 1.0 - self.rate

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        if not training or self.rate == 0.0:
            self._mask = None
            return a_prev
        u = self.rng.random(a_prev.shape, dtype=a_prev.dtype)
        mask = backend.xp.less(u, self.keep_prob, out=u)  # bool view would need a copy
        mask *= 1.0 / self.keep_prob  # (m, ...) holds 0 or 1 / keep_prob
        self._mask = mask
        return a_prev * mask

    def backward(self, da, need_input_grad=True):
        return da if self._mask is None else da * self._mask

    def get_config(self):
        config = super().get_config()
        config["rate"] = self.rate
        return config
