"""The callback protocol: Callback (every hook a no-op), CallbackList, and History.

A callback overrides any of ``on_train_begin``, ``on_epoch_begin(epoch, info)``,
``on_batch_end(step, logs)``, ``on_epoch_end(epoch, logs)``, ``on_nan(message)``,
``on_train_end(history)``.  ``logs`` holds the epoch's loss, metrics, ``val_*`` and ``lr``.
Setting ``model.stop_training = True`` ends training after the current epoch.

A callback whose state a resumed run must continue (EarlyStopping's best value and
weights) gives it in ``get_state()`` and takes it back in ``set_state``;
:class:`~nnlab.training.callbacks.ModelCheckpoint` saves the state of the callbacks it is
given with every checkpoint, and :func:`~nnlab.training.callbacks.restore_states` hands it
back.
"""

from __future__ import annotations

from ...exceptions import ConfigError


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

    def get_state(self) -> tuple[dict, dict]:
        """``(values, arrays)``: what a resumed run needs to continue this callback
        (JSON-able values; arrays by name, saved as tensors). Stateless: ``({}, {})``."""
        return {}, {}

    def set_state(self, values: dict, arrays: dict) -> None:
        """Continue from a :meth:`get_state` of an earlier process (stateless: nothing)."""


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
