"""Metrics: how good a model is, as numbers to compare runs by.

Training metrics are ``fn(y, a) -> (correct_or_sum, count)`` so they can be accumulated
over batches and divided once at the end of an epoch (``nnlab.registry.get("metric", name)``).

accuracy:  sigmoid outputs (m, 1) are class 1 when a > 0.5 (the course's threshold);
           softmax outputs (m, K) predict argmax_k a_k; targets are labels or one-hot.
           Outputs with a softmax per time step (m, T, K) are scored per position: the
           count is m T, the targets labels (m, T) or one-hot (m, T, K).

Evaluation metrics work on integer label arrays ``y_true``, ``y_pred`` of shape (m,):
:func:`confusion_matrix`, :func:`precision`, :func:`recall`, :func:`f1` and
:func:`classification_report`.  For class k, with TP, FP, FN counted from the confusion
matrix C (rows: true class, columns: predicted class)::

    precision_k = TP_k / (TP_k + FP_k)        recall_k = TP_k / (TP_k + FN_k)
    F1_k = 2 precision_k recall_k / (precision_k + recall_k) = 2 TP_k / (2 TP_k + FP_k + FN_k)

Segmentation scores each class by its intersection over union (the Jaccard index), counted
over every pixel of every image (:func:`iou_per_class`, :func:`mean_iou`,
:func:`iou_from_confusion`; labels of any shape, (m, n_H, n_W) masks included)::

    IoU_k = TP_k / (TP_k + FP_k + FN_k)        mean IoU = mean of IoU_k over the classes

A 0/0 ratio is 0 (scikit-learn's ``zero_division=0``).  ``average="binary"`` reports class 1
(the positive class); ``average="macro"`` is the unweighted mean over the classes that occur
in ``y_true`` or ``y_pred`` (as scikit-learn does).

:class:`Objective` is the course's single-number evaluation metric: one *optimizing* metric
to maximize or minimize, subject to *satisficing* constraints that only have to be met.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field

import numpy as np

from .. import backend
from ..exceptions import ConfigError, InputValueError, ShapeError, unknown_name
from ..registry import register


def predicted_classes(a):
    """Class predictions (m, [T]) from outputs (m, [T,] 1) (threshold 0.5) or (m, [T,] K)
    (argmax)."""
    if a.ndim >= 2 and a.shape[-1] == 1:
        return (a[..., 0] > 0.5).astype(backend.xp.int64)
    return a.argmax(axis=-1)


def true_classes(y, outputs_ndim: int = 2):
    """Class labels (m, [T]) from labels (m, [T]), (m, [T,] 1) or one-hot (m, [T,] K), for
    outputs of ``outputs_ndim`` dimensions ((m, K): 2; (m, T, K): 3)."""
    if y.ndim == outputs_ndim - 1:
        return y.astype(backend.xp.int64)
    if y.shape[-1] == 1:
        return y[..., 0].astype(backend.xp.int64)
    return y.argmax(axis=-1)


@register("metric", "accuracy", aliases=("acc",))
def accuracy_counts(y, a) -> tuple[float, int]:
    """(number correct, number of positions: examples, or steps of examples)."""
    predicted = predicted_classes(a)
    return float((predicted == true_classes(y, a.ndim)).sum()), int(predicted.size)


MAXIMIZED = frozenset({"accuracy", "acc", "f1", "precision", "recall", "auc"})


def metric_mode(name: str) -> str:
    """``"max"`` when larger values of the metric ``name`` are better, else ``"min"``.

    The one rule for every place that must know which way a metric improves (EarlyStopping,
    ModelCheckpoint, the tuning pruner, an Objective without a direction), so that they never
    disagree: a name is maximized when one of its words (split at ``_`` and ``.``) is an
    accuracy-like metric of ``MAXIMIZED`` (``val_accuracy``, ``dev.f1``, ``top_5_acc``); losses,
    errors, times and sizes are minimized.
    """
    words = name.lower().replace(".", "_").split("_")
    return "max" if MAXIMIZED.intersection(words) else "min"


# --------------------------------------------------------------- label metrics
AVERAGES = ("binary", "macro")


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Count the examples of each true class predicted as each class.

    ``C[i, j]`` is the number of examples with ``y_true == i`` and ``y_pred == j`` (rows:
    true class, columns: predicted class, as in scikit-learn).

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (m,) or (m, 1)
        True and predicted class labels, integers >= 0.
    n_classes : int, optional
        Number of classes K (labels 0 .. K-1); default ``max(y_true, y_pred) + 1``.

    Returns
    -------
    ndarray of int64, shape (K, K)

    Raises
    ------
    ShapeError
        Labels of another shape, or ``y_true`` and ``y_pred`` of different lengths.
    InputValueError
        Empty, negative or non-integer labels, or a label >= ``n_classes``.
    """
    t, p = _label_pair(y_true, y_pred)
    k = _n_classes(n_classes, int(max(t.max(), p.max())) + 1)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def precision(y_true, y_pred, average: str = "binary") -> float:
    """Precision TP / (TP + FP) of class 1 (``"binary"``) or its mean over classes (``"macro"``).

    See the module docstring for the definitions; 0/0 counts as 0.
    """
    return _averaged("precision", y_true, y_pred, average)


