"""Callbacks: hooks into fit (progress bar, early stopping, checkpoints).

A callback overrides any of ``on_train_begin``, ``on_epoch_begin(epoch, info)``,
``on_batch_end(step, logs)``, ``on_epoch_end(epoch, logs)``, ``on_nan(message)``,
``on_train_end(history)``.  ``logs`` holds the epoch's loss, metrics, ``val_*`` and ``lr``.
Setting ``model.stop_training = True`` ends training after the current epoch.
"""

from __future__ import annotations

import math
import sys

from tqdm.auto import tqdm

from ..exceptions import ConfigError


class History:
    """Per-epoch logs: ``history.history["loss"]`` is the list of epoch losses.

    ``stop_reason`` says why training stopped early (NaN loss, early stopping), else None;
    ``nonfinite_cost`` notes the first non-finite cost that course mode trained through.
    """

    def __init__(self):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self.stop_reason: str | None = None
        self.nonfinite_cost: str | None = None

    def append(self, epoch: int, logs: dict) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]

    def rows(self):
        """One dict per epoch ({'epoch': 1, 'loss': ..., ...}), for CSV files."""
        keys = list(self.history)
        for i, epoch in enumerate(self.epoch):
            yield {"epoch": epoch + 1, **{k: self.history[k][i] for k in keys}}


class Callback:
    """Base class; every hook does nothing."""

    model = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self):
        pass

    def on_epoch_begin(self, epoch, info):
        pass

    def on_batch_end(self, step, logs):
        pass

    def on_epoch_end(self, epoch, logs):
        pass

    def on_nan(self, message):
        pass

    def on_train_end(self, history):
        pass


class CallbackList:
    """Calls every callback's hook in order."""

    def __init__(self, builtin, user, model):
        self.callbacks = list(builtin) + list(user or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise ConfigError(
                    f"fit: callbacks must be Callback objects, got {type(cb).__name__}"
                )
            cb.set_model(model)
        self._batch_hooks = [cb for cb in self.callbacks if _overrides(cb, "on_batch_end")]

    def on_train_begin(self):
        for cb in self.callbacks:
            cb.on_train_begin()

    def on_epoch_begin(self, epoch, info):
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, info)

    def on_batch_end(self, step, logs):
        for cb in self._batch_hooks:
            cb.on_batch_end(step, logs)

    def on_epoch_end(self, epoch, logs):
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_nan(self, message):
        for cb in self.callbacks:
            cb.on_nan(message)

    def on_train_end(self, history):
        for cb in self.callbacks:
            cb.on_train_end(history)


def _overrides(cb, hook) -> bool:
    return getattr(type(cb), hook) is not getattr(Callback, hook)


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


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Args:
        monitor: a key of the epoch logs ("val_loss", "val_accuracy", ...).
        mode: "min", "max", or "auto" (max for accuracy-like names).
        restore_best_weights: put back the parameters of the best epoch at the end.
    """

    def __init__(
        self, monitor="val_loss", patience=3, min_delta=0.0, mode="auto", restore_best_weights=True
    ):
        if mode not in ("auto", "min", "max"):
            raise ConfigError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = abs(float(min_delta))
        maximize = mode == "max" or (mode == "auto" and ("acc" in monitor or "f1" in monitor))
        self.sign = 1.0 if maximize else -1.0
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self):
        self.best = -math.inf
        self.best_epoch = None
        self.wait = 0
        self._best_weights = None
        self.stopped_epoch = None
        self._diverged = False

    def on_nan(self, message):
        self._diverged = True

    def on_epoch_end(self, epoch, logs):
        if self.monitor not in logs:
            raise ConfigError(
                f"EarlyStopping: monitor {self.monitor!r} is not in the logs "
                f"({', '.join(logs)}); pass validation data to monitor val_*"
            )
        score = self.sign * logs[self.monitor]
        if score > self.best + self.min_delta:
            self.best, self.best_epoch, self.wait = score, epoch, 0
            if self.restore_best_weights:
                self._best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, history):
        if self.stopped_epoch is not None:
            best = (
                f"best {self.sign * self.best:.4f} at epoch {self.best_epoch + 1}"
                if self.best_epoch is not None
                else f"{self.monitor} was never a number"
            )
            history.stop_reason = (
                f"early stopping: {self.monitor} did not improve for {self.patience} epochs; {best}"
            )
        last = history.epoch[-1] if history.epoch else None
        if self._best_weights is not None and (self._diverged or self.best_epoch != last):
            self.model.set_weights(self._best_weights)


class ModelCheckpoint(Callback):
    """Save the model, with optimizer state and epoch, after every epoch (atomically).

    Args:
        path: the file to write (rewritten each epoch; a crash leaves the previous one).
        monitor, save_best_only: with ``save_best_only``, write only when ``monitor``
            improves (lower loss, higher accuracy).
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False):
        self.path = path
        self.monitor = monitor
        self.save_best_only = save_best_only
        self.sign = 1.0 if "acc" in monitor else -1.0
        self.best = -math.inf

    def on_epoch_end(self, epoch, logs):
        if self.save_best_only:
            if self.monitor not in logs:
                raise ConfigError(
                    f"ModelCheckpoint: monitor {self.monitor!r} is not in the logs "
                    f"({', '.join(logs)}); pass validation data to monitor val_*"
                )
            score = self.sign * logs[self.monitor]
            if not score > self.best:
                return
            self.best = score
        self.model.save(self.path, include_optimizer=True, extra_metadata={"epoch": epoch + 1})
