"""Input preprocessing: feature standardization, one-hot labels, image scaling.

Statistics are always fitted on the training set only and then applied unchanged to the
dev and test sets (and saved with the model through :meth:`Standardizer.to_dict`).
"""

from __future__ import annotations

import numpy as np

from ..exceptions import InputValueError, NNLabError, ShapeError


class NotFittedError(NNLabError, RuntimeError):
    """A preprocessing step was used before :meth:`fit` gave it its statistics."""


class Standardizer:
    """Standardize features to zero mean and unit variance: ``z = (x - mean) / std``.

    ``mean`` and ``std`` are computed over axis 0 (the examples) of the training set, so
    they have shape ``x.shape[1:]``: (n_x,) for (m, n_x) inputs, (H, W, C) for images.
    A column whose standard deviation is zero (a constant feature) gets ``std = 1``, so it
    maps to 0 instead of NaN.

    Attributes
    ----------
    mean : numpy.ndarray of float64, shape x.shape[1:]
    std : numpy.ndarray of float64, shape x.shape[1:]
        Both ``None`` until :meth:`fit`.
    """

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`from_dict`) has set the statistics."""
        return self.mean is not None

    def fit(self, x) -> Standardizer:
        """Compute ``mean`` and ``std`` over axis 0 of the training inputs.

        Parameters
        ----------
        x : array_like, shape (m, ...)
            Training inputs, m >= 1, finite.

        Returns
        -------
        Standardizer
            ``self``.
        """
        x = _check_features(x, "Standardizer.fit")
        mean = np.mean(x, axis=0, dtype=np.float64)
        std = np.std(x, axis=0, dtype=np.float64)
        tiny = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
        self.mean, self.std = mean, np.where(std <= tiny, 1.0, std)
        return self

    def transform(self, x) -> np.ndarray:
        """Standardize ``x`` with the fitted statistics.

        Parameters
        ----------
        x : array_like, shape (m, ...) with ``x.shape[1:] == mean.shape``

        Returns
        -------
        numpy.ndarray, shape of ``x``
            float64 for float64 input, float32 otherwise.
        """
        x = self._check_input(x, "transform")
        return ((x - self.mean) / self.std).astype(_out_dtype(x), copy=False)

    def fit_transform(self, x) -> np.ndarray:
        """:meth:`fit` on ``x``, then :meth:`transform` it; shape (m, ...)."""
        return self.fit(x).transform(x)

    def inverse_transform(self, z) -> np.ndarray:
        """Undo :meth:`transform`: ``x = z * std + mean``; shape (m, ...) of ``z``."""
        z = self._check_input(z, "inverse_transform")
        return (z * self.std + self.mean).astype(_out_dtype(z), copy=False)

    def to_dict(self) -> dict:
        """The statistics as plain (JSON-able) nested lists: ``{"mean": ..., "std": ...}``."""
        self._require_fitted("to_dict")
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Standardizer:
        """Rebuild a fitted Standardizer from :meth:`to_dict` output."""
        missing = [k for k in ("mean", "std") if not isinstance(d, dict) or k not in d]
        if missing:
            raise InputValueError(f"Standardizer.from_dict: missing keys {missing}")
        mean = np.asarray(d["mean"], dtype=np.float64)
        std = np.asarray(d["std"], dtype=np.float64)
        if mean.shape != std.shape:
            raise ShapeError(
                f"Standardizer.from_dict: mean shape {mean.shape} != std shape {std.shape}"
            )
        if not (np.all(np.isfinite(mean)) and np.all(std > 0) and np.all(np.isfinite(std))):
            raise InputValueError("Standardizer.from_dict: mean must be finite and std > 0")
        out = cls()
        out.mean, out.std = mean, std
        return out

    def _require_fitted(self, method: str) -> None:
        if not self.fitted:
            raise NotFittedError(
                f"Standardizer.{method} called before fit; call fit(x_train) first "
                f"(or load the statistics with Standardizer.from_dict)"
            )

    def _check_input(self, x, method: str) -> np.ndarray:
        self._require_fitted(method)
        x = _check_features(x, f"Standardizer.{method}", allow_empty=True)
        if x.shape[1:] != self.mean.shape:
            raise ShapeError(
                f"Standardizer.{method}: expected inputs of width {_width(self.mean.shape)} "
                f"(shape (m, {', '.join(map(str, self.mean.shape))})) as in fit, got width "
                f"{_width(x.shape[1:])} (shape {x.shape})"
            )
        return x


def _width(feature_shape: tuple) -> int:
    return int(np.prod(feature_shape, dtype=np.int64))


def _out_dtype(x: np.ndarray) -> np.dtype:
    return np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)


def _check_features(x, where: str, allow_empty: bool = False) -> np.ndarray:
    """``x`` as a numeric array of shape (m, ...) with ndim >= 2, finite values."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ShapeError(
            f"{where}: expected batch-first inputs of shape (m, n_x) or (m, H, W, C), "
            f"got shape {x.shape} (use x.reshape(-1, 1) for a single feature)"
        )
    if not (np.issubdtype(x.dtype, np.number) and not np.iscomplexobj(x)):
        raise InputValueError(f"{where}: expected real numbers, got dtype {x.dtype}")
    if x.shape[0] == 0 and not allow_empty:
        raise InputValueError(f"{where}: got 0 examples (shape {x.shape})")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise InputValueError(f"{where}: inputs contain NaN or inf")
    return x