def recall(y_true, y_pred, average: str = "binary") -> float:
    """Recall TP / (TP + FN) of class 1 (``"binary"``) or its mean over classes (``"macro"``).

    See the module docstring for the definitions; 0/0 counts as 0.
    """
    return _averaged("recall", y_true, y_pred, average)


def f1(y_true, y_pred, average: str = "binary") -> float:
    """F1 = 2 P R / (P + R) of class 1 (``"binary"``) or its mean over classes (``"macro"``).

    The harmonic mean of precision P and recall R, the course's single-number combination
    of the two; 0 when P + R = 0.
    """
    return _averaged("f1", y_true, y_pred, average)


def classification_report(y_true, y_pred) -> dict:
    """Precision, recall, F1 and support of every class, and their macro average.

    Returns
    -------
    dict
        ``{"0": {"precision", "recall", "f1", "support"}, "1": {...}, ...,
        "macro": {...}}``: one entry per class that occurs in ``y_true`` or ``y_pred``
        (keys are the labels as strings, so the dict is JSON-able), then ``"macro"``, the
        unweighted mean of the per-class scores with the total support.
    """
    scores = _per_class(y_true, y_pred)
    present = scores.pop("present")
    report = {
        str(k): {name: _number(values[k]) for name, values in scores.items()}
        for k in np.flatnonzero(present)
    }
    report["macro"] = {
        name: float(scores[name][present].mean()) for name in ("precision", "recall", "f1")
    }
    report["macro"]["support"] = int(scores["support"].sum())
    return report


def iou_from_confusion(c) -> np.ndarray:
    """Per-class IoU_k = TP_k / (TP_k + FP_k + FN_k) from a confusion matrix.

    Parameters
    ----------
    c : array_like of int, shape (K, K)
        Counts, rows true class, columns predicted class (:func:`confusion_matrix`; sum the
        matrices of several batches to score them all at once).

    Returns
    -------
    ndarray of float64, shape (K,)
        0 for a class that is neither true nor predicted anywhere (0/0).
    """
    c = np.asarray(c)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ShapeError(f"iou_from_confusion: expected a (K, K) matrix, got shape {c.shape}")
    tp = np.diag(c).astype(np.float64)
    union = c.sum(axis=0) + c.sum(axis=1) - tp  # TP + FP + FN
    return _ratio(tp, union)


