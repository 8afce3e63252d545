"""One training run from a RunConfig: data, model, fit, evaluation, run folder.

:func:`train` writes every file of a :class:`~nnlab.runs.folder.RunFolder` but the
``errors/`` folder: the config and architecture first, a checkpoint after every epoch, then
the final model, metrics, history, learning curves, the training monitor's statistics and,
for 2-D data, the decision boundary.
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import registry
from ..applications import lenet, mlp, mlp_loss, small_resnet
from ..data import Standardizer, load_dataset, load_npz_dev, train_dev_split
from ..practice import plots
from ..saving import model_file
from ..training import callbacks as callbacks_module
from ..training.model import Sequential
from .config import RunConfig
from .folder import RunFolder
from .monitor import TrainingMonitor

#: The checkpoint's file name (tuning.study imports it from here).
CHECKPOINT = RunFolder.checkpoint.name
#: The builders of the image models, by ``RunConfig.model``; "mlp" is built from its fields.
IMAGE_MODELS = {"cnn": lenet, "resnet": small_resnet}
#: The fewest examples a run's training or dev set may hold.
MIN_PART = 3


@dataclass
class Data:
    """The parts of a dataset, ready for the model (x float32, y int labels).

    ``x_train_dev`` / ``y_train_dev`` exist when dev comes from another distribution than
    train (an .npz with x_dev / y_dev): a held-out slice of the training distribution.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_dev: np.ndarray
    y_dev: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_train_dev: np.ndarray | None = None
    y_train_dev: np.ndarray | None = None

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_dev.max(), self.y_test.max())) + 1

    def parts(self):
        parts = {"train": (self.x_train, self.y_train)}
        if self.x_train_dev is not None:
            parts["train_dev"] = (self.x_train_dev, self.y_train_dev)
        parts.update(dev=(self.x_dev, self.y_dev), test=(self.x_test, self.y_test))
        return parts


def load_data(config: RunConfig) -> Data:
    """Load ``config.dataset``; hold out ``config.dev_size`` of its training set as dev, or,
    when the .npz has its own x_dev / y_dev (the target distribution), as train-dev."""
    images = config.model != "mlp"  # CNNs take (m, n_H, n_W, n_C), the MLP (m, n_x)
    (x_train, y_train), (x_test, y_test) = load_dataset(
        config.dataset, flatten=not images, seed=config.seed
    )
    split = train_dev_split(
        x_train,
        y_train,
        size=config.dev_size,
        seed=config.seed,
        stratify=True,
        min_size=MIN_PART,
        name="dev_size",
    )
    target_dev = load_npz_dev(config.dataset, flatten=not images)
    if target_dev is None:  # dev is a slice of the training distribution
        data = Data(
            split.x_train, split.y_train, split.x_train_dev, split.y_train_dev, x_test, y_test
        )
    else:  # dev from the target distribution; the held-out slice is the train-dev set
        data = Data(
            split.x_train,
            split.y_train,
            *target_dev,
            x_test,
            y_test,
            split.x_train_dev,
            split.y_train_dev,
        )
    if config.standardize:
        scaler = Standardizer().fit(data.x_train)  # training statistics only
        for name in ("x_train", "x_dev", "x_test", "x_train_dev"):
            if getattr(data, name) is not None:
                setattr(data, name, scaler.transform(getattr(data, name)))
    return data


def build_model(config: RunConfig, input_shape, n_classes: int):
    """The config's network from nnlab.applications, compiled with the config's optimizer.

    ``mlp`` takes the config's layers, activation, initializer, batch_norm, dropout and l2
    (two classes: one sigmoid unit and binary cross-entropy); ``cnn`` (:func:`lenet`) and
    ``resnet`` (:func:`small_resnet`) take augment and end in a softmax.
    """
    if config.model == "mlp":
        model = mlp(
            input_shape,
            n_classes,
            layers=config.layers,
            activation=config.activation,
            initializer=config.initializer,
            batch_norm=config.batch_norm,
            dropout=config.dropout,
            l2=config.l2,
            seed=config.seed,
        )
        loss = mlp_loss(n_classes)
    else:
        build = IMAGE_MODELS[config.model]
        model = build(input_shape, n_classes, augment=config.augment, seed=config.seed)
        loss = "categorical_crossentropy"
    model.compile(make_optimizer(config), loss, ["accuracy"])
    return model


