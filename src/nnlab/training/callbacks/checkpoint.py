"""ModelCheckpoint: save the model after every epoch, or only after the best ones, with
the state of the callbacks a resumed run must continue."""

from __future__ import annotations

from .monitor import MonitorCallback


class ModelCheckpoint(MonitorCallback):
    """Save the model, with optimizer state and epoch, after every epoch (atomically).

    Args:
        path: the file to write (rewritten each epoch; a crash leaves the previous one).
        monitor, save_best_only: with ``save_best_only``, write only when ``monitor``
            improves (in the mode "auto" picks: lower loss, higher accuracy).
        states: ``{key: callback}``; each callback's ``get_state()`` goes into the file
            (values in the header's ``extra[key]``, arrays as ``extra/<key>/<name>``
            tensors). List the checkpoint after them in ``fit(callbacks=...)``, so that it
            saves their state of the epoch that just ended.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, states=None):
        super().__init__(monitor)
        self.path = path
        self.save_best_only = save_best_only
        self.states = dict(states or {})
        self.best = self._initial_reference()

    def on_epoch_end(self, epoch, logs):
        if self.save_best_only:
            current = self._monitored(logs)
            if not self._is_improvement(current, self.best):
                return
            self.best = current
        extra, tensors = {"epoch": epoch + 1}, {}
        for key, callback in self.states.items():
            values, arrays = callback.get_state()
            extra[key] = values
            tensors.update({f"{key}/{name}": array for name, array in arrays.items()})
        arrays = {"extra_tensors": tensors} if tensors else {}
        self.model.save(self.path, include_optimizer=True, extra_metadata=extra, **arrays)


def restore_states(states: dict, extra: dict, tensors: dict) -> None:
    """Give each callback of ``states`` (``{key: callback}``) its state saved by
    :class:`ModelCheckpoint`: ``extra`` and ``tensors`` as
    :func:`~nnlab.saving.model_file.load_checkpoint` returns them.  A key the file does not
    hold leaves its callback as it is."""
    for key, callback in states.items():
        if key in extra:
            prefix = f"{key}/"
            arrays = {n[len(prefix) :]: a for n, a in tensors.items() if n.startswith(prefix)}
            callback.set_state(extra[key], arrays)
