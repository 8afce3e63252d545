"""Plots saved as PNG files (matplotlib, no screen needed).

Figures are plain :class:`matplotlib.figure.Figure` objects saved with ``fig.savefig``:
pyplot's global state (its backend, its list of open figures) is neither used nor
changed, so importing this module or drawing with it leaves a notebook's backend alone.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure


def learning_curves(history: dict, path, title: str = "Learning curves") -> Path:
    """Train/dev cost and every metric per epoch, side by side; returns the PNG path.

    ``history`` maps "loss", "val_loss", "accuracy", ... to per-epoch lists.
    """
    metrics = [k for k in history if not k.startswith("val_") and k not in ("lr", "penalty")]
    fig = Figure(figsize=(5 * len(metrics), 3.6))
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for ax, key in zip(axes[0], metrics, strict=True):
        epochs = range(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], marker="o", ms=3, label=f"train {key}")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", ms=3, label=f"dev {key}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)


def gradient_norms(history: dict, path, title: str = "Gradient norms") -> Path:
    """||dtheta||_2 of every parameter tensor per epoch, log scale; returns the PNG path.

    ``history`` is a :class:`~nnlab.runs.monitor.TrainingMonitor`'s: "epoch" and
    "grad_norm/<layer>/<param>" per-epoch lists (None or 0 values are left out).
    """
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for key in _series(history, "grad_norm/"):
        ax.plot(history["epoch"], _positive(history[key]), marker="o", ms=3, label=key[10:])
    ax.set_yscale("log")
    _finish(fig, [ax], r"gradient norm $\|d\theta\|_2$", title)
    return save_png(fig, path)


def activation_stats(history: dict, path, title: str = "Activations") -> Path:
    """Each layer's output std, and the dead-ReLU fraction, per epoch; returns the PNG path.

    ``history`` holds "epoch", "act_std/<layer>" and "dead_relu/<layer>" per-epoch lists.
    """
    fig = Figure(figsize=(11, 4.2))
    left, right = fig.subplots(1, 2)
    for key in _series(history, "act_std/"):
        left.plot(history["epoch"], _nan_for_none(history[key]), marker="o", ms=3, label=key[8:])
    for key in _series(history, "dead_relu/"):
        right.plot(history["epoch"], _nan_for_none(history[key]), marker="o", ms=3, label=key[10:])
    right.set_ylim(-0.05, 1.05)
    if not _series(history, "dead_relu/"):
        right.text(0.5, 0.5, "no ReLU layers", ha="center", va="center", transform=right.transAxes)
    _finish(fig, [left, right], ["std of the layer's output", "dead ReLU fraction"], title)
    return save_png(fig, path)


def step_curves(
    series: dict,
    path,
    title: str = "Costs",
    xlabel: str = "step",
    ylabel: str = "cost",
    wide: str | None = None,
) -> Path:
    """Curves per optimization step, log scale (style transfer's J, alpha J_content,
    beta J_style); returns the PNG path.

    ``series`` maps a label to per-step values (0, negatives and None are left out: a
    curve that is all zero, such as an unused term, is not drawn).  The series named
    ``wide`` is drawn as a wide pale band under the others (a sum that one of its terms
    nearly covers stays visible).
    """
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.subplots()
    for label, values in series.items():
        values = _positive(values)
        if any(v == v for v in values):  # not all NaN
            style = {"lw": 6, "alpha": 0.3, "color": "k"} if label == wide else {}
            ax.plot(range(1, len(values) + 1), values, label=label, **style)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)


def _series(history: dict, prefix: str) -> list[str]:
    return [key for key in history if key.startswith(prefix)]


def _nan_for_none(values) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def _positive(values) -> list[float]:
    """Values for a log axis: None, 0 and negatives become NaN (gaps)."""
    return [v if v is not None and v > 0 else float("nan") for v in values]


def _finish(fig, axes, ylabels, title) -> None:
    ylabels = [ylabels] if isinstance(ylabels, str) else ylabels
    for ax, ylabel in zip(axes, ylabels, strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()


def save_png(fig, path, dpi=80) -> Path:
    """Write the figure as PNG; returns the path.

    ``fig`` is a :class:`~matplotlib.figure.Figure` made here, which pyplot does not
    track, so there is nothing to close: it is freed with its last reference.
    """
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    return path


def decision_boundary(
    model, x, y, path, title, feature_names=None, class_names=None, resolution=200, dpi=70
) -> Path:
    """Decision regions of a classifier on 2-D inputs, with the points (x, y) on top.

    The model is evaluated on a ``resolution`` x ``resolution`` grid covering the points;
    each grid cell is shaded by its predicted class (sigmoid output: p >= 0.5; softmax:
    argmax), and for a sigmoid output the p = 0.5 contour is drawn.  Returns the PNG path.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"decision_boundary: needs 2-D inputs (m, 2), got shape {x.shape}")
    y = np.asarray(y).reshape(-1)
    lo, hi = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    g0, g1 = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    )
    grid = np.column_stack([g0.ravel(), g1.ravel()]).astype(np.float32)
    out = model.predict(grid)
    binary = out.shape[1] == 1
    regions = (out[:, 0] >= 0.5) if binary else out.argmax(axis=1)
    n_classes = max(int(y.max()) + 1, 2)
    colors = matplotlib.colormaps["tab10"]
    fig = Figure(figsize=(4.2, 3.8))
    ax = fig.subplots()
    ax.contourf(
        g0,
        g1,
        regions.reshape(g0.shape),
        levels=np.arange(n_classes + 1) - 0.5,
        colors=[colors(k) for k in range(n_classes)],
        alpha=0.25,
    )
    if binary:
        ax.contour(g0, g1, out[:, 0].reshape(g0.shape), levels=[0.5], colors="k", linewidths=0.8)
    names = class_names or [f"class {k}" for k in range(n_classes)]
    for k in range(n_classes):
        pick = y == k
        ax.scatter(x[pick, 0], x[pick, 1], s=9, color=colors(k), label=names[k], lw=0)
    ax.legend(fontsize=7, loc="upper left", framealpha=0.8)
    axis_names = feature_names or ("x1", "x2")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_png(fig, path, dpi)


