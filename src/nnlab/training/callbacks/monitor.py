"""MonitorCallback: the one base for callbacks that watch a metric of the epoch logs.

EarlyStopping, ModelCheckpoint and the tuning pruner each compare a logged metric with the
best value so far. What "better" means is decided here once, as in Keras 3's
``MonitorCallback``: the mode (larger or smaller is better; "auto" asks
:func:`~nnlab.training.metrics.metric_mode`, the rule Objective uses too), the least change
that counts (``min_delta``) and the value the first improvement must beat (``baseline``).
"""

from __future__ import annotations

import math

from ...exceptions import ConfigError
from ..metrics import metric_mode
from .base import Callback

MODES = ("auto", "min", "max")


class MonitorCallback(Callback):
    """A callback that watches ``monitor`` in the epoch logs.

    Args:
        monitor: a key of the epoch logs ("val_loss", "val_accuracy", ...).
        mode: "min", "max", or "auto": max for accuracy-like names (accuracy, acc, f1,
            precision, recall, auc), min for the rest.
        min_delta: an improvement must change the value by more than this.
        baseline: the value the first improvement must beat (None: any number does).

    Attributes:
        mode: "min" or "max" ("auto" resolved from the name).
        sign: +1.0 for "max", -1.0 for "min": ``sign * value`` grows as the metric improves.
    """

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0.0, baseline=None):
        if mode not in MODES:
            raise ConfigError(
                f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', got {mode!r}"
            )
        self.monitor = monitor
        self.mode = metric_mode(monitor) if mode == "auto" else mode
        self.sign = 1.0 if self.mode == "max" else -1.0
        self.min_delta = abs(float(min_delta))
        self.baseline = baseline

    def _initial_reference(self) -> float:
        """What the first value must beat: the baseline, else the worst value of the mode."""
        return -self.sign * math.inf if self.baseline is None else float(self.baseline)

    def _is_improvement(self, current, reference) -> bool:
        """Whether ``current`` beats ``reference`` by more than ``min_delta`` (NaN never does)."""
        return self.sign * (current - reference) > self.min_delta

    def _monitored(self, logs) -> float:
        """The monitored value of the epoch ``logs``.

        Raises
        ------
        ConfigError
            ``monitor`` is not in the logs; the message lists the keys that are.
        """
        if self.monitor not in logs:
            validation = self.monitor.startswith("val_")
            hint = "pass validation data to monitor val_*" if validation else "monitor one of them"
            raise ConfigError(
                f"{type(self).__name__}: monitor {self.monitor!r} is not in the logs "
                f"({', '.join(logs)}); {hint}"
            )
        return float(logs[self.monitor])
