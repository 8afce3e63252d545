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
