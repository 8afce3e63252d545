"""Train / dev / test splits, optionally stratified, drawn from an explicit seed.

Every example lands in exactly one part.  Part sizes are given as fractions in (0, 1) of
the number of examples ``m`` (rounded half up) or as absolute ``int`` counts.  With
``stratify=True`` each part holds every class in the proportion it has in the whole set,
to within one example per class, while the part sizes stay exactly as requested.

Examples are batch-first: ``x`` has shape (m, ...) and ``y`` shape (m,) (int labels) or
(m, k) (one-hot); both are indexed along axis 0 only.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from ..exceptions import InputValueError, ShapeError


class Split(NamedTuple):
    """The six arrays of :func:`train_dev_test_split` (each part batch-first)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_dev: np.ndarray
    y_dev: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


class TrainDevSplit(NamedTuple):
    """The four arrays of :func:`train_dev_split` (each part batch-first)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_train_dev: np.ndarray
    y_train_dev: np.ndarray


def train_dev_test_split(x, y, dev=0.1, test=0.1, stratify=False, seed=0) -> Split:
    """Shuffle and split examples into train, dev and test parts.

    Parameters
    ----------
    x : array_like, shape (m, ...)
        Inputs, batch-first (e.g. (m, n_x) or images (m, H, W, C)).
    y : array_like, shape (m,) or (m, k)
        Integer labels or one-hot rows.
    dev, test : float in (0, 1) or int >= 1
        Size of the dev and test parts: a fraction of ``m`` (rounded half up) or a count.
    stratify : bool
        Keep the class proportions of ``y`` in every part (within one example per class).
    seed : int
        Seed of the shuffle (``numpy.random.default_rng(seed)``).

    Returns
    -------
    Split
        ``(x_train, y_train, x_dev, y_dev, x_test, y_test)``; each part is non-empty.

    Raises
    ------
    ShapeError
        ``x`` and ``y`` have different lengths.
    InputValueError
        No examples, a bad size, sizes that leave no training example.
    """
    x, y, m = _check_xy(x, y)
    sizes = _part_sizes(m, {"dev": dev, "test": test})
    parts = _split_indices(y, sizes, stratify, seed)
    return Split(*(a for idx in parts for a in (x[idx], y[idx])))


def train_dev_split(
    x, y, size=0.1, seed=0, stratify=False, *, min_size=1, name="size"
) -> TrainDevSplit:
    """Carve a train-dev set out of a training set.

    The train-dev set has the same distribution as the training set and is never trained
    on: the gap between train and train-dev error measures variance, the gap between
    train-dev and dev error measures data mismatch.

    Parameters
    ----------
    x : array_like, shape (m, ...)
        Training inputs, batch-first.
    y : array_like, shape (m,) or (m, k)
        Integer labels or one-hot rows.
    size : float in (0, 1) or int >= 1
        Size of the train-dev part: a fraction of ``m`` (rounded half up) or a count.
    seed : int
        Seed of the shuffle.
    stratify : bool
        Keep the class proportions of ``y`` in both parts (within one example per class).
    min_size : int
        The fewest examples either part may hold (a dev set of one example measures
        nothing).
    name : str
        What the messages call ``size`` (``"dev_size"`` for a run config's key).

    Returns
    -------
    TrainDevSplit
        ``(x_train, y_train, x_train_dev, y_train_dev)``; both parts hold at least
        ``min_size`` examples.

    Raises
    ------
    InputValueError
        A part would hold fewer than ``min_size`` examples; the message names ``name``,
        its value and the sizes it gives.
    """
    x, y, m = _check_xy(x, y)
    sizes = _part_sizes(m, {name: size})
    if min(sizes) < min_size:
        raise InputValueError(
            f"split: {name}={size!r} of m={m} examples leaves {sizes[0]} training and "
            f"{sizes[1]} held-out examples; each part needs at least {min_size}"
        )
    train, train_dev = _split_indices(y, sizes, stratify, seed)
    return TrainDevSplit(x[train], y[train], x[train_dev], y[train_dev])


def _check_xy(x, y):
    """Validate ``x`` and ``y`` as batch-first arrays of the same non-zero length."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ShapeError(
            f"split: x and y must be batch-first arrays, got x.shape={x.shape}, y.shape={y.shape}"
        )
    if x.shape[0] != y.shape[0]:
        raise ShapeError(
            f"split: x and y must have the same number of examples, got "
            f"x.shape={x.shape} ({x.shape[0]} examples) and y.shape={y.shape} "
            f"({y.shape[0]} examples)"
        )
    if x.shape[0] == 0:
        raise InputValueError("split: x and y are empty (0 examples); nothing to split")
    return x, y, x.shape[0]


