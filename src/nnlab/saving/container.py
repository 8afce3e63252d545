"""The container of nnlab's weight files: verified safetensors files, written atomically.

A container is a plain safetensors file (8-byte header length, JSON header, tensor
bytes) whose header ``__metadata__`` (a str -> str table) holds a ``sha256`` entry: the
digest of the other metadata entries and of every tensor's name, dtype, shape and bytes
(:func:`file_digest`), so an altered byte anywhere is detected.  Model files
(:mod:`nnlab.saving.model_file`) and converted pretrained weights
(:mod:`nnlab.applications.vgg16`) are containers.

Reading goes through the ``safetensors`` library (``safe_open``), which only copies
bytes into arrays: nothing in a file is executed or unpickled.  Every way a file can be
damaged, truncated or foreign ends in a :class:`~nnlab.exceptions.ModelFileError` that
names the file, never in the library's own exception.

This module imports no model code: NumPy, safetensors and nnlab's exceptions only.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open

from ..exceptions import ModelFileError

#: A phrase of a safetensors error about the header -> what it means for the file.
_HEADER_PROBLEMS = (
    ("invalid UTF-8 in header", "the header is not valid JSON"),
    ("expected struct HashMetadata", "the header is not a JSON object"),
    ("invalid JSON in header", "the header is not a safetensors table of tensors"),
)


def file_digest(tensors: dict, metadata: dict) -> str:
    """SHA-256 over the metadata (but its own "sha256" entry) and every tensor.

    The metadata is hashed as sorted JSON, then each tensor in name order as
    ``name|dtype|shape|`` followed by its C-order bytes.
    """
    described = {k: v for k, v in metadata.items() if k != "sha256"}
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode())
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        digest.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def sorted_header(raw: bytes) -> bytes:
    """The safetensors bytes ``raw`` with the header's ``__metadata__`` sorted by key.

    The safetensors library keeps the metadata in a hash map whose order changes from one
    process to the next, so the same model would give different files.  Written again with
    its entries sorted (the tensors keep the library's order and offsets) and padded with
    spaces to a multiple of 8 bytes as the format asks, the same seed gives byte-identical
    files.
    """
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + length])
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + raw[8 + length :]


def atomic_write_bytes(path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``.

    The folder is created if needed; the file gets the mode ``open()`` would give
    (0o666 less the umask).  On any error or interruption the temporary file is removed
    and an existing ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_safetensors(path, kind: str = "model file") -> tuple[dict, dict]:
    """(tensors, metadata) of the safetensors file ``path``, through ``safe_open``.

    Args:
        path: the file.
        kind: what the file should be, for the messages ("model file").

    Returns:
        ``{name: numpy array}`` (arrays of their own, not views of the file) and the
        header's ``__metadata__`` (``{}`` when it has none).  The digest is not checked
        here: see :func:`verify_digest`.

    Raises:
        ModelFileError: the file is missing, or the library cannot read it (truncated,
            header not JSON, tensors not covering the file, ...); the message names the
            file and says what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{kind} {str(path)!r} does not exist")
    try:
        with safe_open(path, framework="np") as file:
            metadata = file.metadata() or {}
            tensors = {name: file.get_tensor(name) for name in file.keys()}
    except (SafetensorError, OSError, TypeError) as err:  # TypeError: a dtype NumPy lacks
        raise ModelFileError(_unreadable(path, kind, str(err))) from None
    return tensors, metadata


def verify_digest(path, tensors: dict, metadata: dict) -> None:
    """Check the metadata's "sha256" against :func:`file_digest`; ModelFileError if it differs."""
    expected, actual = metadata.get("sha256"), file_digest(tensors, metadata)
    if expected != actual:
        raise ModelFileError(
            f"{path}: the weights were altered (checksum {actual[:12]}..., header says "
            f"{str(expected)[:12]}...)"
        )


def _unreadable(path: Path, kind: str, reason: str) -> str:
    """The message for a file that safetensors refused with ``reason``."""
    size = path.stat().st_size
    if "header too small" in reason:
        return f"{path}: {size} bytes is too short for a {kind} (truncated?)"
    if "invalid header length" in reason or "header too large" in reason:
        claimed = _claimed_header_length(path)
        if claimed > size - 8:
            return f"{path}: header claims {claimed} bytes but the file has {size - 8}: truncated"
    for phrase, meaning in _HEADER_PROBLEMS:
        if phrase in reason:
            return f"{path}: {meaning}; not a {kind} ({reason})"
    return f"{path}: the weights cannot be read ({reason}); the file is damaged or not a {kind}"


def _claimed_header_length(path: Path) -> int:
    """The header length the file's first 8 bytes announce (little-endian uint64)."""
    with open(path, "rb") as file:
        return int.from_bytes(file.read(8), "little")
