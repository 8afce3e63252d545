"""Learning-rate decay: alpha as a function of the epoch number (0 for the first epoch).

=================== ================================================ ====================
name                alpha(epoch)                                     course name
=================== ================================================ ====================
inverse_time        alpha0 / (1 + decay_rate * epoch)                learning-rate decay
scheduled           alpha0 / (1 + decay_rate * floor(epoch / interval))  fixed-interval scheduling
exponential         alpha0 * decay_rate ** epoch                     exponential decay
=================== ================================================ ====================
"""

from __future__ import annotations

import math

from ..exceptions import ConfigError
from ..registry import register


class Schedule:
    """Base class: ``schedule(epoch) -> learning rate``."""

    name = "schedule"

    def __init__(self, initial_learning_rate: float, decay_rate: float):
        if not initial_learning_rate > 0:
            raise ConfigError(
                f"{type(self).__name__}: initial_learning_rate must be > 0, "
                f"got {initial_learning_rate}"
            )
        if not decay_rate >= 0:
            raise ConfigError(f"{type(self).__name__}: decay_rate must be >= 0, got {decay_rate}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_rate = float(decay_rate)

    def __call__(self, epoch: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "initial_learning_rate": self.initial_learning_rate,
            "decay_rate": self.decay_rate,
        }


@register("schedule")
class InverseTimeDecay(Schedule):
    """alpha = alpha0 / (1 + decay_rate * epoch)."""

    name = "inverse_time"

    def __call__(self, epoch):
        return self.initial_learning_rate / (1.0 + self.decay_rate * epoch)


@register("schedule")
class ScheduledInverseTimeDecay(Schedule):
    """alpha = alpha0 / (1 + decay_rate * floor(epoch / interval)): a step every ``interval``."""

    name = "scheduled"

    def __init__(self, initial_learning_rate, decay_rate, interval: int = 1000):
        super().__init__(initial_learning_rate, decay_rate)
        if not (isinstance(interval, int) and interval >= 1):
            raise ConfigError(
                f"ScheduledInverseTimeDecay: interval must be an int >= 1, got {interval}"
            )
        self.interval = interval

    def __call__(self, epoch):
        return self.initial_learning_rate / (
            1.0 + self.decay_rate * math.floor(epoch / self.interval)
        )

    def get_config(self):
        return {**super().get_config(), "interval": self.interval}


@register("schedule")
class ExponentialDecay(Schedule):
    """alpha = alpha0 * decay_rate ** epoch (decay_rate in (0, 1], e.g. 0.95)."""

    name = "exponential"

    def __call__(self, epoch):
        return self.initial_learning_rate * self.decay_rate**epoch
