"""Hyperparameter search (course 2, week 3): random search, coarse to fine, Optuna studies.

``nnlab tune search.toml`` runs a study whose trials are ordinary training runs. The file is
a run config (see :mod:`nnlab.runs.config`) plus a ``[search]`` table of the fields to sample, each
on the scale the course recommends:

    dataset = "mnist"
    epochs = 5

    [search]
    learning_rate = {low = 1e-4, high = 1e-1, log = true}    # uniform in log10(alpha)
    l2 = {low = 1e-6, high = 1e-2, log = true}
    beta = {one_minus_low = 1e-3, one_minus_high = 1e-1}      # 1 - beta uniform in log10
    layers = {count = [1, 3], width = [64, 512], log = true}  # layer count, then each width
    dropout = {low = 0.0, high = 0.5}                         # keep_prob = 1 - dropout
    batch_size = {powers_of_two = [5, 9]}                     # 32, 64, ..., 512
    optimizer = {choices = ["adam", "rmsprop"]}               # any field: a list of values
    early_stopping = {low = 0, high = 3, int = true}          # integers (int fields: always)

Trials are drawn at random by default (the course's advice: in high dimensions random points
beat a grid, because few hyperparameters matter and a grid wastes trials on the others), or
by TPE on request (``sampler="tpe"``). Each trial trains into ``<out>/trials/<number>/``.

An optional ``[objective]`` table is the course's single-number evaluation metric: one metric
to optimize, subject to satisficing constraints (see :class:`nnlab.training.metrics.Objective`)::

    [objective]
    optimize = "dev.f1"                                 # default "dev.accuracy"
    direction = "maximize"                              # or "minimize"
    constraints = { ms_per_example = ["<=", 5.0], params = ["<=", 100000] }

Every trial measures ``RESULT_KEYS`` (its user attribute ``results``): dev accuracy, loss,
F1, precision and recall (class 1 for two classes, else the macro average), train accuracy
and loss, ``ms_per_example`` (inference: the best of 3 ``model.predict`` calls on the dev set,
per example) and ``params``. Its score is the optimized metric; a trial that violates a
constraint is *infeasible*: it ends pruned (user attribute ``violations``), so it is never
the best, and trials.csv lists it after the feasible ones. Without the table the search
maximizes dev accuracy, unconstrained.

A MedianPruner stops a trial whose dev accuracy after an epoch trails the median of earlier
trials at that epoch; it compares dev accuracy, so it is off when the objective optimizes
another metric.

Studies live in an Optuna storage (default ``sqlite:///<out>/study.db``): rerunning the same
command continues the study until it has ``n_trials`` finished (complete or pruned) trials, and
``workers`` processes share one study. A running trial records a heartbeat every
``HEARTBEAT_SECONDS``; one silent for ``STALE_AFTER_SECONDS`` (its process was killed) is marked
failed and its slot is trained again.

``tune_refine`` (``--refine``) is the coarse-to-fine step: a second study on ranges narrowed to
the best trials' values (the top ``max(3, 20%)`` complete trials, widened a little, in log10
space for log ranges).

Files in ``<out>``: ``search.toml`` (the search that ran, with its ``[objective]``),
``trials.csv`` (the ranked table: objective value, ``feasible``, the constrained metrics),
``best_config.toml`` (a plain run config: ``nnlab train --config`` reproduces the best
feasible trial),
``optimization_history.png``, ``param_importances.png``, ``slice.png``; with ``--refine`` also
``refined_search.toml`` and ``refined/`` holding the same files for the second study.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import subprocess
import sys
import time
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from ..exceptions import ConfigError, NNLabError
from ..runs.config import RunConfig
from ..training.callbacks import Callback
from ..training.metrics import Objective, f1, precision, predicted_classes, recall, true_classes

try:
    import fcntl
except ImportError:  # not POSIX: workers may overshoot n_trials by a trial or two
    fcntl = None

SAMPLERS = ("random", "tpe")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
HEARTBEAT_SECONDS = 5  # a running trial writes a heartbeat this often ...
STALE_AFTER_SECONDS = 30  # ... and is failed (its slot retried) after this long without one
WAIT_SECONDS = 1.0  # poll interval while other processes finish the last trials
PRUNE_AFTER_TRIALS = 5  # MedianPruner: no pruning until this many trials have finished ...
PRUNE_AFTER_EPOCHS = 1  # ... nor in a trial's first epoch (step 0)
TOP_FRACTION, MIN_TOP = 0.2, 3  # refine around the best max(3, 20%) complete trials ...
MARGIN = 0.1  # ... widening their [min, max] by 10% of its span (at least 5% of the range)
TABLE_ROWS = 20
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
PRUNED_METRICS = {"dev.accuracy": "val_accuracy"}  # optimized metric -> the epoch log to prune on


class TuningError(NNLabError, RuntimeError):
    """A search could not run: a worker process failed or the storage could not be opened."""


class NoFeasibleTrialError(TuningError):
    """Every trained trial violates a constraint of the ``[objective]``: there is no best.

    ``result`` is the :class:`TuneResult` (trials.csv was written); the message names the
    constraints and how the first trials violate them.
    """

    def __init__(self, message: str, result):
        super().__init__(message)
        self.result = result


# ============================================================== search space
@dataclass(frozen=True)
class NumberRange:
    """A number field drawn uniformly from [low, high] (in log10 space with ``log``)."""

    field: str
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def suggest(self, trial):
        if self.integer:
            return trial.suggest_int(self.field, self.low, self.high, log=self.log)
        return trial.suggest_float(self.field, self.low, self.high, log=self.log)

    def corners(self) -> list:
        return [self.low, self.high]

    def to_spec(self) -> dict:
        spec = {"low": self.low, "high": self.high, "log": self.log}
        return {**spec, "int": True} if self.integer else spec

    def narrowed(self, params: list[dict]) -> NumberRange:
        values = [p[self.field] for p in params if self.field in p]
        if not values:
            return self
        low, high = narrow(values, self.low, self.high, log=self.log, integer=self.integer)
        return dataclasses.replace(self, low=low, high=high)


@dataclass(frozen=True)
class OneMinusRange:
    """A field near 1 (beta): r = 1 - value is drawn in log10 space from [low, high]."""

    field: str
    low: float
    high: float

    @property
    def name(self) -> str:
        return f"one_minus_{self.field}"

    def suggest(self, trial) -> float:
        return 1.0 - trial.suggest_float(self.name, self.low, self.high, log=True)

    def corners(self) -> list:
        return [1.0 - self.low, 1.0 - self.high]

    def to_spec(self) -> dict:
        return {"one_minus_low": self.low, "one_minus_high": self.high}

    def narrowed(self, params: list[dict]) -> OneMinusRange:
        values = [p[self.name] for p in params if self.name in p]
        if not values:
            return self
        low, high = narrow(values, self.low, self.high, log=True)
        return dataclasses.replace(self, low=low, high=high)


@dataclass(frozen=True)
class PowerOfTwoRange:
    """An integer field 2**k with k drawn uniformly from [low, high] (batch sizes)."""

    field: str
    low: int
    high: int

    @property
    def name(self) -> str:
        return f"log2_{self.field}"

    def suggest(self, trial) -> int:
        return 2 ** trial.suggest_int(self.name, self.low, self.high)

    def corners(self) -> list:
        return [2**self.low, 2**self.high]

    def to_spec(self) -> dict:
        return {"powers_of_two": [self.low, self.high]}

    def narrowed(self, params: list[dict]) -> PowerOfTwoRange:
        values = [p[self.name] for p in params if self.name in p]
        if not values:
            return self
        low, high = narrow(values, self.low, self.high, integer=True)
        return dataclasses.replace(self, low=low, high=high)


@dataclass(frozen=True)
class LayersRange:
    """Hidden layers: a count from [count_low, count_high], then each layer's width.

    The trial parameters are ``n_layers`` and ``width_1`` ... ``width_<n_layers>``.
    """

    count_low: int
    count_high: int
    width_low: int
    width_high: int
    log: bool = False
    field: str = "layers"

    def suggest(self, trial) -> list[int]:
        n = trial.suggest_int("n_layers", self.count_low, self.count_high)
        return [
            trial.suggest_int(f"width_{i + 1}", self.width_low, self.width_high, log=self.log)
            for i in range(n)
        ]

    def corners(self) -> list:
        return [
            [self.width_low] * self.count_low,
            [self.width_high] * self.count_high,
        ]

    def to_spec(self) -> dict:
        return {
            "count": [self.count_low, self.count_high],
            "width": [self.width_low, self.width_high],
            "log": self.log,
        }

    def narrowed(self, params: list[dict]) -> LayersRange:
        counts = [p["n_layers"] for p in params if "n_layers" in p]
        widths = [v for p in params for k, v in p.items() if k.startswith("width_")]
        if not counts or not widths:
            return self
        count = narrow(counts, self.count_low, self.count_high, integer=True)
        width = narrow(widths, self.width_low, self.width_high, log=self.log, integer=True)
        return dataclasses.replace(
            self, count_low=count[0], count_high=count[1], width_low=width[0], width_high=width[1]
        )


@dataclass(frozen=True)
class Choice:
    """A field drawn from a list of values (optimizer, activation, batch_norm, layers ...)."""

    field: str
    choices: tuple

    def suggest(self, trial):
        encoded = [_encode(c) for c in self.choices]
        return self.choices[encoded.index(trial.suggest_categorical(self.field, encoded))]

    def corners(self) -> list:
        return list(self.choices)

    def to_spec(self) -> dict:
        return {"choices": list(self.choices)}

    def narrowed(self, params: list[dict]) -> Choice:
        return self  # coarse to fine narrows numbers; every choice stays in play


def _encode(choice):
    """Optuna stores None, bool, int, float and str choices; lists travel as JSON text."""
    return json.dumps(choice) if isinstance(choice, list | dict) else choice


def narrow(values, low, high, *, log: bool = False, integer: bool = False) -> tuple:
    """[min(values), max(values)] widened a little, rounded outwards, within [low, high].

    The margin on each side is ``MARGIN`` times the larger of the values' span and half the
    range's span, measured in log10 space when ``log``. Floats are rounded outwards to three
    significant digits, integers to the enclosing integers.

    Returns
    -------
    tuple
        ``(new_low, new_high)`` with ``low <= new_low <= min(values)`` and
        ``max(values) <= new_high <= high``.
    """
    to, back = (math.log10, lambda v: 10.0**v) if log else (float, float)
    lo, hi = to(min(values)), to(max(values))
    pad = MARGIN * max(hi - lo, 0.5 * (to(high) - to(low)))
    new_low, new_high = back(lo - pad), back(hi + pad)
    if integer:
        return max(low, math.floor(new_low)), min(high, math.ceil(new_high))
    return max(low, _round_sig(new_low, up=False)), min(high, _round_sig(new_high, up=True))


def _round_sig(x: float, up: bool, digits: int = 3) -> float:
    """x rounded up or down to ``digits`` significant digits (a short decimal in TOML)."""
    if x == 0:
        return 0.0
    exponent = math.floor(math.log10(abs(x))) - digits + 1
    mantissa = (math.ceil if up else math.floor)(x / 10.0**exponent)
    return float(f"{mantissa}e{exponent}")


@dataclass(frozen=True)
class SearchSpace:
    """The ``[search]`` table: one range per searched RunConfig field."""

    ranges: tuple

    @property
    def fields(self) -> list[str]:
        return [r.field for r in self.ranges]

    @classmethod
    def from_dict(cls, table: dict, base: RunConfig) -> SearchSpace:
        """Parse a ``[search]`` table, checking every range against the base config.

        Raises
        ------
        ConfigError
            An unknown field or key, an ill-formed range, or a bound that makes an invalid
            run config; the message names the entry (``search.<field>``).
        """
        if not isinstance(table, dict) or not table:
            raise ConfigError(
                "search: expected a [search] table with at least one entry such as "
                f"learning_rate = {{low = 1e-4, high = 1e-1, log = true}}, got {table!r}"
            )
        return cls(tuple(parse_range(field, spec, base) for field, spec in table.items()))

    def to_dict(self) -> dict:
        return {r.field: r.to_spec() for r in self.ranges}

    def suggest(self, trial, base: RunConfig) -> RunConfig:
        """The run config of a trial: ``base`` with every searched field drawn."""
        values = {r.field: r.suggest(trial) for r in self.ranges}
        return RunConfig.from_dict({**base.to_dict(), **values})

    def narrowed(self, params: list[dict]) -> SearchSpace:
        """Every numeric range narrowed around the given trials' parameters."""
        return SearchSpace(tuple(r.narrowed(params) for r in self.ranges))


