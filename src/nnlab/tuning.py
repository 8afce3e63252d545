"""Hyperparameter search (course 2, week 3): random search, coarse to fine, Optuna studies.

``nnlab tune search.toml`` runs a study whose trials are ordinary training runs. The file is
a run config (see :mod:`nnlab.config`) plus a ``[search]`` table of the fields to sample, each
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
by TPE on request (``sampler="tpe"``). Each trial trains into ``<out>/trials/<number>/`` and
scores its dev-set accuracy (maximized). A MedianPruner stops a trial whose dev accuracy after
an epoch trails the median of earlier trials at that epoch.

Studies live in an Optuna storage (default ``sqlite:///<out>/study.db``): rerunning the same
command continues the study until it has ``n_trials`` finished (complete or pruned) trials, and
``workers`` processes share one study. A running trial records a heartbeat every
``HEARTBEAT_SECONDS``; one silent for ``STALE_AFTER_SECONDS`` (its process was killed) is marked
failed and its slot is trained again.

``tune_refine`` (``--refine``) is the coarse-to-fine step: a second study on ranges narrowed to
the best trials' values (the top ``max(3, 20%)`` complete trials, widened a little, in log10
space for log ranges).

Files in ``<out>``: ``search.toml`` (the search that ran), ``trials.csv`` (the ranked table),
``best_config.toml`` (a plain run config: ``nnlab train --config`` reproduces the best trial),
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

from .callbacks import Callback
from .config import RunConfig
from .errors import ConfigError, NNLabError

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


class TuningError(NNLabError, RuntimeError):
    """A search could not run: a worker process failed or the storage could not be opened."""


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
def load_search_config(source) -> tuple[RunConfig, SearchSpace]:
    """The base run config and the search space of a search config.

    Parameters
    ----------
    source : str, Path, dict or tuple
        A TOML file (run config keys plus a ``[search]`` table), the same as a dict, or a
        pair ``(RunConfig, SearchSpace or [search] dict)``.

    Raises
    ------
    ConfigError
        A missing or invalid file, no ``[search]`` table, or an invalid entry.
    """
    if isinstance(source, tuple):
        base, space = source
        return base, space if isinstance(space, SearchSpace) else SearchSpace.from_dict(space, base)
    values = _read_toml(source) if isinstance(source, str | os.PathLike) else dict(source)
    if "search" not in values:
        raise ConfigError(
            f"{_stem(source)}: no [search] table; add one, e.g. [search] then "
            f"learning_rate = {EXAMPLE}"
        )
    search = values.pop("search")
    base = RunConfig.from_dict(values)
    return base, SearchSpace.from_dict(search, base)


def _read_toml(path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"search config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"search config file {path}: invalid TOML ({err})") from None


def search_config_toml(base: RunConfig, space: SearchSpace) -> str:
    """The TOML text of a search config: the base run config, then ``[search]``."""
    lines = [f"{field} = {_toml_value(spec)}" for field, spec in space.to_dict().items()]
    return base.to_toml() + "\n[search]\n" + "\n".join(lines) + "\n"


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


def open_study(storage: str, study_name: str, prune: bool = True) -> optuna.Study:
    """Create the study (maximizing), or load it if ``storage`` already holds it.

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
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(),
        pruner=pruner,
        load_if_exists=True,
    )


