"""EarlyStopping: end training when the monitored metric stops improving (course 2, week 1)."""

from __future__ import annotations

from .monitor import MonitorCallback


class EarlyStopping(MonitorCallback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Args:
        monitor: a key of the epoch logs ("val_loss", "val_accuracy", ...).
        patience: epochs without improvement before training stops.
        min_delta, mode, baseline: what counts as an improvement (see
            :class:`~nnlab.training.callbacks.MonitorCallback`).
        restore_best_weights: put back the parameters of the best epoch at the end.

    Attributes:
        best, best_epoch: the best monitored value and its (0-based) epoch; ``best_epoch``
            is None while no value has improved on the baseline (or none was a number).
        stopped_epoch: the epoch after which training stopped, or None.

    Its state (best, best_epoch, wait, stopped_epoch and the best weights) is saved by a
    :class:`~nnlab.training.callbacks.ModelCheckpoint` given it in ``states``: a run
    resumed from that checkpoint stops where the uninterrupted one stops, with the same
    weights.
    """

    def __init__(
        self,
        monitor="val_loss",
        patience=3,
        min_delta=0.0,
        mode="auto",
        restore_best_weights=True,
        baseline=None,
    ):
        super().__init__(monitor, mode, min_delta, baseline)
        self.patience = int(patience)
        self.restore_best_weights = restore_best_weights
        self._restored = None
        self.on_train_begin()

    def on_train_begin(self):
        """Start afresh, or from the state :meth:`set_state` was given (a resumed run)."""
        self.best = self._initial_reference()
        self.best_epoch = None
        self.wait = 0
        self._best_weights = None
        self.stopped_epoch = None
        self._diverged = False
        if self._restored is not None:
            values, arrays = self._restored
            self.best, self.best_epoch = float(values["best"]), values["best_epoch"]
            self.wait, self.stopped_epoch = int(values["wait"]), values["stopped_epoch"]
            self._best_weights = dict(arrays) if arrays else None
            self._restored = None

    def get_state(self) -> tuple[dict, dict]:
        """The best value and epoch, the wait, the stop epoch; the best weights as arrays."""
        values = {
            "best": float(self.best),
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
        }
        return values, dict(self._best_weights or {})

    def set_state(self, values: dict, arrays: dict) -> None:
        """Continue from :meth:`get_state` of an earlier run (applied when training begins)."""
        self._restored = (dict(values), dict(arrays))

    def on_nan(self, message):
        self._diverged = True

    def on_epoch_end(self, epoch, logs):
        current = self._monitored(logs)
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights:
                self._best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, history):
        if self.stopped_epoch is not None:
            history.stop_reason = (
                f"early stopping: {self.monitor} did not improve for {self.patience} epochs; "
                f"{self._best_text()}"
            )
        last = history.epoch[-1] if history.epoch else None
        if self._best_weights is not None and (self._diverged or self.best_epoch != last):
            self.model.set_weights(self._best_weights)

    def _best_text(self) -> str:
        if self.best_epoch is not None:
            return f"best {self.best:.4f} at epoch {self.best_epoch + 1}"
        if self.baseline is not None:
            return f"{self.monitor} never beat the baseline {self.baseline:g}"
        return f"{self.monitor} was never a number"