# ================================================================ objective
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


def prunable(objective: Objective) -> bool:
    """Whether the pruner's per-epoch metric is the optimized one."""
    return objective.optimize in PRUNED_METRICS


# ----------------------------------------------------------- parsing ranges
KIND_KEYS = {
    "choices": {"choices"},
    "layers": {"count", "width", "log"},
    "one_minus": {"one_minus_low", "one_minus_high"},
    "powers_of_two": {"powers_of_two"},
    "number": {"low", "high", "log", "int"},
}
MARKERS = {
    "choices": {"choices"},
    "layers": {"count", "width"},
    "one_minus": {"one_minus_low", "one_minus_high"},
    "powers_of_two": {"powers_of_two"},
    "number": {"low", "high"},
}
EXAMPLE = "{low = 1e-4, high = 1e-1, log = true}"


def parse_range(field: str, spec, base: RunConfig):
    """One ``[search]`` entry as a range object; see the module docstring for the forms."""
    where = f"search.{field}"
    kind_of_field = _field_kind(field, where)
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a table such as {EXAMPLE}, got {spec!r}")
    kind = _range_kind(spec, where)
    _check_applies(kind, kind_of_field, field, where)
    parsed = PARSERS[kind](field, spec, where, kind_of_field)
    _check_corners(parsed, base, where)
    return parsed


