"""Plots saved as PNG files (matplotlib, no screen needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def learning_curves(history: dict, path, title: str = "Learning curves") -> Path:
    """Train/dev cost and every metric per epoch, side by side; returns the PNG path.

    ``history`` maps "loss", "val_loss", "accuracy", ... to per-epoch lists.
    """
    metrics = [k for k in history if not k.startswith("val_") and k not in ("lr", "penalty")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
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
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def gradient_norms(history: dict, path, title: str = "Gradient norms") -> Path:
    """||dtheta||_2 of every parameter tensor per epoch, log scale; returns the PNG path.

    ``history`` is a :class:`~nnlab.monitor.TrainingMonitor`'s: "epoch" and
    "grad_norm/<layer>/<param>" per-epoch lists (None or 0 values are left out).
    """
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for key in _series(history, "grad_norm/"):
        ax.plot(history["epoch"], _positive(history[key]), marker="o", ms=3, label=key[10:])
    ax.set_yscale("log")
    _finish(fig, [ax], r"gradient norm $\|d\theta\|_2$", title)
    return _save(fig, path)


def activation_stats(history: dict, path, title: str = "Activations") -> Path:
    """Each layer's output std, and the dead-ReLU fraction, per epoch; returns the PNG path.

    ``history`` holds "epoch", "act_std/<layer>" and "dead_relu/<layer>" per-epoch lists.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key in _series(history, "act_std/"):
        left.plot(history["epoch"], _nan_for_none(history[key]), marker="o", ms=3, label=key[8:])
    for key in _series(history, "dead_relu/"):
        right.plot(history["epoch"], _nan_for_none(history[key]), marker="o", ms=3, label=key[10:])
    right.set_ylim(-0.05, 1.05)
    if not _series(history, "dead_relu/"):
        right.text(0.5, 0.5, "no ReLU layers", ha="center", va="center", transform=right.transAxes)
    _finish(fig, [left, right], ["std of the layer's output", "dead ReLU fraction"], title)
    return _save(fig, path)


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


def _save(fig, path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
