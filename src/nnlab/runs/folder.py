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

One run writes a folder at a time: :meth:`RunFolder.claim` holds ``.lock`` (an exclusive
``flock`` on a file holding the writer's pid) while the run writes, refuses a folder that
holds another run unless asked to replace it, and takes away what a run that failed before
its first checkpoint wrote.  The lock file is gone when the run ends; the lock itself goes
with the process, so a killed run's lock file (a dead pid) is simply taken over.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from pathlib import Path

from ..exceptions import NNLabError
from ..practice.diagnose import Diagnosis, diagnose_metrics_file
from ..saving import model_file
from .config import RunConfig

#: The lock file a writing run holds (not an entry: it is gone once the run ends).
LOCK_NAME = ".lock"


class RunFolderError(NNLabError, OSError):
    """A run folder that this run may not write: another run holds it, or it holds a run
    that would be silently replaced."""


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
        #: True when :meth:`new` made the folder: :meth:`claim` removes it if the run fails early
        self.made_here = False

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
                folder = cls(path)
                folder.made_here = True
                return folder
            except FileExistsError:
                k += 1
                path = Path(root) / f"{stem}-{k}"

    def make(self) -> RunFolder:
        """Create the folder (and its parents) if it does not exist; return it."""
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    # ------------------------------------------------------------- claiming
    @property
    def lock_file(self) -> Path:
        """The lock file held while a run writes the folder (it holds the writer's pid)."""
        return self.path / LOCK_NAME

    def contents(self) -> list[str]:
        """Names of what the folder holds, but the lock file (sorted; [] if it is missing)."""
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if p.name != LOCK_NAME)

    @contextlib.contextmanager
    def claim(self, resume: bool = False, overwrite: bool = False):
        """Hold the folder for one run while the ``with`` body writes it.

        Creates the folder, locks it (:class:`FolderLock`) and checks that it may be
        written: a new run (not ``resume``) needs an empty folder, or ``overwrite`` to
        empty a folder that holds a run (its config.toml).  When the body raises before
        the run's first checkpoint, what it wrote goes, and the folder too if this run
        made it (:meth:`new` or a missing path).

        Raises:
            RunFolderError: another run holds the lock; or the folder is not empty (and
                ``overwrite`` was not given, or it holds no run to replace).
        """
        made = self.made_here or not self.path.exists()
        self.make()
        with FolderLock(self.lock_file):
            if not resume:
                self._make_room(overwrite)
            try:
                yield self
            except BaseException:
                if not resume and not self.checkpoint.exists():
                    self._remove_contents()
                    if made:
                        self.lock_file.unlink(missing_ok=True)
                        with contextlib.suppress(OSError):  # another run came in meanwhile
                            self.path.rmdir()
                raise

    def _make_room(self, overwrite: bool) -> None:
        """Empty the folder for a new run, or refuse (see :meth:`claim`)."""
        held = self.contents()
        if not held:
            return
        shown = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
        if not overwrite:
            raise RunFolderError(
                f"run folder {self.path} is not empty (it holds {shown}); give --overwrite "
                f"to replace it, --resume {self.path} to continue it, or another --out"
            )
        if not self.config.exists():
            raise RunFolderError(
                f"--overwrite replaces a run folder, and {self.path} holds no "
                f"{self.config.name} (it holds {shown}); nothing was removed"
            )
        self._remove_contents()

    def _remove_contents(self) -> None:
        """Delete everything in the folder but the lock file."""
        for name in self.contents():
            path = self.path / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()

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


class FolderLock:
    """An exclusive lock on a run folder: ``flock`` on its lock file, which holds the pid.

    ``with FolderLock(path):`` takes the lock or raises :class:`RunFolderError` naming the
    folder and the holder's pid.  The kernel drops a ``flock`` when its process dies, so a
    lock file left by a killed run (its pid dead) is taken over without asking.  The file
    is removed on release; a taker checks that the file it locked is still the one at the
    path (a releaser may have removed it in between), else it tries again.
    """

    def __init__(self, path):
        self.path = Path(path)
        #: True when :meth:`new` made the folder: :meth:`claim` removes it if the run fails early
        self.made_here = False
        self.fd: int | None = None

    def __enter__(self) -> FolderLock:
        while self.fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder_pid(fd)
                os.close(fd)
                raise RunFolderError(
                    f"run folder {self.path.parent} is being written by another run "
                    f"(pid {holder}, lock file {self.path}); wait for it to end or write "
                    "to another folder"
                ) from None
            if _is_same_file(fd, self.path):
                self.fd = fd
            else:
                os.close(fd)
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{os.getpid()}\n".encode())
        return self

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)
        os.close(self.fd)  # drops the flock
        self.fd = None


def _holder_pid(fd: int) -> str:
    """The pid in a held lock file (it may take the holder a moment to write it)."""
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.01)
    return "unknown"


def _is_same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def diagnose_run(run_dir, human_error=0.0) -> Diagnosis:
    """Bias / variance diagnosis of a run folder from its metrics.json.

    See :func:`nnlab.practice.diagnose.diagnose_metrics_file` for what is read and raised.
    """
    return diagnose_metrics_file(RunFolder(run_dir).metrics, human_error=human_error)