def make_optimizer(config: RunConfig):
    """The optimizer of the config, with its learning-rate schedule."""
    lr = config.learning_rate
    if config.decay != "none":
        extra = {"interval": config.decay_interval} if config.decay == "scheduled" else {}
        lr = registry.get(
            "schedule",
            {
                "name": config.decay,
                "initial_learning_rate": lr,
                "decay_rate": config.decay_rate,
                **extra,
            },
        )
    beta_arg = {"momentum": "beta", "rmsprop": "beta", "adam": "beta_1"}.get(config.optimizer)
    options = {beta_arg: config.beta} if beta_arg else {}
    return registry.get("optimizer", {"name": config.optimizer, "learning_rate": lr, **options})


@dataclass
class RunResult:
    """What a run produced: the model, its history and final metrics, and its folder."""

    model: Sequential
    history: object
    metrics: dict
    run_dir: Path
    seconds: float


def train(
    config: RunConfig,
    run_dir,
    verbose: int = 1,
    resume: bool = False,
    data: Data | None = None,
    extra_callbacks=(),
    overwrite: bool = False,
) -> RunResult:
    """Run ``config`` into the run folder ``run_dir`` (resuming from its checkpoint if
    ``resume``); every file it writes is named by :class:`RunFolder`.

    The folder is held (:meth:`RunFolder.claim`) while the run writes it: a second run on
    it fails, a new run needs it empty (or ``overwrite`` to replace the run it holds), and
    a run that fails before its first checkpoint leaves nothing behind.  A dataset given
    as a file is recorded in config.toml by its absolute path.
    """
    folder = run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)
    with folder.claim(resume=resume, overwrite=overwrite):
        return _train(with_absolute_paths(config), folder, verbose, resume, data, extra_callbacks)


def with_absolute_paths(config: RunConfig) -> RunConfig:
    """``config`` with a dataset file (a .npz path) made absolute, so that the run's
    config.toml reads the same data from any working directory."""
    if not str(config.dataset).lower().endswith(".npz"):
        return config
    return config.updated(dataset=os.path.abspath(config.dataset))


def _train(config, folder: RunFolder, verbose, resume, data, extra_callbacks) -> RunResult:
    """The body of :func:`train`, in a claimed folder."""
    data = data or load_data(config)
    log = EpochLog()
    monitor = TrainingMonitor.from_data(data.x_train, data.y_train, size=256, seed=config.seed)
    states = {"history": log, "monitor": monitor}
    if config.early_stopping:
        patience = config.early_stopping
        states["early_stopping"] = callbacks_module.EarlyStopping("val_loss", patience=patience)
    model, stopped = _start(config, folder, data, resume, states)
    checkpoint = callbacks_module.ModelCheckpoint(folder.checkpoint, states=states)
    start = time.perf_counter()
    history = model.fit(
        data.x_train,
        data.y_train,
        epochs=model.initial_epoch if stopped else config.epochs,  # a stopped run is done
        batch_size=config.batch_size,
        validation_data=(data.x_dev, data.y_dev),
        callbacks=[*states.values(), *extra_callbacks, checkpoint],  # the checkpoint last
        verbose=verbose,
        initial_epoch=model.initial_epoch,
    )
    seconds = time.perf_counter() - start
    metrics = {part: model.evaluate(x, y, verbose=verbose) for part, (x, y) in data.parts().items()}
    metrics["train_seconds"] = seconds
    if history.stop_reason:
        metrics["stop_reason"] = history.stop_reason
    write_outputs(folder, model, log.rows, metrics)
    monitor.save(folder.path)
    if data.x_dev.ndim == 2 and data.x_dev.shape[1] == 2:  # 2-D data: show the regions
        plots.decision_boundary(
            model,
            data.x_dev,
            data.y_dev,
            folder.decision_boundary,
            title=f"{config.dataset}: dev set",
        )
    return RunResult(model, history, metrics, folder.path, seconds)


