"""Error analysis: the course's manual look at the dev-set mistakes.

The method (Course 3, "Carrying out error analysis"): take the misclassified dev
examples, look at them, tag each with the reasons it went wrong (blurry, mislabeled,
a great cat, ...) in a spreadsheet, then count the tags.  The share of the mistakes
that carry a tag is the ceiling on what fixing that category can gain.

    report = analyze(model, x_dev, y_dev)     # tables: per class, confused pairs, worst
    print(report)
    save_gallery(report, x_dev, "gallery.png")    # the most confident mistakes, as images
    write_mistakes_csv(report, "dev_mistakes.csv")  # fill in 'tags' and 'notes' by hand
    print(format_tag_counts(count_tags("dev_mistakes.csv")))

``nnlab errors RUN_DIR`` (:mod:`nnlab.cli.errors`) does the first three for a run folder,
writing into its ``errors/`` folder, and ``nnlab errors RUN_DIR --count-tags FILE``
counts the tags of a filled-in CSV.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..exceptions import ConfigError, InputValueError, ShapeError
from ..training.metrics import confusion_matrix
from . import plots

CSV_COLUMNS = ("index", "true", "predicted", "confidence", "tags", "notes")
MIN_IMAGE_SIDE = 4  # a perfect-square width below 4 x 4 is taken for tabular data
_TAG_SEPARATORS = re.compile(r"[,;]")


# ------------------------------------------------------------------- the report
@dataclass
class ClassRow:
    """One row of the per-class table: the dev examples whose true class is ``label``."""

    label: int
    name: str
    count: int
    errors: int
    error_rate: float | None  # errors / count; None when the class has no dev example
    error_share: float  # errors / all dev errors; 0.0 when there are none


@dataclass
class ConfusedPair:
    """``count`` dev examples of class ``true`` were predicted as ``predicted``."""

    true: int
    predicted: int
    count: int


@dataclass
class Mistake:
    """One misclassified dev example; ``index`` is its row in the dev set."""

    index: int
    true: int
    predicted: int
    confidence: float


@dataclass
class ErrorReport:
    """Everything ``analyze`` found, as plain data; ``str(report)`` prints the tables.

    Attributes
    ----------
    predictions : numpy.ndarray of int64, shape (m,)
        Predicted class of each dev example.
    confidences : numpy.ndarray of float64, shape (m,)
        Probability the model gave its prediction.
    labels : numpy.ndarray of int64, shape (m,)
        True class of each dev example.
    class_names : list of str
        Display name of each class, by label.
    per_class : list of ClassRow
        One row per class, by label.
    confused_pairs : list of ConfusedPair
        Every (true, predicted) pair with ``true != predicted``, most frequent first.
    mistakes : list of Mistake
        Every misclassified dev example, most confident (worst) first.
    """

    predictions: np.ndarray
    confidences: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    per_class: list[ClassRow]
    confused_pairs: list[ConfusedPair]
    mistakes: list[Mistake]

    @property
    def n_examples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_errors(self) -> int:
        return len(self.mistakes)

    @property
    def error_rate(self) -> float:
        return self.n_errors / self.n_examples

    def name(self, label: int) -> str:
        """The display name of class ``label``."""
        return self.class_names[label]

    def to_dict(self) -> dict:
        """The tables and totals as JSON-ready dicts and lists (no arrays)."""
        return {
            "examples": self.n_examples,
            "errors": self.n_errors,
            "error_rate": self.error_rate,
            "class_names": list(self.class_names),
            "per_class": [asdict(row) for row in self.per_class],
            "confused_pairs": [asdict(pair) for pair in self.confused_pairs],
            "mistakes": [asdict(mistake) for mistake in self.mistakes],
        }

    def format(self, top: int = 10) -> str:
        """Summary, per-class table, the ``top`` confused pairs and worst mistakes."""
        return "\n\n".join(
            [
                f"dev set: {self.n_examples} examples, {self.n_errors} mistakes "
                f"(error rate {self.error_rate:.2%})",
                format_class_table(self),
                format_confused_pairs(self, top),
                format_worst_mistakes(self, top),
            ]
        )

    def __str__(self) -> str:
        return self.format()


def analyze(model, x_dev, y_dev, class_names=None) -> ErrorReport:
    """Predict the dev set and tabulate the mistakes.

    Parameters
    ----------
    model : object with ``predict(x) -> probabilities``
        Outputs (m, K) softmax probabilities, or (m, 1) / (m,) sigmoid probabilities of
        class 1 (class 1 when p > 0.5, as in training; confidence p or 1 - p).
    x_dev : array_like, shape (m, ...)
        Dev inputs, as the model expects them.
    y_dev : array_like, shape (m,), (m, 1) or (m, K)
        Integer labels or one-hot rows.
    class_names : sequence of str, optional
        Display names by label; default the labels themselves ("0", "1", ...).

    Returns
    -------
    ErrorReport

    Raises
    ------
    ShapeError
        Outputs or labels of the wrong shape, or a different number of rows.
    InputValueError
        An empty dev set, outputs that are not probabilities, negative labels, or fewer
        class names than classes.
    """
    labels = _labels(y_dev)
    outputs = np.asarray(model.predict(x_dev), dtype=np.float64)
    predictions, confidences = _predictions(outputs, labels.shape[0])
    n_classes = max(_output_classes(outputs), int(labels.max()) + 1)
    names = _class_names(class_names, n_classes)
    wrong = np.flatnonzero(predictions != labels)
    return ErrorReport(
        predictions=predictions,
        confidences=confidences,
        labels=labels,
        class_names=names,
        per_class=_class_rows(labels, predictions, names),
        confused_pairs=_confused_pairs(labels, predictions, n_classes),
        mistakes=_sorted_mistakes(wrong, labels, predictions, confidences),
    )


def _labels(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    elif y.ndim == 2:
        y = y[:, 0]
    if y.ndim != 1:
        raise ShapeError(f"analyze: y_dev must be (m,), (m, 1) or one-hot (m, K), got {y.shape}")
    if y.shape[0] == 0:
        raise InputValueError("analyze: the dev set is empty (0 examples)")
    if not np.all(y == np.round(y)) or y.min() < 0:
        raise InputValueError(
            f"analyze: y_dev must hold labels 0, 1, ..., got values in [{y.min()}, {y.max()}]"
        )
    return y.astype(np.int64)


def _predictions(outputs: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(predicted classes, confidences) from sigmoid or softmax outputs."""
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    if outputs.ndim != 2 or outputs.shape[0] != m:
        raise ShapeError(
            f"analyze: model.predict must return ({m}, K) or ({m}, 1) probabilities for "
            f"{m} dev labels, got shape {outputs.shape}"
        )
    if not np.all(np.isfinite(outputs)) or outputs.min() < -1e-6 or outputs.max() > 1 + 1e-6:
        raise InputValueError(
            f"analyze: model.predict must return probabilities in [0, 1], got values in "
            f"[{np.nanmin(outputs)}, {np.nanmax(outputs)}]"
        )
    if outputs.shape[1] == 1:
        p = outputs[:, 0]
        predictions = (p > 0.5).astype(np.int64)
        return predictions, np.where(predictions == 1, p, 1.0 - p)
    return outputs.argmax(axis=1).astype(np.int64), outputs.max(axis=1)


