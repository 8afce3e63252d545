"""The run configuration: every choice of one training run, read from TOML or flags.

A run config is a flat TOML table whose keys are the fields of :class:`RunConfig`; any key
left out takes the field's default, for example::

    dataset = "mnist"
    layers = [512, 256]
    dropout = 0.2
    optimizer = "adam"
    learning_rate = 0.001
    epochs = 20

Each field is declared once, with :func:`option`: its type (the annotation), its default,
a sentence of help, and, where they are not plain, how its ``nnlab train`` flag parses text
and which values it allows.  ``nnlab train`` derives its flags from these declarations
(``nnlab train --help`` lists every field with its default); flags override the file.
Every value is checked against its field's type, wherever it comes from (a TOML file, a
flag, Python), and a wrong one is a ConfigError naming the key, the expected type and the
value: ``batch_norm = "false"`` is refused, never read as true.

Each model kind has its own recipe (:data:`RECIPES`): a field declared with ``by_model``
that nobody set takes its model's default, so ``model = "cnn"`` alone trains as
``examples/mnist_cnn.toml``; a value given in the file or as a flag always wins.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from .. import registry
from ..data.datasets import KNOWN_DATASETS
from ..exceptions import ConfigError

DECAYS = ("none", "inverse_time", "scheduled", "exponential")
MODELS = ("mlp", "cnn", "resnet")
#: Seeds NumPy takes everywhere (the course mode's ``np.random.seed`` stops at 2**32 - 1).
SEEDS = 2**32


# ----------------------------------------------------------- parsing flag text
def int_list(text: str) -> list[int]:
    """``"256,128"`` -> ``[256, 128]`` (the text of the ``--layers`` flag)."""
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None


def fraction_or_count(text: str) -> int | float:
    """``"0.1"`` -> 0.1 (a fraction), ``"500"`` -> 500 (a count: values >= 1 are truncated
    to an integer), the text of the ``--dev-size`` flag."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a fraction below 1 or a count of examples, got {text!r}"
        ) from None
    return int(value) if value >= 1 else value