def _start(config, folder: RunFolder, data: Data, resume: bool, states: dict):
    """``(model, stopped)``: the checkpoint's model with the callbacks' ``states`` restored
    (``resume``), else a new model; ``stopped`` when early stopping already ended the run.

    A resumed run's config.toml is rewritten (``--epochs`` may have extended it); a new
    run writes its config.toml and model.json.
    """
    folder.config.write_text(config.to_toml())
    if resume and folder.checkpoint.exists():
        model, extra, tensors = model_file.load_checkpoint(folder.checkpoint)
        callbacks_module.restore_states(states, extra, tensors)
        _continue_older_files(folder, states, extra, model.initial_epoch)
        return model, checkpoint_progress(extra).stopped
    model = build_model(config, data.x_train.shape[1:], data.n_classes)
    model.initial_epoch = 0
    folder.architecture.write_text(json.dumps(model.get_config(), indent=2))
    return model, False


def _continue_older_files(folder: RunFolder, states: dict, extra: dict, done: int) -> None:
    """A checkpoint of an older nnlab holds no history or monitor state: take the ``done``
    epochs' rows from the run's history.csv and layer_stats.json instead."""
    if "history" not in extra and folder.history.exists():
        with folder.history.open(newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if int(row["epoch"]) <= done]
        numbers = [{k: int(v) if k == "epoch" else float(v) for k, v in r.items()} for r in rows]
        states["history"].set_state({"rows": numbers}, {})
    if "monitor" not in extra and folder.layer_stats.exists():
        stats = json.loads(folder.layer_stats.read_text())
        keep = sum(1 for epoch in stats["history"].get("epoch", []) if epoch <= done)
        history = {key: values[:keep] for key, values in stats["history"].items()}
        states["monitor"].set_state({"history": history, "warnings": [], "warned": []}, {})


@dataclass
class Progress:
    """How far a checkpoint's run got: ``epochs`` done; ``stopped`` by early stopping
    (after epoch ``stopped_epoch``, 1-based), else None."""

    epochs: int
    stopped_epoch: int | None

    @property
    def stopped(self) -> bool:
        return self.stopped_epoch is not None


def checkpoint_progress(extra: dict) -> Progress:
    """The :class:`Progress` in a checkpoint's extra metadata (``ModelCheckpoint``'s)."""
    stopped = extra.get("early_stopping", {}).get("stopped_epoch")
    return Progress(int(extra.get("epoch", 0)), None if stopped is None else stopped + 1)


def read_progress(folder: RunFolder) -> Progress | None:
    """The :class:`Progress` of the run folder's checkpoint (None when it has none)."""
    if not folder.checkpoint.exists():
        return None
    _, metadata = model_file.read_model_file(folder.checkpoint)
    return checkpoint_progress(model_file.read_extra(metadata))


class EpochLog(callbacks_module.Callback):
    """Every epoch's logs as rows for history.csv (``{"epoch": 1, "loss": ..., ...}``).

    Its rows are in the checkpoint (``ModelCheckpoint(states=...)``): a resumed run's
    history.csv holds every epoch with its true number.
    """

    def __init__(self):
        self.rows: list[dict] = []

    def on_epoch_end(self, epoch, logs):
        self.rows.append({"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()}})

    def get_state(self) -> tuple[dict, dict]:
        return {"rows": self.rows}, {}

    def set_state(self, values: dict, arrays: dict) -> None:
        self.rows = [dict(row) for row in values["rows"]]


def write_outputs(folder: RunFolder, model, rows: list[dict], metrics: dict) -> None:
    """The final model, metrics, history (every epoch's ``rows``) and learning curves."""
    model.save(folder.model, include_optimizer=False)
    folder.metrics.write_text(json.dumps(metrics, indent=2))
    if rows:
        with folder.history.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    full = read_history_csv(folder.history)
    if full:
        plots.learning_curves(full, folder.learning_curves, title=str(folder.path.name))


def read_history_csv(path) -> dict:
    """history.csv back to {column: [values]} (floats; 'epoch' dropped)."""
    path = Path(path)
    if not path.exists():
        return {}
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [float(r[k]) for r in rows] for k in keys}