def _output_classes(outputs: np.ndarray) -> int:
    return 2 if outputs.ndim == 1 or outputs.shape[1] == 1 else int(outputs.shape[1])


def _class_names(class_names, n_classes: int) -> list[str]:
    if class_names is None:
        return [str(label) for label in range(n_classes)]
    names = [str(name) for name in class_names]
    if len(names) < n_classes:
        raise InputValueError(
            f"analyze: class_names must name all {n_classes} classes, got {len(names)}: {names}"
        )
    return names


def _class_rows(labels, predictions, names) -> list[ClassRow]:
    count = np.bincount(labels, minlength=len(names))
    errors = np.bincount(labels[predictions != labels], minlength=len(names))
    total = int(errors.sum())
    return [
        ClassRow(
            label=k,
            name=names[k],
            count=int(count[k]),
            errors=int(errors[k]),
            error_rate=float(errors[k] / count[k]) if count[k] else None,
            error_share=float(errors[k] / total) if total else 0.0,
        )
        for k in range(len(names))
    ]


def _confused_pairs(labels, predictions, n_classes: int) -> list[ConfusedPair]:
    counts = confusion_matrix(labels, predictions, n_classes)
    np.fill_diagonal(counts, 0)
    true, predicted = np.nonzero(counts)
    pairs = [
        ConfusedPair(int(t), int(p), int(counts[t, p]))
        for t, p in zip(true, predicted, strict=True)
    ]
    return sorted(pairs, key=lambda pair: (-pair.count, pair.true, pair.predicted))


