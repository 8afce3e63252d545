"""The run folder: the one place that names the files a training run writes.

Each entry of :class:`RunFolder` is a file (or sub-folder) with its name and what it
holds; read on a folder it is that file's path, read on the class the entry itself::

    run = RunFolder("runs/20261124-183000-mnist")
    run.metrics                   # Path("runs/20261124-183000-mnist/metrics.json")
    run.read_config()             # the RunConfig in run.config (config.toml)
    RunFolder.metrics.name        # "metrics.json"
    RunFolder.listing()           # name and description of every entry

The runner, the training monitor and the ``nnlab`` commands take their paths from here;
the practice functions they call (plots, diagnosis, error analysis) take paths as
arguments and know no file name of their own.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..practice.diagnose import Diagnosis, diagnose_metrics_file
from ..saving import model_file
from .config import RunConfig


class Entry:
    """A file or sub-folder of a run folder: ``name`` relative to the folder, ``about`` it.

    Read on a :class:`RunFolder` it is the path ``folder.path / name``; read on the class,
    the entry itself.
    """

    def __init__(self, name: str, about: str):
        self.name, self.about = name, about

    def __get__(self, folder, owner=None):
        return self if folder is None else folder.path / self.name


class RunFolder:
    """The folder of one training run; each entry below is one of its files.

    Args:
        path: the folder (it need not exist yet; :meth:`make` creates it).
    """

    config = Entry("config.toml", "the full run config (nnlab train --config runs it again)")
    model = Entry("model.safetensors", "the final model (architecture JSON in the header)")
    architecture = Entry("model.json", "the architecture, readable")
    checkpoint = Entry(
        "checkpoint.safetensors",
        "model, optimizer and generator state, epoch; rewritten after every epoch",
    )
    metrics = Entry("metrics.json", "final train / dev / test loss and accuracy")
    history = Entry("history.csv", "per-epoch loss, metrics, dev loss and metrics, learning rate")
    learning_curves = Entry("learning_curves.png", "train and dev cost and accuracy per epoch")
    decision_boundary = Entry(
        "decision_boundary.png", "for 2-D data: the decision regions over the dev set"
    )
    layer_stats = Entry(
        "layer_stats.json", "per-epoch gradient norms and activation statistics, warnings"
    )
    gradient_norms = Entry(
        "gradient_norms.png", "gradient norm of every parameter tensor per epoch"
    )
    activations = Entry(
        "activations.png", "activation std and dead-ReLU fraction per layer per epoch"
    )
    errors = Entry("errors", "folder of nnlab errors' analysis of the dev mistakes")
    gallery = Entry("errors/gallery.png", "the most confident dev mistakes, as images")
    mistakes_csv = Entry(
        "errors/dev_mistakes.csv", "one row per dev mistake, with tags and notes to fill in"
    )
    confusion_matrix = Entry("errors/confusion_matrix.png", "the dev set's confusion matrix")

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @classmethod
    def entries(cls) -> list[Entry]:
        """Every entry, in the order of the class body."""
        return [value for value in vars(cls).values() if isinstance(value, Entry)]

    @classmethod
    def listing(cls) -> str:
        """One line per entry: its name and what it holds."""
        width = max(len(entry.name) for entry in cls.entries())
        return "\n".join(f"{entry.name:<{width}}  {entry.about}" for entry in cls.entries())

    # ---------------------------------------------------------------- making
    @classmethod
    def new(cls, dataset: str, root="runs") -> RunFolder:
        """Make ``root/<YYYYmmdd-HHMMSS>-<dataset stem>[-k]``, a folder that did not exist.

        ``k`` counts up from 2 while the name is taken (two runs in one second).
        """
        stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{Path(str(dataset)).stem}"
        Path(root).mkdir(parents=True, exist_ok=True)
        path, k = Path(root) / stem, 1
        while True:
            try:
                path.mkdir()
                return cls(path)
            except FileExistsError:
                k += 1
                path = Path(root) / f"{stem}-{k}"

    def make(self) -> RunFolder:
        """Create the folder (and its parents) if it does not exist; return it."""
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    # --------------------------------------------------------------- reading
    @classmethod
    def for_model(cls, path) -> tuple[RunFolder, Path]:
        """The run folder and model file of ``path``: a run folder (its final model) or a
        model file (the folder it lies in)."""
        path = Path(path)
        if path.is_dir():
            folder = cls(path)
            return folder, folder.model
        return cls(path.parent), path

    def read_config(self) -> RunConfig:
        """The run's config.toml (ConfigError when it is missing or invalid)."""
        return RunConfig.from_toml(self.config)

    def config_or(self, default: RunConfig) -> RunConfig:
        """The run's config.toml, or ``default`` where the folder has none."""
        return self.read_config() if self.config.exists() else default

    def load_model(self):
        """The run's final model (model.safetensors)."""
        return model_file.load_model(self.model)


def diagnose_run(run_dir, human_error=0.0) -> Diagnosis:
    """Bias / variance diagnosis of a run folder from its metrics.json.

    See :func:`nnlab.practice.diagnose.diagnose_metrics_file` for what is read and raised.
    """
    return diagnose_metrics_file(RunFolder(run_dir).metrics, human_error=human_error)