def _field_kind(field: str, where: str) -> str:
    """'int', 'float', 'list' or 'other' for a RunConfig field; ConfigError if unknown."""
    defaults = RunConfig().to_dict()
    if field not in defaults:
        raise ConfigError(
            f"{where}: unknown field {field!r}; searchable fields: {', '.join(defaults)}"
        )
    value = defaults[field]
    if isinstance(value, bool) or isinstance(value, str):
        return "other"
    return {int: "int", float: "float", list: "list"}.get(type(value), "other")


def _range_kind(spec: dict, where: str) -> str:
    kinds = [kind for kind, keys in MARKERS.items() if keys & set(spec)]
    if len(kinds) != 1:
        found = "none" if not kinds else " and ".join(kinds)
        raise ConfigError(
            f"{where}: expected exactly one kind of range (low/high, one_minus_low/"
            f"one_minus_high, powers_of_two, count/width or choices), found {found} in {spec!r}"
        )
    unknown = sorted(set(spec) - KIND_KEYS[kinds[0]])
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} in a {kinds[0]} range; "
            f"expected keys: {', '.join(sorted(KIND_KEYS[kinds[0]]))}"
        )
    return kinds[0]


APPLIES = {
    "choices": {"int", "float", "list", "other"},
    "layers": {"list"},
    "one_minus": {"float"},
    "powers_of_two": {"int"},
    "number": {"int", "float"},
}
HINTS = {
    "list": "count = [min, max], width = [min, max] or choices",
    "other": "choices = [...]",
    "int": "low/high, powers_of_two or choices",
    "float": "low/high, one_minus_low/one_minus_high or choices",
}


def _check_applies(kind: str, field_kind: str, field: str, where: str) -> None:
    if field_kind not in APPLIES[kind]:
        raise ConfigError(
            f"{where}: a {kind} range does not apply to {field} (a {field_kind} field); "
            f"use {HINTS[field_kind]}"
        )


def _parse_number(field, spec, where, field_kind) -> NumberRange:
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where}: a range needs both low and high, got {spec!r}")
    integer = _flag(spec, "int", where, default=field_kind == "int")
    if field_kind == "int" and not integer:
        raise ConfigError(f"{where}: {field} is an integer field; int must be true, got false")
    low = _number(spec["low"], f"{where}.low", integer)
    high = _number(spec["high"], f"{where}.high", integer)
    log = _flag(spec, "log", where)
    _ordered(low, high, where, positive=log)
    return NumberRange(field, low, high, log, integer)


def _parse_one_minus(field, spec, where, field_kind) -> OneMinusRange:
    if set(spec) != KIND_KEYS["one_minus"]:
        raise ConfigError(f"{where}: needs both one_minus_low and one_minus_high, got {spec!r}")
    low = _number(spec["one_minus_low"], f"{where}.one_minus_low")
    high = _number(spec["one_minus_high"], f"{where}.one_minus_high")
    _ordered(low, high, where, positive=True)
    if high >= 1:
        raise ConfigError(f"{where}: one_minus_high must be < 1, got {high!r}")
    return OneMinusRange(field, float(low), float(high))


def _parse_powers(field, spec, where, field_kind) -> PowerOfTwoRange:
    low, high = _pair(spec["powers_of_two"], f"{where}.powers_of_two", minimum=0)
    return PowerOfTwoRange(field, low, high)


def _parse_layers(field, spec, where, field_kind) -> LayersRange:
    for key in ("count", "width"):
        if key not in spec:
            raise ConfigError(f"{where}: needs count = [min, max] and width = [min, max]")
    count = _pair(spec["count"], f"{where}.count", minimum=1)
    width = _pair(spec["width"], f"{where}.width", minimum=1)
    return LayersRange(*count, *width, log=_flag(spec, "log", where))


def _parse_choices(field, spec, where, field_kind) -> Choice:
    choices = spec["choices"]
    if not isinstance(choices, list) or not choices:
        raise ConfigError(f"{where}.choices: expected a non-empty list, got {choices!r}")
    return Choice(field, tuple(choices))


PARSERS = {
    "number": _parse_number,
    "one_minus": _parse_one_minus,
    "powers_of_two": _parse_powers,
    "layers": _parse_layers,
    "choices": _parse_choices,
}


def _number(value, where: str, integer: bool = False):
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or (integer and not isinstance(value, int)):
        raise ConfigError(
            f"{where}: expected {'an integer' if integer else 'a number'}, got {value!r}"
        )
    return value if integer else float(value)


def _flag(spec: dict, key: str, where: str, default: bool = False) -> bool:
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


def _pair(value, where: str, minimum: int) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise ConfigError(f"{where}: expected [min, max] (two integers), got {value!r}")
    low, high = (_number(v, where, integer=True) for v in value)
    if low < minimum:
        raise ConfigError(f"{where}: expected min >= {minimum}, got {low!r}")
    _ordered(low, high, where)
    return low, high


def _ordered(low, high, where: str, positive: bool = False) -> None:
    if low > high:
        raise ConfigError(f"{where}: expected low <= high, got low={low!r} > high={high!r}")
    if positive and low <= 0:
        raise ConfigError(f"{where}: a log-scale range needs low > 0, got low={low!r}")


def _check_corners(parsed, base: RunConfig, where: str) -> None:
    """Every bound or choice must make a valid run config (dropout < 1, l2 >= 0, ...)."""
    for value in parsed.corners():
        try:
            RunConfig.from_dict({**base.to_dict(), parsed.field: value})
        except ConfigError as err:
            raise ConfigError(f"{where}: {str(err).removeprefix('config: ')}") from None