def _claim(study: optuna.Study, base: RunConfig, space: SearchSpace) -> None:
    """Record the search on a new study; refuse to continue a study of another search."""
    expected = json.loads(json.dumps({"search": space.to_dict(), "base_config": base.to_dict()}))
    stored = {key: study.user_attrs.get(key) for key in expected}
    if stored["search"] is None:
        for key, value in expected.items():
            study.set_user_attr(key, value)
    elif stored != expected:
        raise ConfigError(
            f"tune: study {study.study_name!r} was started with a different base config or "
            "[search] table; choose another --study-name or --out (or restore the file)"
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
    """Train one trial's config into ``<out>/trials/<number>/``; return its dev accuracy."""

    def __init__(self, base, space, out_dir: Path, prune: bool, worker: int, on_start):
        self.base, self.space, self.out_dir = base, space, out_dir
        self.prune, self.worker, self.on_start = prune, worker, on_start
        self._data = {}

    def __call__(self, trial) -> float:
        from .training import CHECKPOINT, train

        self.on_start()  # the trial exists in the study now
        config = self.space.suggest(trial, self.base)
        trial.set_user_attr("config", config.to_dict())
        trial.set_user_attr("worker", self.worker)
        pruning = PruningCallback(trial) if self.prune else None
        run_dir = self.out_dir / "trials" / str(trial.number)
        result = train(
            config,
            run_dir,
            verbose=0,
            data=self.data(config),
            extra_callbacks=[pruning] if pruning else [],
        )
        (run_dir / CHECKPOINT).unlink(missing_ok=True)  # the final model stays; saves space
        _record(trial, result)
        if not math.isfinite(result.metrics["dev"]["loss"]):
            raise optuna.TrialPruned(f"diverged: {result.metrics.get('stop_reason', '')}")
        if pruning:
            pruning.raise_if_pruned()
        return float(result.metrics["dev"]["accuracy"])

    def data(self, config: RunConfig):
        """The dataset, loaded once per process (per dataset / dev split / scaling)."""
        from .training import load_data

        key = (config.dataset, config.dev_size, config.seed, config.standardize)
        if key not in self._data:
            self._data[key] = load_data(config)
        return self._data[key]


def _record(trial, result) -> None:
    trial.set_user_attr("train_accuracy", float(result.metrics["train"]["accuracy"]))
    trial.set_user_attr("dev_loss", float(result.metrics["dev"]["loss"]))
    trial.set_user_attr("epochs", len(result.history.epoch))
    trial.set_user_attr("seconds", round(result.seconds, 2))


class _Progress:
    """Prints one line per finished trial (an Optuna optimize callback)."""

    def __init__(self, n_trials: int, prefix: str = ""):
        self.n_trials, self.prefix = n_trials, prefix

    def __call__(self, study, trial) -> None:
        row = _row(trial, [])
        done = len(study.get_trials(deepcopy=False, states=FINISHED))
        score = "" if row["dev_accuracy"] is None else f"dev {row['dev_accuracy']:.2%} "
        print(
            f"{self.prefix}trial {trial.number:>3} {row['state']:<8} {score}after "
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
    ``storage`` does not hold it yet.

    Returns
    -------
    optuna.Study
    """
    base, space = load_search_config(config)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    study = open_study(storage, study_name, prune)
    _claim(study, base, space)
    lock = _SlotLock(Path(out_dir) / "study.lock")
    prefix = "" if worker is None else f"[worker {worker}] "
    worker = worker or 0
    objective = _Objective(base, space, Path(out_dir), prune, worker, on_start=lock.release)
    callbacks = [_Progress(n_trials, prefix)] if verbose else []
    while (n_before := _wait_for_slot(study, n_trials, lock, verbose)) is not None:
        try:
            study.sampler = make_sampler(sampler, seed, worker, n_before)
            study.optimize(objective, n_trials=1, callbacks=callbacks)
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
        The best complete trial's config (None when no trial completed).
    notes : list of str
        Outputs that were skipped, and why.
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

    @property
    def best_value(self) -> float | None:
        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return self.study.best_value if complete else None


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
        Stop trials whose dev accuracy trails the median (MedianPruner).
    out_dir : str or Path, optional
        Default ``runs/tune-<config file stem>``.
    verbose : bool
        Print a line per finished trial on stderr.

    Returns
    -------
    TuneResult
        Also written to ``out_dir``: trials.csv, best_config.toml and the plots.
    """
    _check_options(n_trials, sampler, workers, seed)
    base, space = load_search_config(config)
    out_dir = Path(out_dir) if out_dir is not None else Path("runs") / f"tune-{_stem(config)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    storage = storage or default_storage(out_dir)
    study = open_study(storage, study_name or f"tune-{_stem(config)}", prune)
    _claim(study, base, space)
    search_file = out_dir / "search.toml"
    search_file.write_text(search_config_toml(base, space))
    options = dict(storage=storage, study_name=study.study_name, out_dir=out_dir)
    options.update(sampler=sampler, seed=seed, prune=prune, verbose=verbose)
    if workers == 1:
        run_worker((base, space), n_trials, **options)
    else:
        _spawn_workers(search_file, n_trials, workers, options)
    return write_results(study, base, space, out_dir, storage, n_trials)


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


def write_results(study, base, space, out_dir: Path, storage: str, n_trials: int) -> TuneResult:
    """Write trials.csv, best_config.toml and the plots; return the TuneResult."""
    rows = trial_rows(study, space)
    write_trials_csv(rows, out_dir / "trials.csv")
    notes = []
    best = write_best_config(study, out_dir / "best_config.toml")
    if best is None:
        notes.append("best_config.toml not written: no trial completed")
    notes += write_plots(study, out_dir)
    return TuneResult(study, base, space, out_dir, storage, n_trials, rows, best, notes)


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
    ranked = sorted(complete, key=lambda t: (-t.value, t.number))
    k = min(len(ranked), max(MIN_TOP, math.ceil(top_fraction * len(ranked))))
    return space.narrowed([t.params for t in ranked[:k]])


def tune_refine(result: TuneResult, n_trials: int | None = None, **options) -> TuneResult:
    """Coarse to fine: a second study on the ranges narrowed around ``result``'s best trials.

    The narrowed search is written to ``<out>/refined_search.toml``; the study (named
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
    path.write_text(search_config_toml(result.base, space))
    return tune(
        path,
        n_trials or result.n_trials,
        storage=result.storage,
        study_name=f"{result.study.study_name}-refined",
        out_dir=result.out_dir / "refined",
        **options,
    )


# ================================================================= reports
def trial_rows(study, space: SearchSpace) -> list[dict]:
    """One dict per trial, best first: complete by dev accuracy, then pruned, then others.

    A pruned trial's dev accuracy is the last one it reported.
    """
    order = {"complete": 0, "pruned": 1}
    rows = [_row(t, space.fields) for t in study.get_trials(deepcopy=False)]
    return sorted(
        rows,
        key=lambda r: (
            order.get(r["state"], 2),
            -(r["dev_accuracy"] if r["dev_accuracy"] is not None else -math.inf),
            r["number"],
        ),
    )


def _row(trial, fields) -> dict:
    if trial.state == TrialState.COMPLETE:
        score = trial.value
    else:
        steps = trial.intermediate_values
        score = steps[max(steps)] if steps else None
    config = trial.user_attrs.get("config", {})
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "dev_accuracy": score,
        "epochs": trial.user_attrs.get("epochs"),
        "seconds": trial.user_attrs.get("seconds"),
        **{field: config.get(field) for field in fields},
    }


def write_trials_csv(rows: list[dict], path) -> Path:
    """The ranked table as CSV (a ``rank`` column first)."""
    path = Path(path)
    with path.open("w", newline="") as handle:
        fields = ["rank", *rows[0]] if rows else ["rank", "number", "state", "dev_accuracy"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows({"rank": i + 1, **row} for i, row in enumerate(rows))
    return path


def format_table(rows: list[dict], limit: int | None = TABLE_ROWS) -> str:
    """The ranked table as aligned text (the first ``limit`` rows)."""
    if not rows:
        return "(no trials)"
    header = ["rank", *(k.replace("_", " ") for k in rows[0])]
    cells = [[str(i + 1), *(_cell(v) for v in row.values())] for i, row in enumerate(rows)]
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


def write_best_config(study, path) -> RunConfig | None:
    """The best complete trial's config as a plain run config file; None if none completed."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    path = Path(path)
    if not complete:
        path.unlink(missing_ok=True)  # never leave the best of an older study behind
        return None
    best = study.best_trial
    config = RunConfig.from_dict(best.user_attrs["config"])
    path.write_text(
        f"# Best of study {study.study_name!r}: trial {best.number}, dev accuracy "
        f"{best.value:.4f} ({len(complete)} complete trials).\n"
        f"# Reproduce it: nnlab train --config {path}\n" + config.to_toml()
    )
    return config


PLOTS = (
    ("optimization_history", "plot_optimization_history", 1),
    ("param_importances", "plot_param_importances", 2),
    ("slice", "plot_slice", 1),
)


def write_plots(study, out_dir) -> list[str]:
    """optimization_history.png, param_importances.png and slice.png; notes on skipped ones."""
    import optuna.visualization.matplotlib as vis

    from .plots import plt  # pyplot with the Agg backend selected (before any figure)

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
                axes = getattr(vis, function)(study)
            figure = np.ravel(axes)[0].figure
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
    tune_parser.add_argument("config", help="a run config with a [search] table (TOML)")
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
        result = tune(
            args.config,
            args.trials,
            storage=args.storage,
            study_name=args.study_name,
            out_dir=args.out,
            **options,
        )
        print_result(result)
        if args.refine:
            print_result(tune_refine(result, args.trials, **options))
    except KeyboardInterrupt:
        print("\nnnlab: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    return 0


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
    print(
        f"\nstudy {result.study.study_name!r}: {states.count('complete')} complete, "
        f"{states.count('pruned')} pruned, {len(states) - states.count('complete') - states.count('pruned')}"
        f" other trials -> {result.out_dir}"
    )
    print(format_table(result.rows))
    if result.best_config is not None:
        print(
            f"best dev accuracy {result.best_value:.2%} (trial {result.study.best_trial.number}): "
            f"nnlab train --config {result.out_dir / 'best_config.toml'}"
        )
    for note in result.notes:
        print(f"note: {note}")
