"""The search space: one range a searched run config field, parsed from the ``[search]`` table.

Each field is drawn on the scale the course recommends (course 2, week 3)::

    [search]
    learning_rate = {low = 1e-4, high = 1e-1, log = true}    # uniform in log10(alpha)
    l2 = {low = 1e-6, high = 1e-2, log = true}
    beta = {one_minus_low = 1e-3, one_minus_high = 1e-1}      # 1 - beta uniform in log10
    layers = {count = [1, 3], width = [64, 512], log = true}  # layer count, then each width
    dropout = {low = 0.0, high = 0.5}                         # keep_prob = 1 - dropout
    batch_size = {powers_of_two = [5, 9]}                     # 32, 64, ..., 512
    optimizer = {choices = ["adam", "rmsprop"]}               # any field: a list of values
    early_stopping = {low = 0, high = 3, int = true}          # integers (int fields: always)

A range draws its field on an Optuna trial (``suggest``), names its corners (every bound
must make a valid run config) and narrows itself around good trials' parameters for the
coarse-to-fine step (``narrowed``: the best values widened by ``MARGIN``, in log10 space
for log ranges).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

from ..exceptions import ConfigError
from ..runs.config import RunConfig

EXAMPLE = "{low = 1e-4, high = 1e-1, log = true}"  # a range, for error messages
MARGIN = 0.1  # narrowing widens the values' [min, max] by 10% of its span (>= 5% of the range)


class _Interval:
    """A range drawn as one trial parameter ``name`` from [low, high], then mapped by ``value``.

    NumberRange, OneMinusRange and PowerOfTwoRange differ only in the parameter's name, its
    scale (``log``, ``integer``) and the map to the field's value; they draw, bound and
    narrow alike.
    """

    def suggest(self, trial):
        draw = trial.suggest_int if self.integer else trial.suggest_float
        return self.value(draw(self.name, self.low, self.high, log=self.log))

    def corners(self) -> list:
        return [self.value(self.low), self.value(self.high)]

    def narrowed(self, params: list[dict]):
        """The range narrowed around the trials' values of ``name`` (itself if none has one)."""
        values = [p[self.name] for p in params if self.name in p]
        if not values:
            return self
        low, high = narrow(values, self.low, self.high, log=self.log, integer=self.integer)
        return dataclasses.replace(self, low=low, high=high)


@dataclass(frozen=True)
class NumberRange(_Interval):
    """A number field drawn uniformly from [low, high] (in log10 space with ``log``)."""

    field: str
    low: float
    high: float
    log: bool = False
    integer: bool = False

    @property
    def name(self) -> str:
        return self.field

    def value(self, drawn):
        return drawn

    def to_spec(self) -> dict:
        spec = {"low": self.low, "high": self.high, "log": self.log}
        return {**spec, "int": True} if self.integer else spec


@dataclass(frozen=True)
class OneMinusRange(_Interval):
    """A field near 1 (beta): r = 1 - value is drawn in log10 space from [low, high]."""

    field: str
    low: float
    high: float
    log = True  # class constants, not dataclass fields: the parameter's scale
    integer = False

    @property
    def name(self) -> str:
        return f"one_minus_{self.field}"

    def value(self, drawn: float) -> float:
        return 1.0 - drawn

    def to_spec(self) -> dict:
        return {"one_minus_low": self.low, "one_minus_high": self.high}


@dataclass(frozen=True)
class PowerOfTwoRange(_Interval):
    """An integer field 2**k with k drawn uniformly from [low, high] (batch sizes)."""

    field: str
    low: int
    high: int
    log = False
    integer = True

    @property
    def name(self) -> str:
        return f"log2_{self.field}"

    def value(self, drawn: int) -> int:
        return 2**drawn

    def to_spec(self) -> dict:
        return {"powers_of_two": [self.low, self.high]}


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
                f"learning_rate = {EXAMPLE}, got {table!r}"
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


# ------------------------------------------------------------ parsing ranges
KIND_KEYS = {
    "choices": {"choices"},
    "layers": {"count", "width", "log"},
    "one_minus": {"one_minus_low", "one_minus_high"},
    "powers_of_two": {"powers_of_two"},
    "number": {"low", "high", "log", "int"},
}
OPTIONAL_KEYS = {"log", "int"}  # flags: they alone do not say which kind a range is
MARKERS = {kind: keys - OPTIONAL_KEYS for kind, keys in KIND_KEYS.items()}


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