# ============================================================ search files
def load_tune_config(source) -> tuple[RunConfig, SearchSpace, Objective]:
    """The base run config, the search space and the objective of a search config.

    Parameters
    ----------
    source : str, Path, dict or tuple
        A TOML file (run config keys, a ``[search]`` table and optionally an ``[objective]``
        table), the same as a dict, or a tuple ``(RunConfig, SearchSpace or [search] dict)``
        with optionally a third item, an Objective or ``[objective]`` dict.

    Raises
    ------
    ConfigError
        A missing or invalid file, no ``[search]`` table, or an invalid entry.
    """
    if isinstance(source, tuple):
        if len(source) not in (2, 3):
            raise ConfigError(
                "tune: expected (base config, search) or (base config, search, objective), "
                f"got a tuple of {len(source)}"
            )
        base, space, objective = (*source, None)[:3]
        if not isinstance(space, SearchSpace):
            space = SearchSpace.from_dict(space, base)
        return base, space, parse_objective(objective)
    values = _read_toml(source) if isinstance(source, str | os.PathLike) else dict(source)
    if "search" not in values:
        raise ConfigError(
            f"{_stem(source)}: no [search] table; add one, e.g. [search] then "
            f"learning_rate = {EXAMPLE}"
        )
    search = values.pop("search")
    objective = parse_objective(values.pop("objective", None))
    base = RunConfig.from_dict(values)
    return base, SearchSpace.from_dict(search, base), objective


def load_search_config(source) -> tuple[RunConfig, SearchSpace]:
    """The base run config and the search space of a search config (see
    :func:`load_tune_config`; the ``[objective]`` table is checked, then left out)."""
    base, space, _ = load_tune_config(source)
    return base, space


def _read_toml(path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"search config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"search config file {path}: invalid TOML ({err})") from None


def search_config_toml(
    base: RunConfig, space: SearchSpace, objective: Objective | None = None
) -> str:
    """The TOML text of a search config: the base run config, ``[search]``, ``[objective]``.

    The ``[objective]`` table is written when ``objective`` is given.
    """
    lines = [f"{field} = {_toml_value(spec)}" for field, spec in space.to_dict().items()]
    text = base.to_toml() + "\n[search]\n" + "\n".join(lines) + "\n"
    if objective is None:
        return text
    table = objective.to_dict()
    rules = ", ".join(
        f"{json.dumps(name)} = {_toml_value(rule)}" for name, rule in table["constraints"].items()
    )
    return (
        text
        + f"\n[objective]\noptimize = {json.dumps(table['optimize'])}\n"
        + f"direction = {json.dumps(table['direction'])}\n"
        + f"constraints = {{{rules}}}\n"
    )


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"


def _stem(source) -> str:
    return Path(source).stem if isinstance(source, str | os.PathLike) else "search"


# ================================================================= pruning
class PruningCallback(Callback):
    """Report each epoch's dev accuracy to an Optuna trial; stop when it should be pruned.

    The callback only sets ``model.stop_training`` (training ends after the epoch and the run
    folder is still written); call :meth:`raise_if_pruned` after fit to end the trial as
    PRUNED.

    Parameters
    ----------
    trial : optuna.Trial
        Anything with ``report(value, step)`` and ``should_prune()``.
    monitor : str
        The log key to report (the step is the 0-based epoch).
    """

    def __init__(self, trial, monitor: str = "val_accuracy"):
        self.trial = trial
        self.monitor = monitor
        self.pruned_epoch: int | None = None
        self.last_value: float | None = None

    def on_epoch_end(self, epoch, logs):
        if self.monitor not in logs:
            raise ConfigError(
                f"PruningCallback: monitor {self.monitor!r} is not in the logs "
                f"({', '.join(logs)}); training needs validation data"
            )
        self.last_value = float(logs[self.monitor])
        self.trial.report(self.last_value, epoch)
        if self.trial.should_prune():
            self.pruned_epoch = epoch
            self.model.stop_training = True

    def raise_if_pruned(self) -> None:
        """Raise ``optuna.TrialPruned`` if training was stopped by the pruner."""
        if self.pruned_epoch is not None:
            raise optuna.TrialPruned(
                f"{self.monitor} {self.last_value:.4f} after epoch {self.pruned_epoch + 1} "
                "trails the median of earlier trials"
            )


# ================================================================= studies
def default_storage(out_dir) -> str:
    """``sqlite:///<absolute out_dir>/study.db``."""
    return f"sqlite:///{(Path(out_dir) / 'study.db').resolve()}"


def open_study(
    storage: str, study_name: str, prune: bool = True, direction: str = "maximize"
) -> optuna.Study:
    """Create the study (maximizing or minimizing), or load it if ``storage`` already holds it.

    A loaded study keeps the direction it was created with (:func:`_claim` checks it).
    Trials write heartbeats, so a trial whose process was killed is later marked failed.
    """
    engine = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            rdb = optuna.storages.RDBStorage(
                storage,
                engine_kwargs=engine,
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=STALE_AFTER_SECONDS,
            )
    except Exception as err:
        raise TuningError(f"tune: cannot open storage {storage!r}: {err}") from err
    pruner = (
        optuna.pruners.MedianPruner(
            n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=PRUNE_AFTER_EPOCHS
        )
        if prune
        else optuna.pruners.NopPruner()
    )
    return optuna.create_study(
        storage=rdb,
        study_name=study_name,
        direction=direction,
        sampler=optuna.samplers.RandomSampler(),
        pruner=pruner,
        load_if_exists=True,
    )


def _claim(
    study: optuna.Study, base: RunConfig, space: SearchSpace, objective: Objective | None = None
) -> None:
    """Record the search on a new study; refuse to continue a study of another search.

    The search is its base config, ``[search]`` table and objective (a study of an nnlab
    without objectives counts as maximizing dev accuracy), and the study's direction must be
    the objective's.
    """
    objective = objective or default_objective()
    expected = json.loads(
        json.dumps(
            {
                "search": space.to_dict(),
                "base_config": base.to_dict(),
                "objective": objective.to_dict(),
            }
        )
    )
    if study.user_attrs.get("search") is None:
        stored = expected
        for key, value in expected.items():
            study.set_user_attr(key, value)
    else:
        default = default_objective().to_dict()
        stored = {key: study.user_attrs.get(key, default) for key in expected}
    differs = [
        {"base_config": "base config", "search": "[search]", "objective": "[objective]"}[key]
        for key in expected
        if stored[key] != expected[key]
    ]
    direction = study.direction.name.lower()
    if direction != objective.direction:
        differs.append(f"direction: the study is set to {direction}")
    if differs:
        raise ConfigError(
            f"tune: study {study.study_name!r} was started with a different base config or "
            f"[search] table or [objective] ({'; '.join(differs)}); choose another "
            "--study-name or --out (or restore the file)"
        )


def make_sampler(kind: str, seed: int, worker: int = 0, n_before: int = 0):
    """A sampler seeded from (seed, worker, number of trials so far).

    A fresh seed per trial makes a resumed study draw what an uninterrupted one would, and
    keeps workers sharing a study from drawing the same points.
    """
    state = int(np.random.SeedSequence([seed, worker, n_before]).generate_state(1)[0])
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=state, multivariate=True, group=True)