def confusion_matrix(counts, path, class_names=None, title="Confusion matrix (dev)") -> Path:
    """Heat map of a confusion matrix (rows: true class, columns: predicted), with counts."""
    counts = np.asarray(counts)
    k = counts.shape[0]
    names = class_names or [str(i) for i in range(k)]
    size = min(2.0 + 0.45 * k, 9.0)
    fig = Figure(figsize=(size, size * 0.9))
    ax = fig.subplots()
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(k), names, rotation=45 if k > 10 else 0, fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = counts.max() / 2 if counts.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(counts[i, j]),
                ha="center",
                va="center",
                fontsize=6 if k > 10 else 8,
                color="white" if counts[i, j] > threshold else "black",
            )
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


def spectrogram_figure(features, probabilities, labels, path, seconds=10.0, dpi=80) -> Path:
    """A clip's spectrogram (frames, frequencies) above the model's output per step (and
    the labels, if given), on one time axis of ``seconds`` (the course's trigger-word
    figure)."""
    features = np.asarray(features)
    probabilities = np.asarray(probabilities).reshape(-1)
    fig = Figure(figsize=(8, 4.2))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    top.imshow(features.T, aspect="auto", origin="lower", extent=(0, seconds, 0, 8))
    top.set_ylabel("frequency (kHz)")
    top.set_title("spectrogram", fontsize=9)
    steps = np.linspace(0, seconds, len(probabilities), endpoint=False)
    if labels is not None:
        bottom.fill_between(steps, np.asarray(labels).reshape(-1), color="0.85", label="label")
    bottom.plot(steps, probabilities, lw=1, label="model output")
    bottom.set_ylim(-0.05, 1.05)
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("P('activate' ended)")
    bottom.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return save_png(fig, path, dpi)


def attention_heatmap(alphas, input_chars, output_chars, path, dpi=90) -> Path:
    """alpha<t, t'> (Ty, Tx) as a heat map: output characters down, input characters
    across (the course's attention map)."""
    alphas = np.asarray(alphas)
    fig = Figure(figsize=(max(4.0, 0.32 * len(input_chars) + 1.5), 0.32 * len(output_chars) + 1.4))
    ax = fig.subplots()
    image = ax.imshow(alphas[:, : len(input_chars)], cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(input_chars)), [c if c != " " else "␣" for c in input_chars])
    ax.set_yticks(range(len(output_chars)), list(output_chars))
    ax.set_xlabel("input")
    ax.set_ylabel("output")
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    return save_png(fig, path, dpi)


def detection_grid(images, found, class_names, path, columns: int = 4, dpi=90) -> Path:
    """Gray images (n, H, W, 1) in [0, 1] with their detections drawn: ``found`` holds
    per image (boxes (k, 4) corners x1, y1, x2, y2 in pixels, scores (k,), classes (k,)),
    each box labelled "class score"."""
    from matplotlib.patches import Rectangle

    rows = -(-len(images) // columns)
    fig = Figure(figsize=(2.6 * columns, 2.6 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, (boxes, scores, classes) in zip(axes.flat, images, found, strict=False):
        ax.imshow(image[:, :, 0], cmap="gray", vmin=0, vmax=1)
        for (x1, y1, x2, y2), score, cls in zip(boxes, scores, classes, strict=True):
            # pixel i covers [i - 0.5, i + 0.5] in imshow's coordinates
            ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, ec="lime"))
            ax.text(x1 - 0.5, y1 - 1.5, f"{class_names[cls]} {score:.2f}", color="lime", fontsize=7)
    fig.tight_layout()
    return save_png(fig, path, dpi=dpi)
