"""ModelCheckpoint: save the model after every epoch, or only after the best ones."""

from __future__ import annotations

from .monitor import MonitorCallback


class ModelCheckpoint(MonitorCallback):
    """Save the model, with optimizer state and epoch, after every epoch (atomically).

    Args:
        path: the file to write (rewritten each epoch; a crash leaves the previous one).
        monitor, save_best_only: with ``save_best_only``, write only when ``monitor``
            improves (in the mode "auto" picks: lower loss, higher accuracy).
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False):
        super().__init__(monitor)
        self.path = path
        self.save_best_only = save_best_only
        self.best = self._initial_reference()

    def on_epoch_end(self, epoch, logs):
        if self.save_best_only:
            current = self._monitored(logs)
            if not self._is_improvement(current, self.best):
                return
            self.best = current
        self.model.save(self.path, include_optimizer=True, extra_metadata={"epoch": epoch + 1})