def option(default, help: str, *, type=None, choices=None, flag=None, by_model=None):
    """A field of :class:`RunConfig` with what its ``nnlab train`` flag needs.

    Args:
        default: the field's default (a list is copied for every config); with
            ``by_model``, the default of the models it does not name (the mlp).
        help: one sentence for ``nnlab train --help`` (the default is appended there).
        type: text -> value for the flag; default ``type(default)``, and a bool field
            becomes a ``--name`` / ``--no-name`` switch.
        choices: the values allowed; :meth:`RunConfig.validate` and the flag check them.
        flag: the flag, when it is not ``--`` + the field name with ``-`` for ``_``.
        by_model: ``{model: default}``, the recipe of the models that train best with
            another default (:data:`RECIPES`); the help names them.  A value the user gives
            (a key of the TOML file, a flag) always wins over it.
    """
    by_model = by_model or {}
    if by_model:
        shown = [f"{model} {_flag_text(value)}" for model, value in by_model.items()]
        others = [model for model in MODELS if model not in by_model]
        help = f"{help}; default by model: {', '.join(shown)}, {' and '.join(others)}"
    metadata = {
        "help": help,
        "type": type,
        "choices": choices,
        "flag": flag,
        "default": default,
        "by_model": by_model,
    }
    if by_model:  # None until __post_init__ knows the model
        return field(default=None, metadata=metadata)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _flag_text(value) -> str:
    """A value as a flag would take it: on / off for a switch."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


#: The training recipe of each image model: the defaults that differ from the mlp's
#: (those of examples/mnist_cnn.toml, 99.32% MNIST test accuracy, and
#: examples/mnist_resnet.toml, 99.46%).
RECIPES = {
    "cnn": {
        "learning_rate": 0.002,
        "decay": "exponential",
        "decay_rate": 0.8,
        "epochs": 8,
        "batch_size": 64,
    },
    "resnet": {
        "augment": True,
        "learning_rate": 0.002,
        "decay": "exponential",
        "decay_rate": 0.8,
        "epochs": 8,
        "batch_size": 128,
    },
}


def by_model(name: str) -> dict:
    """``{model: default}`` of field ``name`` in :data:`RECIPES`."""
    return {model: recipe[name] for model, recipe in RECIPES.items() if name in recipe}


# ------------------------------------------------------------------ the config
@dataclass
class RunConfig:
    """One training run; each field's ``help`` metadata says what it is.

    A field with a default by model (learning_rate, decay, decay_rate, epochs, batch_size,
    augment) left out, or None, takes the default of ``model``'s recipe.
    """

    dataset: str = option(
        "mnist",
        f"a known dataset ({', '.join(KNOWN_DATASETS)}) or the path of a .npz in the Keras "
        "layout (x_train, y_train, x_test, y_test)",
    )
    model: str = option(
        "mlp",
        "the network: mlp (the hidden layers below), cnn (LeNet-style) or resnet (small ResNet)",
        choices=MODELS,
    )
    augment: bool = option(
        False,
        "random shifts of up to 2 pixels of training images (cnn, resnet)",
        by_model=by_model("augment"),
    )
    layers: list[int] = option(
        [256, 128], "hidden layer widths of the mlp, e.g. 256,128", type=int_list
    )
    activation: str = option(
        "relu", "hidden-layer activation: relu, tanh, sigmoid, leaky_relu, ..."
    )
    initializer: str = option(
        "he", "hidden-layer kernel initializer: he, xavier, glorot_uniform, small_random, zeros"
    )
    batch_norm: bool = option(False, "batch normalization after each hidden Dense layer")
    dropout: float = option(
        0.0, "dropout rate after each hidden layer (the course's 1 - keep_prob)"
    )
    l2: float = option(0.0, "L2 lambda of the course's cost term (lambda/2m) sum ||W||^2")
    optimizer: str = option(
        "adam", f"the optimizer: {', '.join(registry.names('optimizer', aliases=False))}"
    )
    learning_rate: float = option(
        0.001, "step size of every update (the course's alpha)", by_model=by_model("learning_rate")
    )
    beta: float = option(0.9, "momentum / RMSprop beta (Adam's beta_1)")
    decay: str = option(
        "none",
        "how the learning rate falls with the epoch",
        choices=DECAYS,
        by_model=by_model("decay"),
    )
    decay_rate: float = option(
        0.0,
        "decay rate of --decay, e.g. alpha0 / (1 + rate * epoch)",
        by_model=by_model("decay_rate"),
    )
    decay_interval: int = option(1, "epochs per step of the 'scheduled' decay")
    epochs: int = option(10, "passes over the training set", by_model=by_model("epochs"))
    batch_size: int = option(
        128, "examples per mini-batch (one gradient step)", by_model=by_model("batch_size")
    )
    dev_size: int | float = option(
        0.1,
        "dev set held out of the training set: a fraction (below 1) or a count",
        type=fraction_or_count,
    )
    early_stopping: int = option(0, "patience in epochs on the dev loss (0: no early stopping)")
    standardize: bool = option(False, "standardize inputs with the training set's statistics")
    seed: int = option(0, "seed of the weights, the split, the shuffles and dropout")

    def __post_init__(self):
        self._from_recipe = self._apply_recipe()
        self.validate()

    def _apply_recipe(self) -> frozenset[str]:
        """Give every field left out (None) that has a default by model its model's
        default; return the names of those fields (:meth:`updated` leaves them out, so that
        another model takes its own recipe)."""
        model = self.model if isinstance(self.model, str) else None
        taken = set()
        for spec in dataclasses.fields(self):
            if spec.metadata["by_model"] and getattr(self, spec.name) is None:
                default = spec.metadata["by_model"].get(model, spec.metadata["default"])
                setattr(self, spec.name, default)
                taken.add(spec.name)
        return frozenset(taken)

    def validate(self) -> None:
        """Raise ConfigError naming the first invalid field, what it must be and its value.

        First every value is checked against its field's annotation (and an int given for
        a float field becomes a float), then the declared choices, then the ranges.
        """
        hints = typing.get_type_hints(type(self))
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            setattr(self, spec.name, conform(spec.name, value, hints[spec.name]))
        for spec in dataclasses.fields(self):
            choices = spec.metadata["choices"]
            if choices:
                value = getattr(self, spec.name)
                _check(value in choices, spec.name, value, f"one of {', '.join(choices)}")
        if not self.layers or any(not isinstance(n, int) or n < 1 for n in self.layers):
            raise ConfigError(f"config: layers must be positive integers, got {self.layers!r}")
        _check(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "in [0, 1)")
        _check(self.l2 >= 0, "l2", self.l2, ">= 0")
        _check(self.learning_rate > 0, "learning_rate", self.learning_rate, "> 0")
        _check(0.0 <= self.beta < 1.0, "beta", self.beta, "in [0, 1)")
        _check(self.decay_rate >= 0, "decay_rate", self.decay_rate, ">= 0")
        _check(self.decay_interval >= 1, "decay_interval", self.decay_interval, ">= 1")
        _check(self.epochs >= 1, "epochs", self.epochs, ">= 1")
        _check(self.batch_size >= 1, "batch_size", self.batch_size, ">= 1")
        _check(
            self.dev_size >= 1 if isinstance(self.dev_size, int) else 0 < self.dev_size < 1,
            "dev_size",
            self.dev_size,
            "a fraction in (0, 1) or a count >= 1",
        )
        _check(self.early_stopping >= 0, "early_stopping", self.early_stopping, ">= 0")
        _check(0 <= self.seed < SEEDS, "seed", self.seed, f"in [0, 2**32 - 1 = {SEEDS - 1}]")

    # ------------------------------------------------------------ TOML files
    @classmethod
    def from_dict(cls, values: dict) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"config: unknown keys {', '.join(unknown)}; known keys: {', '.join(sorted(known))}"
            )
        return cls(**values)

    @classmethod
    def from_toml(cls, path) -> RunConfig:
        try:
            values = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config file {path}: invalid TOML ({err})") from None
        return cls.from_dict(values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def updated(self, **changes) -> RunConfig:
        """A copy with the given fields replaced (None values are ignored).

        Fields that took their model's default (nobody gave them) are left out, so that
        ``RunConfig().updated(model="cnn")`` trains the CNN with the CNN's recipe, as
        ``nnlab train --model cnn`` does.
        """
        values = {k: v for k, v in self.to_dict().items() if k not in self._from_recipe}
        values.update({k: v for k, v in changes.items() if v is not None})
        return RunConfig.from_dict(values)


def _check(ok: bool, name: str, value, expected: str) -> None:
    if not ok:
        raise ConfigError(f"config: {name} must be {expected}, got {value!r}")


# ------------------------------------------------------------------ type checks
def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    return real and math.isfinite(value)


#: A field's annotation -> (what the messages call it, test, conversion).
SCALARS = {
    bool: ("true or false", lambda v: isinstance(v, bool), bool),
    int: ("an integer", _is_int, int),
    float: ("a finite number", _is_number, float),
    str: ("a string", lambda v: isinstance(v, str), str),
}


def conform(name: str, value, hint):
    """``value`` as the type ``hint`` of field ``name`` says: an int given for a float
    becomes a float, a NumPy integer an int, a tuple of ints a list.

    ``hint`` is a field's annotation: bool, int, float, str, ``list[int]`` or a union of
    these (``int | float``: the first that takes the value).

    Raises:
        ConfigError: the value is not of that type; the message names the key, the
            expected type and the value with its type, e.g. ``config: epochs must be an
            integer, got '1' (str)``.
    """
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option_type in options:
        if typing.get_origin(option_type) is list:
            (item,) = typing.get_args(option_type)
            _, test, convert = SCALARS[item]
            if isinstance(value, list | tuple) and all(test(v) for v in value):
                return [convert(v) for v in value]
        elif SCALARS[option_type][1](value):
            return SCALARS[option_type][2](value)
    expected = " or ".join(_describe(option_type) for option_type in options)
    raise ConfigError(f"config: {name} must be {expected}, got {value!r} ({type(value).__name__})")


def _describe(hint) -> str:
    """``int`` -> "an integer", ``list[int]`` -> "a list of integers"."""
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return f"a list of {SCALARS[item][0].removeprefix('an ').removeprefix('a ')}s"
    return SCALARS[hint][0]