def _part_sizes(m: int, requested: dict) -> list[int]:
    """Turn the requested held-out sizes into counts ``[n_train, *held_out]``."""
    fractions = {k: v for k, v in requested.items() if isinstance(v, numbers.Real)}
    fractions = {k: v for k, v in fractions.items() if not isinstance(v, numbers.Integral)}
    if len(fractions) > 1 and sum(fractions.values()) >= 1:
        shown = ", ".join(f"{k}={v}" for k, v in fractions.items())
        raise InputValueError(
            f"split: the fractions must sum to less than 1 to leave training examples, "
            f"got {shown} (sum {sum(fractions.values()):g})"
        )
    counts = [_count(name, value, m) for name, value in requested.items()]
    n_train = m - sum(counts)
    if n_train < 1:
        shown = ", ".join(
            f"{k}={v!r} -> {c}" for (k, v), c in zip(requested.items(), counts, strict=True)
        )
        raise InputValueError(
            f"split: {shown} of m={m} examples leaves {n_train} training examples; "
            f"the training part must be non-empty"
        )
    return [n_train, *counts]


def _count(name: str, value, m: int) -> int:
    """Number of examples of one part from a fraction in (0, 1) or an int count."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputValueError(
            f"split: {name} must be a fraction in (0, 1) or an int count, got {value!r}"
        )
    if isinstance(value, numbers.Integral):
        count = int(value)
    elif 0 < value < 1:
        count = int(np.floor(value * m + 0.5))
    else:
        raise InputValueError(
            f"split: {name}={value!r} must be a fraction in (0, 1) or an int count >= 1"
        )
    if count < 1:
        raise InputValueError(
            f"split: {name}={value!r} of m={m} examples gives {count} examples; "
            f"every part must be non-empty"
        )
    return count


def _class_ids(y: np.ndarray, stratify: bool) -> np.ndarray:
    """Class index of every example, shape (m,): all zeros unless ``stratify``."""
    if not stratify:
        return np.zeros(y.shape[0], dtype=np.int64)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
        raise ShapeError(
            f"split: stratify needs labels of shape (m,) or one-hot (m, k), got {y.shape}"
        )
    return np.unique(y.reshape(-1), return_inverse=True)[1].reshape(-1)


def _split_indices(y, sizes: list[int], stratify: bool, seed) -> list[np.ndarray]:
    """Shuffled example indices of each part, in the order of ``sizes``."""
    rng = np.random.default_rng(seed)
    classes = _class_ids(y, stratify)
    perm = rng.permutation(classes.shape[0])
    order = perm[np.argsort(classes[perm], kind="stable")]  # grouped by class, shuffled
    class_counts = np.bincount(classes)
    per_class = _allocate(class_counts, np.asarray(sizes))  # (n_classes, n_parts)
    starts = np.concatenate([[0], np.cumsum(class_counts)[:-1]])
    rank = np.arange(order.shape[0]) - np.repeat(starts, class_counts)  # rank within class
    bounds = np.cumsum(per_class, axis=1)[classes[order]]  # (m, n_parts)
    part_of = np.empty_like(classes)
    part_of[order] = np.sum(rank[:, None] >= bounds, axis=1)
    return [perm[part_of[perm] == k] for k in range(len(sizes))]


def _allocate(class_counts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Integer table (n_classes, n_parts) with the given row and column sums.

    Every cell is the floor or the ceiling of its ideal value
    ``class_counts[c] * sizes[p] / m``, so each part keeps each class's proportion to within
    one example.  Columns are rounded by largest remainder; rows that then have one too
    many or too few are fixed by swapping a rounding between two rows within one column,
    which keeps the column sums (a swap always exists for up to three parts).
    """
    m = int(class_counts.sum())
    product = class_counts[:, None].astype(np.int64) * sizes[None, :]
    table, remainder = product // m, product % m
    needed = sizes - table.sum(axis=0)  # how many cells of each column round up
    rank = np.argsort(np.argsort(-remainder, axis=0, kind="stable"), axis=0)
    up = rank < needed[None, :]
    excess = up.sum(axis=1) - remainder.sum(axis=1) // m
    while excess.any():
        p, q = int(np.argmax(excess)), int(np.argmin(excess))
        col = int(np.flatnonzero(up[p] & ~up[q] & (remainder[q] > 0))[0])
        up[p, col], up[q, col] = False, True
        excess[p] -= 1
        excess[q] += 1
    return table + up
