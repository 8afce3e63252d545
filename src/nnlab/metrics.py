"""Metrics computed from model outputs and prepared targets.

A metric is ``fn(y, a) -> (correct_or_sum, count)`` so it can be accumulated over
batches and divided once at the end of an epoch.

accuracy:  sigmoid outputs (m, 1) are class 1 when a > 0.5 (the course's threshold);
           softmax outputs (m, K) predict argmax_k a_k; targets are labels or one-hot.
"""

from __future__ import annotations

from . import backend
from .errors import unknown_name


def predicted_classes(a):
    """Class predictions (m,) from outputs (m, 1) (threshold 0.5) or (m, K) (argmax)."""
    if a.ndim == 2 and a.shape[1] == 1:
        return (a[:, 0] > 0.5).astype(backend.xp.int64)
    return a.argmax(axis=-1)


def true_classes(y):
    """Class labels (m,) from labels (m,), (m, 1) or one-hot (m, K)."""
    if y.ndim == 2 and y.shape[1] == 1:
        return y[:, 0].astype(backend.xp.int64)
    if y.ndim == 2:
        return y.argmax(axis=-1)
    return y.astype(backend.xp.int64)


def accuracy_counts(y, a) -> tuple[float, int]:
    """(number correct, number of examples)."""
    return float((predicted_classes(a) == true_classes(y)).sum()), int(a.shape[0])


METRICS = {"accuracy": accuracy_counts, "acc": accuracy_counts}


def get(name):
    """Resolve a metric name to its counting function."""
    if name not in METRICS:
        raise unknown_name("metric", name, METRICS)
    return METRICS[name]