def _sorted_mistakes(wrong, labels, predictions, confidences) -> list[Mistake]:
    order = wrong[np.argsort(-confidences[wrong], kind="stable")]
    return [
        Mistake(int(i), int(labels[i]), int(predictions[i]), float(confidences[i])) for i in order
    ]


# --------------------------------------------------------------------- tables
def format_class_table(report: ErrorReport) -> str:
    """Per true class: dev examples, errors, error rate, share of all errors."""
    width = max(5, *(len(name) for name in report.class_names))
    lines = [f"{'class':<{width}}{'count':>8}{'errors':>8}{'error rate':>12}{'of errors':>11}"]
    for row in report.per_class:
        rate = "-" if row.error_rate is None else f"{row.error_rate:.2%}"
        lines.append(
            f"{row.name:<{width}}{row.count:>8}{row.errors:>8}{rate:>12}{row.error_share:>11.1%}"
        )
    share = 1.0 if report.n_errors else 0.0
    lines.append(
        f"{'all':<{width}}{report.n_examples:>8}{report.n_errors:>8}"
        f"{report.error_rate:>12.2%}{share:>11.1%}"
    )
    return "\n".join(lines)


def format_confused_pairs(report: ErrorReport, top: int = 10) -> str:
    """The ``top`` most frequent (true, predicted) confusions."""
    if not report.confused_pairs:
        return "most confused pairs: none (no dev mistakes)"
    lines = [f"most confused pairs (true -> predicted), top {top}:"]
    for pair in report.confused_pairs[:top]:
        share = pair.count / report.n_errors
        lines.append(
            f"  {report.name(pair.true):>8} -> {report.name(pair.predicted):<8}"
            f"{pair.count:>6}  ({share:.1%} of errors)"
        )
    return "\n".join(lines)


def format_worst_mistakes(report: ErrorReport, top: int = 10) -> str:
    """The ``top`` most confident mistakes: dev index, true, predicted, confidence."""
    if not report.mistakes:
        return "worst mistakes: none"
    lines = [
        f"worst mistakes (most confident first), top {top}:",
        "  index  true -> predicted  conf",
    ]
    for mistake in report.mistakes[:top]:
        lines.append(
            f"  {mistake.index:>5}  {report.name(mistake.true):>4} -> "
            f"{report.name(mistake.predicted):<9}  {mistake.confidence:.2f}"
        )
    return "\n".join(lines)


