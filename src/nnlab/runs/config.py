"""The run configuration: every choice of one training run, read from TOML or flags.

A run config is a flat TOML table; any key left out takes the default below.

    dataset = "mnist"          # a known name or the path of a Keras-layout .npz
    model = "mlp"              # mlp (the layers below) | cnn (LeNet-style) | resnet
    augment = false            # random shifts of up to 2 pixels (cnn and resnet)
    layers = [256, 128]        # hidden layer widths
    activation = "relu"
    initializer = "he"
    batch_norm = false
    dropout = 0.0              # rate (the course's keep_prob is 1 - dropout)
    l2 = 0.0                   # the course's lambda
    optimizer = "adam"         # sgd | momentum | rmsprop | adam
    learning_rate = 0.001
    beta = 0.9                 # momentum / RMSprop beta (Adam: beta_1)
    decay = "none"             # none | inverse_time | scheduled | exponential
    decay_rate = 0.0
    decay_interval = 1         # epochs per step of the "scheduled" decay
    epochs = 10
    batch_size = 128
    dev_size = 0.1             # fraction (or count) of the training set held out as dev
    early_stopping = 0         # patience in epochs on val_loss; 0 disables
    standardize = false        # fit a Standardizer on the training set
    seed = 0
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from ..exceptions import ConfigError

DECAYS = ("none", "inverse_time", "scheduled", "exponential")
MODELS = ("mlp", "cnn", "resnet")


@dataclass
class RunConfig:
    """One training run; see the module docstring for each field."""

    dataset: str = "mnist"
    model: str = "mlp"
    augment: bool = False
    layers: list[int] = field(default_factory=lambda: [256, 128])
    activation: str = "relu"
    initializer: str = "he"
    batch_norm: bool = False
    dropout: float = 0.0
    l2: float = 0.0
    optimizer: str = "adam"
    learning_rate: float = 0.001
    beta: float = 0.9
    decay: str = "none"
    decay_rate: float = 0.0
    decay_interval: int = 1
    epochs: int = 10
    batch_size: int = 128
    dev_size: int | float = 0.1
    early_stopping: int = 0
    standardize: bool = False
    seed: int = 0

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the first invalid field and its value."""
        _check(self.model in MODELS, "model", self.model, f"one of {', '.join(MODELS)}")
        if not self.layers or any(not isinstance(n, int) or n < 1 for n in self.layers):
            raise ConfigError(f"config: layers must be positive integers, got {self.layers!r}")
        _check(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "in [0, 1)")
        _check(self.l2 >= 0, "l2", self.l2, ">= 0")
        _check(self.learning_rate > 0, "learning_rate", self.learning_rate, "> 0")
        _check(0.0 <= self.beta < 1.0, "beta", self.beta, "in [0, 1)")
        _check(self.decay in DECAYS, "decay", self.decay, f"one of {', '.join(DECAYS)}")
        _check(self.decay_rate >= 0, "decay_rate", self.decay_rate, ">= 0")
        _check(self.decay_interval >= 1, "decay_interval", self.decay_interval, ">= 1")
        _check(self.epochs >= 1, "epochs", self.epochs, ">= 1")
        _check(self.batch_size >= 1, "batch_size", self.batch_size, ">= 1")
        _check(self.dev_size > 0, "dev_size", self.dev_size, "> 0")
        _check(self.early_stopping >= 0, "early_stopping", self.early_stopping, ">= 0")

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
        """A copy with the given fields replaced (None values are ignored)."""
        values = self.to_dict()
        values.update({k: v for k, v in changes.items() if v is not None})
        return RunConfig.from_dict(values)


def _check(ok: bool, name: str, value, expected: str) -> None:
    if not ok:
        raise ConfigError(f"config: {name} must be {expected}, got {value!r}")