class _Objective:
    """Train one trial's config into ``<out>/trials/<number>/``; return its objective score.

    The trial's metrics (``RESULT_KEYS``) are its user attribute ``results``. A trial that
    violates a constraint ends pruned, with the user attribute ``violations``.
    """

    def __init__(
        self, base, space, objective: Objective, out_dir: Path, prune: bool, worker: int, on_start
    ):
        self.base, self.space, self.objective, self.out_dir = base, space, objective, out_dir
        self.prune, self.worker, self.on_start = prune, worker, on_start
        self._data = {}

    def __call__(self, trial) -> float:
        from ..runs.runner import CHECKPOINT, train

        self.on_start()  # the trial exists in the study now
        config = self.space.suggest(trial, self.base)
        trial.set_user_attr("config", config.to_dict())
        trial.set_user_attr("worker", self.worker)
        monitor = PRUNED_METRICS.get(self.objective.optimize)
        pruning = PruningCallback(trial, monitor) if self.prune and monitor else None
        run_dir = self.out_dir / "trials" / str(trial.number)
        data = self.data(config)
        result = train(
            config,
            run_dir,
            verbose=0,
            data=data,
            extra_callbacks=[pruning] if pruning else [],
        )
        (run_dir / CHECKPOINT).unlink(missing_ok=True)  # the final model stays; saves space
        _record(trial, result)
        results = trial_results(result.model, result.metrics, data)
        trial.set_user_attr("results", results)
        if not math.isfinite(result.metrics["dev"]["loss"]):
            raise optuna.TrialPruned(f"diverged: {result.metrics.get('stop_reason', '')}")
        if pruning:
            pruning.raise_if_pruned()
        score = self.objective.score(results)
        if score is None:
            violations = self.objective.violations(results) or [f"{self.objective.optimize} is NaN"]
            trial.set_user_attr("violations", violations)
            raise optuna.TrialPruned(f"infeasible: {'; '.join(violations)}")
        return score

    def data(self, config: RunConfig):
        """The dataset, loaded once per process (per dataset / image or flat / dev split /
        scaling): the key holds every config field that ``load_data`` reads."""
        from ..runs.runner import load_data

        images = config.model != "mlp"  # load_data keeps images 4-D for CNNs only
        key = (config.dataset, images, config.dev_size, config.seed, config.standardize)
        if key not in self._data:
            self._data[key] = load_data(config)
        return self._data[key]


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


def _record(trial, result) -> None:
    trial.set_user_attr("train_accuracy", float(result.metrics["train"]["accuracy"]))
    trial.set_user_attr("dev_loss", float(result.metrics["dev"]["loss"]))
    trial.set_user_attr("epochs", len(result.history.epoch))
    trial.set_user_attr("seconds", round(result.seconds, 2))


class _Progress:
    """Prints one line per finished trial (an Optuna optimize callback)."""

    def __init__(self, n_trials: int, prefix: str = "", objective: Objective | None = None):
        self.n_trials, self.prefix = n_trials, prefix
        self.objective = objective or default_objective()

    def __call__(self, study, trial) -> None:
        row = _row(trial, self.objective, [])
        done = len(study.get_trials(deepcopy=False, states=FINISHED))
        name = self.objective.optimize
        value = row[_column(name)]
        score = "" if value is None else f"{metric_label(name)} {format_metric(name, value)} "
        if trial.user_attrs.get("violations"):
            score += f"({'; '.join(trial.user_attrs['violations'])}) "
        print(
            f"{self.prefix}trial {trial.number:>3} {row['state']:<10} {score}after "
            f"{row['epochs']} epoch(s), {row['seconds']} s [{done}/{self.n_trials}] "
            f"{json.dumps(trial.params)}",
            file=sys.stderr,
            flush=True,
        )


def run_worker(
    config,
    n_trials: int,
    *,
    storage: str,
    study_name: str,
    out_dir,
    sampler: str = "random",
    seed: int = 0,
    prune: bool = True,
    worker: int | None = None,
    verbose: bool = True,
) -> optuna.Study:
    """Run trials of a shared study until it has ``n_trials`` finished ones.

    Several processes may run this on one study at the same time (``nnlab tune --workers``),
    each with its own ``worker`` number; each trial is counted once. The study is created if
    ``storage`` does not hold it yet. ``config`` is a search config (see
    :func:`load_tune_config`); its objective scores the trials.

    Returns
    -------
    optuna.Study
    """
    base, space, objective = load_tune_config(config)
    prune = prune and prunable(objective)  # the pruner compares dev accuracy per epoch
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    study = open_study(storage, study_name, prune, objective.direction)
    _claim(study, base, space, objective)
    lock = _SlotLock(Path(out_dir) / "study.lock")
    prefix = "" if worker is None else f"[worker {worker}] "
    worker = worker or 0
    train_trial = _Objective(
        base, space, objective, Path(out_dir), prune, worker, on_start=lock.release
    )
    callbacks = [_Progress(n_trials, prefix, objective)] if verbose else []
    while (n_before := _wait_for_slot(study, n_trials, lock, verbose)) is not None:
        try:
            study.sampler = make_sampler(sampler, seed, worker, n_before)
            study.optimize(train_trial, n_trials=1, callbacks=callbacks)
        finally:
            lock.release()
    return study


class _SlotLock:
    """An exclusive lock on a file, shared by the worker processes of one output folder.

    A worker holds it from counting the study's trials until its new trial exists, so two
    workers never both take the last free slot. (Workers on other machines, sharing only the
    storage, can overshoot ``n_trials`` by a trial or two.) Without ``fcntl`` it does nothing.
    """

    def __init__(self, path: Path):
        self.path = path
        self._handle = None

    def acquire(self) -> None:
        if fcntl is not None and self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a")
            fcntl.flock(self._handle, fcntl.LOCK_EX)

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _wait_for_slot(study, n_trials: int, lock: _SlotLock, verbose: bool) -> int | None:
    """The number of trials so far when one more may start (``lock`` held); None when done.

    While the running trials of other processes would complete the study, wait: if one of
    them was killed, it goes stale and is failed, and its slot becomes free again.
    """
    since, told = time.monotonic(), False
    while True:
        lock.acquire()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state in FINISHED for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if finished + running < n_trials:
            return len(trials)
        lock.release()
        if finished >= n_trials:
            return None
        if verbose and not told and time.monotonic() - since > 2 * HEARTBEAT_SECONDS:
            print(
                f"waiting for {running} running trial(s) of other processes (a trial whose "
                f"process died is failed {STALE_AFTER_SECONDS} s after its last heartbeat)",
                file=sys.stderr,
            )
            told = True
        time.sleep(WAIT_SECONDS)