# -------------------------------------------------------------------- gallery
def image_shape_for(x_dev, image_shape=None) -> tuple[int, ...]:
    """The (H, W) or (H, W, C) shape of one example, to show it as an image.

    Parameters
    ----------
    x_dev : array_like, shape (m, n) or (m, H, W[, C])
        Dev inputs.
    image_shape : tuple of int, optional
        (H, W) or (H, W, C) with C in 1, 3, 4; H*W*C must equal the features per example.

    Returns
    -------
    tuple of int
        ``image_shape``; else the example shape of image arrays; else (28, 28) for 784
        features and (s, s) for s*s features with s >= 4.

    Raises
    ------
    ShapeError
        The examples are not images (e.g. 2-D points) or ``image_shape`` does not fit.
    """
    example = tuple(np.shape(x_dev)[1:])
    size = math.prod(example)
    if image_shape is not None:
        return _checked_image_shape(tuple(int(s) for s in image_shape), size)
    if len(example) in (2, 3):
        return _checked_image_shape(example, size)
    side = math.isqrt(size)
    if len(example) == 1 and side * side == size and side >= MIN_IMAGE_SIDE:
        return (side, side)
    raise ShapeError(
        f"save_gallery: cannot show examples of shape {example} as images; expected 784 "
        f"features (28x28), a perfect square >= {MIN_IMAGE_SIDE**2}, (m, H, W[, C]) arrays, "
        f"or image_shape=(H, W[, C])"
    )


def _checked_image_shape(shape: tuple[int, ...], size: int) -> tuple[int, ...]:
    channels_ok = len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3, 4))
    if not channels_ok or math.prod(shape) != size:
        raise ShapeError(
            f"save_gallery: image_shape must be (H, W) or (H, W, C) with C in 1, 3, 4 and "
            f"H*W*C = {size} features, got {shape}"
        )
    return shape[:2] if len(shape) == 3 and shape[2] == 1 else shape


def save_gallery(report: ErrorReport, x_dev, path, n: int = 25, image_shape=None) -> Path:
    """A PNG grid of the ``n`` most confident mistakes, titled "true T / pred P (conf c)".

    Parameters
    ----------
    report : ErrorReport
        From ``analyze`` on the same dev set.
    x_dev : array_like, shape (m, ...)
        The dev inputs (raw pixels look best; each image is scaled to its own range).
    path : str or os.PathLike
        The PNG to write; its folder is created.
    n : int
        How many mistakes to show, at most.
    image_shape : tuple of int, optional
        See ``image_shape_for``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ShapeError
        Non-image data, or ``x_dev`` of a different length than the report.
    ConfigError
        ``n`` < 1.
    """
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"save_gallery: n must be an integer >= 1, got {n!r}")
    x_dev = np.asarray(x_dev)
    if x_dev.shape[0] != report.n_examples:
        raise ShapeError(
            f"save_gallery: x_dev has {x_dev.shape[0]} examples but the report has "
            f"{report.n_examples}; pass the dev set the report was made from"
        )
    shape = image_shape_for(x_dev, image_shape)
    mistakes = report.mistakes[:n]
    images = [_display_image(x_dev[m.index], shape) for m in mistakes]
    titles = [
        f"true {report.name(m.true)} / pred {report.name(m.predicted)}\n(conf {m.confidence:.2f})"
        for m in mistakes
    ]
    return _draw_grid(images, titles, Path(path))


