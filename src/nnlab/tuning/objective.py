"""The ``[objective]`` table: what every trial measures, and the one number that ranks trials.

An optional ``[objective]`` table is the course's single-number evaluation metric: one metric
to optimize, subject to satisficing constraints (see :class:`nnlab.training.metrics.Objective`)::

    [objective]
    optimize = "dev.f1"                 # default "dev.accuracy"
    direction = "maximize"              # default: the metric's mode (max for accuracy-like)
    constraints = { ms_per_example = ["<=", 5.0], params = ["<=", 100000] }

Every trial measures ``RESULT_KEYS`` (:func:`trial_results`): dev accuracy, loss, F1,
precision and recall (class 1 for two classes, else the macro average), train accuracy and
loss, ``ms_per_example`` (inference: the best of ``LATENCY_REPEATS`` ``model.predict`` calls
on the dev set, per example) and ``params``. Its score is the optimized metric; a trial that
violates a constraint is *infeasible*. Without the table the search maximizes dev accuracy,
unconstrained.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..exceptions import ConfigError
from ..training.metrics import Objective, f1, precision, predicted_classes, recall, true_classes

LATENCY_REPEATS = 3  # ms_per_example: the best of this many predictions of the dev set
RESULT_KEYS = (  # what every trial measures: the metrics an [objective] may name
    "dev.accuracy",
    "dev.loss",
    "dev.f1",
    "dev.precision",
    "dev.recall",
    "train.accuracy",
    "train.loss",
    "ms_per_example",
    "params",
)
DEFAULT_METRIC = "dev.accuracy"  # without an [objective] table: maximize it, unconstrained


def default_objective() -> Objective:
    """Maximize dev accuracy, unconstrained (the search without an ``[objective]`` table)."""
    return Objective(DEFAULT_METRIC)


def parse_objective(table) -> Objective:
    """The ``[objective]`` table as an Objective over a trial's ``RESULT_KEYS``.

    ``None`` (no table) is :func:`default_objective`. A constraint written with a bare dotted
    key (``{dev.f1 = [">=", 0.5]}``, which TOML nests) is read as ``"dev.f1"``.

    Raises
    ------
    ConfigError
        Not a table, an unknown key, direction or comparison, a bad bound, or a metric that
        trials do not measure; the message starts with ``objective``.
    """
    if table is None:
        return default_objective()
    if isinstance(table, Objective):
        objective = table
    elif not isinstance(table, dict):
        raise ConfigError(
            'objective: expected a table such as [objective] optimize = "dev.f1", '
            f'constraints = {{ms_per_example = ["<=", 5.0]}}, got {table!r}'
        )
    else:
        table = dict(table)
        if isinstance(table.get("constraints"), dict):
            table["constraints"] = _flat_keys(table["constraints"])
        try:
            objective = Objective.from_dict(table)
        except ConfigError as err:
            raise ConfigError(f"objective: {str(err).removeprefix('Objective: ')}") from None
    names = [("objective.optimize", objective.optimize)]
    names += [(f"objective.constraints.{name}", name) for name in objective.constraints]
    for where, name in names:
        if name not in RESULT_KEYS:
            raise ConfigError(
                f"{where}: unknown metric {name!r}; every trial measures {', '.join(RESULT_KEYS)}"
            )
    return objective


def _flat_keys(table: dict, prefix: str = "") -> dict:
    """``{"dev": {"f1": rule}}`` (TOML's reading of ``dev.f1 = rule``) as ``{"dev.f1": rule}``."""
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flat_keys(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def describe(objective: Objective) -> str:
    """``"maximize dev.f1 subject to ms_per_example <= 5"``."""
    text = f"{objective.direction} {objective.optimize}"
    rules = [f"{name} {op} {bound:g}" for name, (op, bound) in objective.constraints.items()]
    return text + (f" subject to {', '.join(rules)}" if rules else "")


def metric_label(name: str) -> str:
    """How a metric is named in messages (``"dev accuracy"`` for the default one)."""
    return "dev accuracy" if name == DEFAULT_METRIC else name


def format_metric(name: str, value) -> str:
    """Accuracy, F1, precision and recall as percentages; other metrics with 4 digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if name.rsplit(".", 1)[-1] in ("accuracy", "f1", "precision", "recall"):
        return f"{value:.2%}"
    return f"{value:.4g}"


def trial_results(model, metrics: dict, data, repeats: int = LATENCY_REPEATS) -> dict:
    """A trained model's ``RESULT_KEYS``, as a flat dict of numbers.

    Parameters
    ----------
    model : Sequential
    metrics : dict
        The run's ``{"train": {...}, "dev": {...}}`` metrics (accuracy and loss).
    data : Data
        F1, precision and recall are those of the model's dev-set predictions: of class 1
        when the task has two classes, else macro averages. ``ms_per_example`` is the best of
        ``repeats`` predictions of the whole dev set, in milliseconds per example.
    """
    x_dev, y_dev = data.x_dev, data.y_dev
    seconds = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        outputs = model.predict(x_dev)
        seconds = min(seconds, time.perf_counter() - start)
    y_true, y_pred = true_classes(np.asarray(y_dev)), predicted_classes(outputs)
    average = "binary" if data.n_classes == 2 else "macro"
    return {
        "dev.accuracy": float(metrics["dev"]["accuracy"]),
        "dev.loss": float(metrics["dev"]["loss"]),
        "dev.f1": f1(y_true, y_pred, average),
        "dev.precision": precision(y_true, y_pred, average),
        "dev.recall": recall(y_true, y_pred, average),
        "train.accuracy": float(metrics["train"]["accuracy"]),
        "train.loss": float(metrics["train"]["loss"]),
        "ms_per_example": 1000.0 * seconds / x_dev.shape[0],
        "params": int(model.count_params()),
    }