def one_hot(y, num_classes: int | None = None) -> np.ndarray:
    """Encode integer labels as one-hot rows.

    Parameters
    ----------
    y : array_like of int, shape (m,) or (m, 1)
        Labels in [0, num_classes).  Floats are accepted only when integer-valued.
    num_classes : int, optional
        Number of classes k; default ``max(y) + 1``.

    Returns
    -------
    numpy.ndarray of float32, shape (m, k)
        ``out[i, y[i]] = 1``, zeros elsewhere.

    Raises
    ------
    ShapeError
        ``y`` is not (m,) or (m, 1).
    InputValueError
        A label is not an integer or is outside [0, k) (the message names it).
    """
    y = _int_labels(y)
    k = _num_classes(y, num_classes)
    bad = np.flatnonzero((y < 0) | (y >= k))
    if bad.size:
        i = int(bad[0])
        raise InputValueError(
            f"one_hot: label {int(y[i])} at index {i} is out of range [0, {k}) "
            f"({bad.size} labels out of range)"
        )
    out = np.zeros((y.shape[0], k), dtype=np.float32)
    out[np.arange(y.shape[0]), y] = 1.0
    return out


def _int_labels(y) -> np.ndarray:
    """Labels as int64 of shape (m,), rejecting non-integer values."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ShapeError(f"one_hot: expected labels of shape (m,) or (m, 1), got {y.shape}")
    if np.issubdtype(y.dtype, np.integer):
        return y.astype(np.int64, copy=False)
    if not np.issubdtype(y.dtype, np.floating):
        raise InputValueError(f"one_hot: expected integer labels, got dtype {y.dtype}")
    bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
    if bad.size:
        i = int(bad[0])
        raise InputValueError(f"one_hot: label {y[i]!r} at index {i} is not an integer")
    return y.astype(np.int64)


def _num_classes(y: np.ndarray, num_classes) -> int:
    if num_classes is None:
        if y.size == 0:
            raise InputValueError("one_hot: no labels and no num_classes given")
        return int(max(y.max(), 0)) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
        raise InputValueError(f"one_hot: num_classes must be an int >= 1, got {num_classes!r}")
    if num_classes < 1:
        raise InputValueError(f"one_hot: num_classes must be an int >= 1, got {num_classes}")
    return int(num_classes)


def scale_images(x) -> np.ndarray:
    """Scale pixel values from [0, 255] to [0, 1].

    Parameters
    ----------
    x : array_like of uint8 (or another integer dtype), any shape, e.g. (m, H, W, C)
        Raw pixel values in [0, 255].

    Returns
    -------
    numpy.ndarray of float32, shape of ``x``
        ``x / 255``.

    Raises
    ------
    InputValueError
        Float input (probably scaled already) or integer values outside [0, 255].
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        raise InputValueError(
            f"scale_images: expected uint8 pixel values in [0, 255], got dtype {x.dtype} "
            f"(float images are probably scaled already)"
        )
    if x.dtype != np.uint8 and x.size and (x.min() < 0 or x.max() > 255):
        raise InputValueError(
            f"scale_images: pixel values must lie in [0, 255], got [{x.min()}, {x.max()}]"
        )
    return x.astype(np.float32) / np.float32(255.0)