def iou_per_class(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Per-class intersection over union of two label arrays of any one shape.

    Every position (every pixel of every mask) counts once: the confusion matrix of the
    flattened labels, counted with ``np.bincount``, gives IoU_k = TP_k / (TP_k + FP_k + FN_k)
    (:func:`iou_from_confusion`), equal to scikit-learn's
    ``jaccard_score(y_true.ravel(), y_pred.ravel(), labels=range(K), average=None)``.

    Parameters
    ----------
    y_true, y_pred : array_like of int, same shape (m, ...), e.g. masks (m, n_H, n_W)
        True and predicted classes, integers >= 0.
    n_classes : int, optional
        K (labels 0 .. K-1); default ``max(y_true, y_pred) + 1``.

    Returns
    -------
    ndarray of float64, shape (K,)
        0 for a class absent from both arrays.
    """
    return iou_from_confusion(_pixel_confusion(y_true, y_pred, n_classes))


def mean_iou(y_true, y_pred, n_classes: int | None = None) -> float:
    """The mean of :func:`iou_per_class` over the classes present in ``y_true`` or
    ``y_pred`` (scikit-learn's ``jaccard_score(..., average="macro")`` of the flattened
    labels; a class absent from both, 0/0, is left out of the mean)."""
    c = _pixel_confusion(y_true, y_pred, n_classes)
    present = (c.sum(axis=0) + c.sum(axis=1)) > 0
    return float(iou_from_confusion(c)[present].mean())


def _pixel_confusion(y_true, y_pred, n_classes) -> np.ndarray:
    """The confusion matrix of two label arrays of one shape, flattened."""
    t = np.asarray(backend.to_numpy(y_true))
    p = np.asarray(backend.to_numpy(y_pred))
    if t.shape != p.shape:
        raise ShapeError(f"y_true and y_pred must have the same shape, got {t.shape} and {p.shape}")
    return confusion_matrix(t.reshape(-1), p.reshape(-1), n_classes)


def _averaged(name: str, y_true, y_pred, average: str) -> float:
    """One score of :func:`_per_class`, for class 1 or averaged over the present classes."""
    if average not in AVERAGES:
        raise unknown_name("average", average, AVERAGES)
    scores = _per_class(y_true, y_pred)
    if average == "macro":
        return float(scores[name][scores["present"]].mean())
    if scores[name].shape[0] > 2:
        raise InputValueError(
            f"{name}: average='binary' needs labels 0 and 1 (positive class 1), got labels "
            f"up to {scores[name].shape[0] - 1}; use average='macro'"
        )
    return float(scores[name][1]) if scores[name].shape[0] == 2 else 0.0


def _per_class(y_true, y_pred) -> dict:
    """Per-class precision, recall, F1, support and whether the class occurs at all."""
    c = confusion_matrix(y_true, y_pred)
    tp = np.diag(c).astype(np.float64)
    predicted, actual = c.sum(axis=0), c.sum(axis=1)
    return {
        "precision": _ratio(tp, predicted),
        "recall": _ratio(tp, actual),
        "f1": _ratio(2 * tp, predicted + actual),  # 2TP / (2TP + FP + FN)
        "support": actual,
        "present": (predicted + actual) > 0,
    }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise, 0 where the denominator is 0."""
    out = np.zeros(numerator.shape[0], dtype=np.float64)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def _number(value):
    """A NumPy scalar as a plain int or float."""
    return int(value) if np.issubdtype(type(value), np.integer) else float(value)


def _label_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Both label arrays, checked, with the same length."""
    t, p = _labels("y_true", y_true), _labels("y_pred", y_pred)
    if t.shape != p.shape:
        raise ShapeError(
            f"y_true and y_pred must have the same number of labels, got {t.shape[0]} "
            f"and {p.shape[0]}"
        )
    return t, p


def _labels(name: str, y) -> np.ndarray:
    """``y`` as int64 labels of shape (m,) from (m,) or (m, 1) integers >= 0."""
    y = np.asarray(backend.to_numpy(y))
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ShapeError(f"{name}: expected labels of shape (m,) or (m, 1), got shape {y.shape}")
    if y.shape[0] == 0:
        raise InputValueError(f"{name}: expected at least one label, got an empty array")
    whole = y.dtype.kind in "biu" or (
        y.dtype.kind == "f" and bool(np.all(np.isfinite(y))) and bool(np.all(y == np.round(y)))
    )
    if not whole:
        raise InputValueError(f"{name}: expected integer class labels, got dtype {y.dtype}")
    labels = y.astype(np.int64)
    if labels.min() < 0:
        raise InputValueError(f"{name}: expected class labels >= 0, got {labels.min()}")
    return labels


def _n_classes(n_classes, needed: int) -> int:
    """The number of classes: ``needed`` by default, else a checked ``n_classes``."""
    if n_classes is None:
        return needed
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer):
        raise InputValueError(f"n_classes must be an int, got {n_classes!r}")
    if n_classes < needed:
        raise InputValueError(
            f"n_classes={n_classes} is too small: the labels go up to {needed - 1}, "
            f"so n_classes must be >= {needed}"
        )
    return int(n_classes)


# ------------------------------------------------------------------ objective
COMPARISONS = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
}
DIRECTIONS = {"max": "maximize", "min": "minimize"}  # metric_mode -> Objective.direction


@dataclass
class Objective:
    """One optimizing metric and satisficing constraints: how to pick the best run.

    The course's recipe for N metrics: optimize one (e.g. F1) and only require the N - 1
    others to be good enough (e.g. running time <= 5 ms per example)::

        best = argmax_{run : c_i(run) op_i b_i for all i}  optimize(run)

    (argmin when ``direction="minimize"``).

    Parameters
    ----------
    optimize : str
        Key of the optimizing metric in a results dict; a dotted key such as
        ``"dev.accuracy"`` reaches into nested dicts (a run's metrics.json).
    direction : {"auto", "maximize", "minimize"}
        Whether a larger or a smaller optimizing metric is better; "auto" (the default)
        follows :func:`metric_mode` of ``optimize``, the rule the callbacks use.
    constraints : dict
        ``{metric: (op, bound)}`` with ``op`` one of ``<=, <, >=, >, ==``.

    Examples
    --------
    >>> objective = Objective("f1", constraints={"ms_per_example": ("<=", 5.0)})
    >>> objective.score({"f1": 0.9, "ms_per_example": 3.0})
    0.9
    >>> objective.score({"f1": 0.95, "ms_per_example": 8.0}) is None
    True
    """

    optimize: str
    direction: str = "auto"
    constraints: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.optimize, str) or not self.optimize:
            raise ConfigError(f"Objective: optimize must be a metric name, got {self.optimize!r}")
        known = ("auto", *DIRECTIONS.values())
        if self.direction not in known:
            raise unknown_name("direction", self.direction, known)
        if self.direction == "auto":
            self.direction = DIRECTIONS[metric_mode(self.optimize)]
        if not isinstance(self.constraints, dict):
            raise ConfigError(
                f"Objective: constraints must be a dict {{metric: (op, bound)}}, "
                f"got {self.constraints!r}"
            )
        self.constraints = {
            name: _constraint(name, rule) for name, rule in self.constraints.items()
        }

    @classmethod
    def from_dict(cls, table: dict) -> Objective:
        """Build an Objective from a dict or a TOML table such as::

        [objective]
        optimize = "f1"
        direction = "maximize"
        constraints = { ms_per_example = ["<=", 5.0], model_mb = ["<=", 20] }
        """
        keys = ("optimize", "direction", "constraints")
        unknown = sorted(set(table) - set(keys))
        if unknown:
            raise ConfigError(
                f"Objective: unknown keys {', '.join(unknown)}; expected {', '.join(keys)}"
            )
        if "optimize" not in table:
            raise ConfigError("Objective: missing key 'optimize' (the metric to optimize)")
        return cls(**table)

    def to_dict(self) -> dict:
        """The table :meth:`from_dict` reads (constraints as ``[op, bound]`` lists)."""
        return {
            "optimize": self.optimize,
            "direction": self.direction,
            "constraints": {name: list(rule) for name, rule in self.constraints.items()},
        }

    def violations(self, results: dict) -> list[str]:
        """The constraints ``results`` fails, e.g. ``["ms_per_example = 7.2, not <= 5"]``."""
        failed = []
        for name, (op, bound) in self.constraints.items():
            value = _lookup(results, name)
            if not COMPARISONS[op](value, bound):  # NaN fails every comparison
                failed.append(f"{name} = {value:g}, not {op} {bound:g}")
        return failed

    def score(self, results: dict) -> float | None:
        """The optimizing metric of ``results``, or ``None`` when the run is infeasible.

        A run is infeasible when a satisficing constraint fails or the optimizing metric
        is NaN.  The score is the metric itself (not negated for ``"minimize"``).

        Raises
        ------
        InputValueError
            ``results`` lacks the optimizing metric or a constrained one.
        """
        value = _lookup(results, self.optimize)
        if math.isnan(value) or self.violations(results):
            return None
        return value

    def rank(self, runs) -> list:
        """The runs ordered best first; infeasible runs last, in their given order.

        Feasible runs are sorted by the optimizing metric in ``direction``; ties keep
        their given order.
        """
        scored = [(self.score(run), run) for run in runs]
        sign = -1.0 if self.direction == "maximize" else 1.0
        feasible = sorted((s for s in scored if s[0] is not None), key=lambda s: sign * s[0])
        return [run for _, run in feasible] + [run for s, run in scored if s is None]


def _constraint(name: str, rule) -> tuple[str, float]:
    """A satisficing constraint ``(op, bound)`` checked: a known op and a finite number."""
    if not isinstance(rule, list | tuple) or len(rule) != 2:
        raise ConfigError(
            f"Objective: constraint {name!r} must be (op, bound) such as ('<=', 5.0), got {rule!r}"
        )
    op, bound = rule
    if op not in COMPARISONS:
        raise unknown_name(f"comparison of constraint {name!r}", op, COMPARISONS)
    if isinstance(bound, bool) or not isinstance(bound, int | float) or not math.isfinite(bound):
        raise ConfigError(
            f"Objective: bound of constraint {name!r} must be a finite number, got {bound!r}"
        )
    return op, float(bound)


def _lookup(results: dict, key: str) -> float:
    """``results[key]`` as a float; a dotted key reaches into nested dicts."""
    value = results
    for part in [key] if key in results else key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise InputValueError(
                f"Objective: results have no metric {key!r}; got keys "
                f"{', '.join(map(str, results))}"
            )
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InputValueError(f"Objective: metric {key!r} must be a number, got {value!r}")
    return float(value)
