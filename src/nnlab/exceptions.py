"""Exceptions that name the layer or argument and the expected and actual value."""

from __future__ import annotations


class NNLabError(Exception):
    """Base class of every error nnlab raises on purpose."""


class ShapeError(NNLabError, ValueError):
    """An array has the wrong shape for the layer or argument that received it."""


class InputValueError(NNLabError, ValueError):
    """An array holds values that cannot be used (NaN, inf, labels out of range, empty)."""


class ConfigError(NNLabError, ValueError):
    """An unknown name or an invalid setting (activation, loss, optimizer, option)."""


class ModelFileError(NNLabError, OSError):
    """A model or checkpoint file is missing, truncated, altered or not an nnlab file."""


class TrainingDiverged(NNLabError, FloatingPointError):
    """The loss became NaN or infinite during training."""


def unknown_name(kind: str, name, known) -> ConfigError:
    """Build the error for an unknown registry name, listing the known ones."""
    return ConfigError(f"unknown {kind} {name!r}; expected one of: {', '.join(sorted(known))}")