def _spawn_workers(search_file: Path, n_trials: int, workers: int, options: dict) -> None:
    """Run ``workers`` worker processes on the study and wait for all of them."""
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, threads)  # share the cores instead of oversubscribing them
    procs = [
        subprocess.Popen(_worker_command(search_file, n_trials, k, options), env=env)
        for k in range(workers)
    ]
    try:
        codes = [proc.wait() for proc in procs]
    except BaseException:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()
        raise
    failed = {k: code for k, code in enumerate(codes) if code != 0}
    if failed:
        raise TuningError(f"tune: worker process(es) failed (worker: exit code) {failed}")


def _worker_command(search_file: Path, n_trials: int, worker: int, options: dict) -> list[str]:
    command = [sys.executable, "-m", "nnlab.cli", "tune", str(search_file), "--worker", str(worker)]
    command += ["--trials", str(n_trials), "--sampler", options["sampler"]]
    command += ["--storage", options["storage"], "--study-name", options["study_name"]]
    command += ["--out", str(options["out_dir"]), "--seed", str(options["seed"])]
    command += [] if options["prune"] else ["--no-prune"]
    return command + ([] if options["verbose"] else ["--quiet"])


# ================================================================= results
@dataclass
class TuneResult:
    """A finished study and what was written about it.

    Attributes
    ----------
    study : optuna.Study
    base : RunConfig
        The config every trial starts from.
    space : SearchSpace
    out_dir : Path
    storage : str
        The storage URL (a rerun with it continues the study).
    n_trials : int
    rows : list of dict
        The ranked table (as in trials.csv).
    best_config : RunConfig or None
        The best feasible trial's config (None when no trial completed feasible).
    notes : list of str
        Outputs that were skipped, pruning turned off, and why.
    objective : Objective
        What ranks the trials (default: maximize dev accuracy).
    """

    study: optuna.Study
    base: RunConfig
    space: SearchSpace
    out_dir: Path
    storage: str
    n_trials: int
    rows: list
    best_config: RunConfig | None
    notes: list
    objective: Objective = dataclasses.field(default_factory=default_objective)

    @property
    def best_trial(self):
        """The best feasible trial (a FrozenTrial), or None."""
        return best_trial(self.study, self.objective)

    @property
    def best_value(self) -> float | None:
        best = self.best_trial
        return None if best is None else best.value


def tune(
    config,
    n_trials: int = 30,
    *,
    sampler: str = "random",
    storage: str | None = None,
    study_name: str | None = None,
    workers: int = 1,
    seed: int = 0,
    prune: bool = True,
    out_dir=None,
    verbose: bool = True,
) -> TuneResult:
    """Search hyperparameters: run (or continue) a study of ``n_trials`` finished trials.

    Parameters
    ----------
    config : str, Path, dict or tuple
        A search config (see :func:`load_search_config`).
    n_trials : int
        Finished (complete or pruned) trials the study should hold; those of an earlier run
        with the same storage and study name count.
    sampler : {"random", "tpe"}
        Random search (the course's advice) or Optuna's TPE.
    storage : str, optional
        An Optuna RDB URL; default ``sqlite:///<out_dir>/study.db``.
    study_name : str, optional
        Default ``tune-<config file stem>``.
    workers : int
        With more than 1, that many worker processes share the study.
    seed : int
        The sampler seed (each trial trains with the config's own ``seed``).
    prune : bool
        Stop trials whose dev accuracy trails the median (MedianPruner); only when the
        objective optimizes dev accuracy (a note says when it is turned off).
    out_dir : str or Path, optional
        Default ``runs/tune-<config file stem>``.
    verbose : bool
        Print a line per finished trial on stderr.

    Returns
    -------
    TuneResult
        Also written to ``out_dir``: trials.csv, best_config.toml and the plots.

    Raises
    ------
    NoFeasibleTrialError
        Trials were trained but none meets the objective's constraints (the files are
        written; the error's ``result`` is the TuneResult).
    """
    _check_options(n_trials, sampler, workers, seed)
    base, space, objective = load_tune_config(config)
    notes = []
    if prune and not prunable(objective):
        prune = False
        notes.append(
            f"pruning off: the pruner compares dev accuracy after each epoch, the objective "
            f"optimizes {objective.optimize}"
        )
        if verbose:
            print(f"note: {notes[-1]}", file=sys.stderr)
    out_dir = Path(out_dir) if out_dir is not None else Path("runs") / f"tune-{_stem(config)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    storage = storage or default_storage(out_dir)
    study = open_study(storage, study_name or f"tune-{_stem(config)}", prune, objective.direction)
    _claim(study, base, space, objective)
    search_file = out_dir / "search.toml"
    search_file.write_text(search_config_toml(base, space, objective))
    options = dict(storage=storage, study_name=study.study_name, out_dir=out_dir)
    options.update(sampler=sampler, seed=seed, prune=prune, verbose=verbose)
    if workers == 1:
        run_worker((base, space, objective), n_trials, **options)
    else:
        _spawn_workers(search_file, n_trials, workers, options)
    result = write_results(study, base, space, out_dir, storage, n_trials, objective, notes)
    _check_feasible(result)
    return result