def _display_image(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """One example reshaped and scaled to [0, 1] (a constant image becomes 0)."""
    image = np.asarray(x, dtype=np.float64).reshape(shape)
    low, high = image.min(), image.max()
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def _draw_grid(images: list, titles: list, path: Path) -> Path:
    cols = max(1, math.ceil(math.sqrt(len(images))))
    rows = max(1, math.ceil(len(images) / cols))
    fig = Figure(figsize=(1.7 * cols, 1.9 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles, strict=False):
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_title(title, fontsize=7)
    if not images:
        axes[0, 0].text(0.5, 0.5, "no dev mistakes", ha="center", va="center")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    return plots.save_png(fig, path, dpi=70)


def save_confusion_matrix(report: ErrorReport, path) -> Path:
    """Heat map of the dev confusion matrix (rows: true class, columns: predicted).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    counts = confusion_matrix(report.labels, report.predictions, len(report.per_class))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return plots.confusion_matrix(counts, path, report.class_names)


# ------------------------------------------------------------ the spreadsheet
def write_mistakes_csv(report: ErrorReport, path) -> Path:
    """One row per dev mistake, worst first, with empty ``tags`` and ``notes`` to fill in.

    Columns: index (row in the dev set), true, predicted (class names), confidence,
    tags (comma-separated categories, e.g. "blurry, mislabeled"), notes.  An existing
    file is overwritten.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for m in report.mistakes:
            row = [m.index, report.name(m.true), report.name(m.predicted), f"{m.confidence:.4f}"]
            writer.writerow([*row, "", ""])
    return path


def read_mistakes_csv(csv_path) -> list[dict]:
    """The rows of a mistakes CSV as dicts; checks the file and its ``tags`` column.

    Raises
    ------
    InputValueError
        No such file, or no ``tags`` column in its header.
    """
    path = Path(csv_path)
    if not path.is_file():
        raise InputValueError(f"count_tags: the CSV file {str(path)!r} does not exist")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        header = reader.fieldnames or []
    if "tags" not in header:
        raise InputValueError(
            f"count_tags: {path} must have a 'tags' column (expected columns "
            f"{', '.join(CSV_COLUMNS)}), got {', '.join(header) or 'an empty file'}"
        )
    return rows


def parse_tags(text) -> set[str]:
    """The distinct tags of one cell: split on commas/semicolons, stripped, lowercased."""
    parts = _TAG_SEPARATORS.split(text or "")
    return {part.strip().lower() for part in parts if part.strip()}


def count_tags(csv_path) -> dict:
    """Count the tags of a filled-in mistakes CSV (the course's error-analysis table).

    A tag counts once per mistake.  Its percent of all mistakes is the ceiling on the
    dev error that fixing that category could remove.

    Returns
    -------
    dict
        ``{"mistakes": N, "tagged": rows with any tag, "untagged": N - tagged,
        "tags": {tag: {"count": c, "percent": 100 c / N}}}``, tags by count (then name).

    Raises
    ------
    InputValueError
        No such file, or no ``tags`` column.
    """
    rows = read_mistakes_csv(csv_path)
    tag_sets = [parse_tags(row.get("tags")) for row in rows]
    counts: dict[str, int] = {}
    for tags in tag_sets:
        for tag in tags:
            counts[tag] = counts.get(tag, 0) + 1
    total = len(rows)
    tagged = sum(1 for tags in tag_sets if tags)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {
        "mistakes": total,
        "tagged": tagged,
        "untagged": total - tagged,
        "tags": {tag: {"count": c, "percent": 100.0 * c / total} for tag, c in ordered},
    }


def format_tag_counts(counts: dict) -> str:
    """The table of ``count_tags``: tag, mistakes, percent of all mistakes (the ceiling)."""
    tags = counts["tags"]
    width = max(3, *(len(tag) for tag in tags)) if tags else 3
    lines = [
        f"{counts['mistakes']} mistakes, {counts['tagged']} tagged, {counts['untagged']} untagged",
        f"{'tag':<{width}}{'count':>8}{'% of mistakes':>15}",
    ]
    for tag, entry in tags.items():
        lines.append(f"{tag:<{width}}{entry['count']:>8}{entry['percent']:>14.1f}%")
    if not tags:
        lines.append("(no tags yet: fill in the 'tags' column, e.g. 'blurry, mislabeled')")
    return "\n".join(lines)


def has_annotations(path) -> bool:
    """True when any row of the CSV has a tag or a note (a person's work: keep it)."""
    try:
        rows = read_mistakes_csv(path)
    except InputValueError:
        return False
    return any((row.get("tags") or "").strip() or (row.get("notes") or "").strip() for row in rows)
