"""ProgressBar: a tqdm bar per epoch (``fit(verbose=1)`` adds one)."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

from .base import Callback


class ProgressBar(Callback):
    """A tqdm bar per epoch with the running loss, then the epoch's metrics."""

    def __init__(self, file=None):
        self.file = file or sys.stderr
        self._bar = None

    def on_epoch_begin(self, epoch, info):
        self._bar = tqdm(
            total=info["steps"],
            desc=f"Epoch {epoch + 1}/{info['epochs']}",
            unit="batch",
            file=self.file,
            leave=True,
            # a log file (CI, nohup) gets a line every 30 s, a terminal a live bar
            mininterval=0.25 if _is_terminal(self.file) else 30.0,
            dynamic_ncols=True,
        )

    def on_batch_end(self, step, logs):
        self._bar.update(1)
        if step % 20 == 0:
            self._bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

    def on_epoch_end(self, epoch, logs):
        shown = {k: f"{v:.4f}" for k, v in logs.items() if k != "lr"}
        self._bar.set_postfix(shown, refresh=False)
        self._bar.close()

    def on_nan(self, message):
        if self._bar is not None:
            self._bar.close()
        print(f"nnlab: {message}", file=self.file)


def _is_terminal(file) -> bool:
    isatty = getattr(file, "isatty", None)
    return bool(isatty and isatty())