def _check_options(n_trials, sampler, workers, seed) -> None:
    for name, value, minimum in (
        ("n_trials", n_trials, 1),
        ("workers", workers, 1),
        ("seed", seed, 0),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ConfigError(f"tune: {name} must be an integer >= {minimum}, got {value!r}")
    if sampler not in SAMPLERS:
        raise ConfigError(f"tune: sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")


def write_results(
    study,
    base,
    space,
    out_dir: Path,
    storage: str,
    n_trials: int,
    objective: Objective | None = None,
    notes=(),
) -> TuneResult:
    """Write trials.csv, best_config.toml and the plots; return the TuneResult."""
    objective = objective or default_objective()
    rows = trial_rows(study, space, objective)
    write_trials_csv(rows, out_dir / "trials.csv")
    notes = list(notes)
    best = write_best_config(study, out_dir / "best_config.toml", objective)
    if best is None:
        infeasible = any(row["state"] == "infeasible" for row in rows)
        why = "no trial met the [objective] constraints" if infeasible else "no trial completed"
        notes.append(f"best_config.toml not written: {why}")
    notes += write_plots(study, out_dir, objective)
    return TuneResult(study, base, space, out_dir, storage, n_trials, rows, best, notes, objective)


def _check_feasible(result: TuneResult) -> None:
    """Raise NoFeasibleTrialError when trials were infeasible and none completed."""
    infeasible = [row for row in result.rows if row["state"] == "infeasible"]
    if result.best_config is not None or not infeasible:
        return
    rules = describe(result.objective).partition(" subject to ")[2]
    examples = "; ".join(f"trial {row['number']}: {row['violations']}" for row in infeasible[:3])
    more = f"; ... ({len(infeasible) - 3} more)" if len(infeasible) > 3 else ""
    raise NoFeasibleTrialError(
        f"tune: no feasible trial in study {result.study.study_name!r}: every trained trial "
        f"violates the [objective] constraints {rules} ({examples}{more}); relax the "
        f"constraints or change the [search] ranges (the trials are in "
        f"{result.out_dir / 'trials.csv'})",
        result,
    )


# ============================================================ coarse to fine
def refine_space(study, space: SearchSpace, top_fraction: float = TOP_FRACTION) -> SearchSpace:
    """The search space narrowed around the best ``max(3, top_fraction)`` complete trials.

    Raises
    ------
    ConfigError
        The study has no complete trial.
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise ConfigError(f"refine: study {study.study_name!r} has no complete trial to refine")
    sign = 1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1.0
    ranked = sorted(complete, key=lambda t: (sign * t.value, t.number))
    k = min(len(ranked), max(MIN_TOP, math.ceil(top_fraction * len(ranked))))
    return space.narrowed([t.params for t in ranked[:k]])


def tune_refine(result: TuneResult, n_trials: int | None = None, **options) -> TuneResult:
    """Coarse to fine: a second study on the ranges narrowed around ``result``'s best trials.

    The narrowed search (with the same objective) is written to
    ``<out>/refined_search.toml``; the study (named
    ``<study>-refined``, in the same storage) runs into ``<out>/refined/``.

    Parameters
    ----------
    result : TuneResult
        The coarse search.
    n_trials : int, optional
        Default: the coarse search's.
    **options
        ``sampler``, ``workers``, ``seed``, ``prune``, ``verbose`` as for :func:`tune`.
    """
    space = refine_space(result.study, result.space)
    path = result.out_dir / "refined_search.toml"
    path.write_text(search_config_toml(result.base, space, result.objective))
    return tune(
        path,
        n_trials or result.n_trials,
        storage=result.storage,
        study_name=f"{result.study.study_name}-refined",
        out_dir=result.out_dir / "refined",
        **options,
    )


# ================================================================= reports
def trial_rows(study, space: SearchSpace, objective: Objective | None = None) -> list[dict]:
    """One dict per trial, best first.

    The trials trained to the end are ranked by ``objective.rank`` over their results:
    complete (feasible) ones best first, then the infeasible ones; then the trials stopped by
    the pruner (or diverged), ranked the same way on their results; then failed or running
    ones. Columns: number, state (``infeasible`` for a trial pruned for a violated
    constraint), the optimized metric, ``feasible``, the constrained metrics, dev accuracy,
    epochs, seconds, the searched fields, and ``violations`` when there are constraints.
    """
    objective = objective or default_objective()
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    trained = [t for t in trials if t.state == TrialState.COMPLETE or _infeasible(t)]
    stopped = [t for t in trials if t.state == TrialState.PRUNED and not _infeasible(t)]
    placed = {t.number for t in trained + stopped}
    others = [t for t in trials if t.number not in placed]
    ordered = rank_trials(trained, objective) + rank_trials(stopped, objective) + others
    return [_row(t, objective, space.fields) for t in ordered]


def rank_trials(trials, objective: Objective) -> list:
    """The trials ordered by ``objective.rank`` over their results (ties: given order)."""
    results = [trial_results_of(t, objective) for t in trials]
    by_id = {id(r): t for r, t in zip(results, trials, strict=True)}
    return [by_id[id(r)] for r in objective.rank(results)]


def best_trial(study, objective: Objective | None = None):
    """The best complete trial by the objective (every complete trial is feasible), or None."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    ranked = rank_trials(complete, objective or default_objective())
    return ranked[0] if ranked else None


def trial_results_of(trial, objective: Objective) -> dict:
    """A trial's results (user attribute ``results``), with NaN for what it did not measure.

    A trial of an nnlab without objectives has no ``results``: its dev accuracy is its value
    (complete) or its last reported one (pruned), its dev loss and train accuracy its
    attributes. A NaN optimized or constrained metric makes the trial infeasible in a ranking.
    """
    results = dict(trial.user_attrs.get("results") or {})
    if not results:
        value = trial.value if trial.state == TrialState.COMPLETE else None
        steps = trial.intermediate_values
        if value is None and steps:
            value = steps[max(steps)]
        old = {
            DEFAULT_METRIC: value,
            "dev.loss": trial.user_attrs.get("dev_loss"),
            "train.accuracy": trial.user_attrs.get("train_accuracy"),
        }
        results = {key: value for key, value in old.items() if value is not None}
    for name in (objective.optimize, *objective.constraints):
        results.setdefault(name, math.nan)
    return results


def _infeasible(trial) -> bool:
    return trial.state == TrialState.PRUNED and bool(trial.user_attrs.get("violations"))


def _column(metric: str) -> str:
    """A metric's column in trials.csv: ``dev.f1`` -> ``dev_f1``."""
    return metric.replace(".", "_")


def _row(trial, objective: Objective, fields) -> dict:
    results = trial_results_of(trial, objective)
    metrics = [objective.optimize, *(c for c in objective.constraints if c != objective.optimize)]
    if DEFAULT_METRIC not in metrics:
        metrics.append(DEFAULT_METRIC)
    values = {_column(m): _finite_or_none(results.get(m)) for m in metrics}
    if trial.state == TrialState.COMPLETE:
        values[_column(objective.optimize)] = trial.value
    infeasible = _infeasible(trial)
    feasible = "yes" if trial.state == TrialState.COMPLETE else "no" if infeasible else None
    config = trial.user_attrs.get("config", {})
    row = {
        "number": trial.number,
        "state": "infeasible" if infeasible else trial.state.name.lower(),
        _column(objective.optimize): values.pop(_column(objective.optimize)),
        "feasible": feasible,
        **values,
        "epochs": trial.user_attrs.get("epochs"),
        "seconds": trial.user_attrs.get("seconds"),
        **{field: config.get(field) for field in fields},
    }
    if objective.constraints:
        row["violations"] = "; ".join(trial.user_attrs.get("violations", [])) or None
    return row


def _finite_or_none(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def write_trials_csv(rows: list[dict], path) -> Path:
    """The ranked table as CSV (a ``rank`` column first)."""
    path = Path(path)
    with path.open("w", newline="") as handle:
        fields = ["rank", *rows[0]] if rows else ["rank", "number", "state", "dev_accuracy"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows({"rank": i + 1, **row} for i, row in enumerate(rows))
    return path


def format_table(rows: list[dict], limit: int | None = TABLE_ROWS, hide=("violations",)) -> str:
    """The ranked table as aligned text (the first ``limit`` rows, without ``hide`` columns)."""
    if not rows:
        return "(no trials)"
    keys = [k for k in rows[0] if k not in hide]
    header = ["rank", *(k.replace("_", " ") for k in keys)]
    cells = [[str(i + 1), *(_cell(row[k]) for k in keys)] for i, row in enumerate(rows)]
    shown = cells[:limit] if limit else cells
    widths = [max(len(line[j]) for line in [header, *shown]) for j in range(len(header))]
    lines = [
        "  ".join(text.rjust(w) for text, w in zip(line, widths, strict=True))
        for line in [header, *shown]
    ]
    if len(shown) < len(cells):
        lines.append(f"... {len(cells) - len(shown)} more in trials.csv")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "-".join(str(v) for v in value) or "[]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_best_config(study, path, objective: Objective | None = None) -> RunConfig | None:
    """The best feasible trial's config as a plain run config file; None if there is none."""
    objective = objective or default_objective()
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    path = Path(path)
    best = best_trial(study, objective)
    if best is None:
        path.unlink(missing_ok=True)  # never leave the best of an older study behind
        return None
    config = RunConfig.from_dict(best.user_attrs["config"])
    kind = "feasible" if objective.constraints else "complete"
    custom = "" if objective == default_objective() else f"; {describe(objective)}"
    path.write_text(
        f"# Best of study {study.study_name!r}: trial {best.number}, "
        f"{metric_label(objective.optimize)} {best.value:.4f} ({len(complete)} {kind} "
        f"trials{custom}).\n"
        f"# Reproduce it: nnlab train --config {path}\n" + config.to_toml()
    )
    return config


PLOTS = (
    ("optimization_history", "plot_optimization_history", 1),
    ("param_importances", "plot_param_importances", 2),
    ("slice", "plot_slice", 1),
)


def write_plots(study, out_dir, objective: Objective | None = None) -> list[str]:
    """optimization_history.png, param_importances.png and slice.png; notes on skipped ones.

    The value axis is named after the optimized metric; the optimization history's title
    gives the whole objective (infeasible trials, pruned, are not plotted).
    """
    objective = objective or default_objective()
    import optuna.visualization.matplotlib as vis

    from ..practice.plots import plt  # pyplot with the Agg backend selected before any figure

    n_complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    notes = []
    for name, function, needed in PLOTS:
        path = Path(out_dir) / f"{name}.png"
        path.unlink(missing_ok=True)
        if n_complete < needed:
            notes.append(f"{path.name} skipped: needs {needed} complete trials, have {n_complete}")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = getattr(vis, function)(study, target_name=objective.optimize)
            first = np.ravel(axes)[0]
            if name == "optimization_history":
                first.set_title(f"{first.get_title()}: {describe(objective)}")
            figure = first.figure
            figure.savefig(path, dpi=80, bbox_inches="tight")
            plt.close(figure)
        except Exception as err:  # a plot is a nicety: never lose the study over it
            notes.append(f"{path.name} skipped: {type(err).__name__}: {err}")
    return notes


# ===================================================================== CLI
def add_command(subparsers) -> None:
    """Register ``nnlab tune`` on the CLI's subparsers."""
    tune_parser = subparsers.add_parser(
        "tune",
        help="search hyperparameters (random search, coarse to fine)",
        description=__doc__.split("\n\n")[0],
    )
    tune_parser.add_argument(
        "config", help="a run config with a [search] table and optionally an [objective] (TOML)"
    )
    tune_parser.add_argument(
        "--trials", type=int, default=30, help="finished trials the study should hold"
    )
    tune_parser.add_argument("--sampler", choices=SAMPLERS, default="random")
    tune_parser.add_argument("--workers", type=int, default=1, help="processes sharing the study")
    tune_parser.add_argument(
        "--storage", help="Optuna storage URL (default sqlite:///OUT/study.db)"
    )
    tune_parser.add_argument("--study-name", help="default: tune-<config stem>")
    tune_parser.add_argument("--out", help="output folder (default runs/tune-<config stem>)")
    tune_parser.add_argument(
        "--refine", action="store_true", help="then a second study on narrowed ranges"
    )
    tune_parser.add_argument(
        "--no-prune", dest="prune", action="store_false", help="train every trial to the end"
    )
    tune_parser.add_argument("--seed", type=int, default=0, help="sampler seed")
    tune_parser.add_argument("--quiet", action="store_true", help="no line per trial")
    tune_parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    tune_parser.set_defaults(handler=cmd_tune)


def cmd_tune(args) -> int:
    """``nnlab tune``: run the search (and the refined one), print the ranked tables."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.worker is not None:
        return _cmd_worker(args)
    options = dict(sampler=args.sampler, workers=args.workers, seed=args.seed, prune=args.prune)
    options["verbose"] = not args.quiet
    try:
        result = _printed(
            tune,
            args.config,
            args.trials,
            storage=args.storage,
            study_name=args.study_name,
            out_dir=args.out,
            **options,
        )
        if args.refine:
            _printed(tune_refine, result, args.trials, **options)
    except KeyboardInterrupt:
        print("\nnnlab: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    return 0


def _printed(search, *args, **kwargs) -> TuneResult:
    """Run ``search`` (tune or tune_refine) and print its result, also when none is feasible."""
    try:
        result = search(*args, **kwargs)
    except NoFeasibleTrialError as err:
        print_result(err.result)  # the table of infeasible trials, then the error
        raise
    print_result(result)
    return result


def _cmd_worker(args) -> int:
    if not (args.storage and args.study_name and args.out) or args.worker < 0:
        raise ConfigError(
            "tune --worker K (K >= 0) needs --storage, --study-name and --out, "
            f"got worker {args.worker}, {args.storage!r}, {args.study_name!r}, {args.out!r}"
        )
    run_worker(
        args.config,
        args.trials,
        storage=args.storage,
        study_name=args.study_name,
        out_dir=args.out,
        sampler=args.sampler,
        seed=args.seed,
        prune=args.prune,
        worker=args.worker,
        verbose=not args.quiet,
    )
    return 0


def print_result(result: TuneResult) -> None:
    """The study's summary, ranked table, best config path and notes, on stdout."""
    states = [row["state"] for row in result.rows]
    counts = {state: states.count(state) for state in ("complete", "infeasible", "pruned")}
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n or state != "infeasible")
    print(
        f"\nstudy {result.study.study_name!r} ({describe(result.objective)}): {summary}, "
        f"{len(states) - sum(counts.values())} other trials -> {result.out_dir}"
    )
    print(format_table(result.rows))
    best = result.best_trial
    if result.best_config is not None and best is not None:
        name = result.objective.optimize
        print(
            f"best {metric_label(name)} {format_metric(name, best.value)} (trial {best.number}): "
            f"nnlab train --config {result.out_dir / 'best_config.toml'}"
        )
    for note in result.notes:
        print(f"note: {note}")
