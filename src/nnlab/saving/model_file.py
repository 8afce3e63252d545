"""Model files: one safetensors file holding the weights and, in its JSON header, the
architecture, compile settings and (optionally) the optimizer state.

Layout of the header's ``__metadata__`` (all strings, as safetensors requires):

    format         "nnlab"
    version        "1"
    model          JSON of ``model.get_config()`` (layers and their arguments)
    optimizer      JSON of the optimizer step count ``{"t": ...}`` when saved with it
    rng            JSON of the model's generator state (checkpoints: resume = no interruption)
    sha256         digest of the other metadata entries and of every tensor's name,
                   dtype, shape and bytes, in name order: any altered byte is detected
    extra          JSON of caller data (``{"epoch": 3}`` for checkpoints)

Tensors: ``<layer>/<param>`` (``dense_1/W``), state (``batch_normalization_1/moving_mean``),
and ``optimizer/<slot>`` (flat buffers).  Nothing is unpickled; files are written to a
temporary name and renamed, so a crash never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from .. import backend, registry
from ..exceptions import ModelFileError

FORMAT = "nnlab"
VERSION = "1"


def save_model(model, path, include_optimizer=True, extra_metadata=None) -> None:
    """Write ``model`` to ``path`` (usually ``*.safetensors``), atomically."""
    tensors = model.get_weights()
    metadata = {"format": FORMAT, "version": VERSION, "model": json.dumps(model.get_config())}
    optimizer = model.optimizer
    if include_optimizer and optimizer is not None and optimizer.slots:
        for key, slot in optimizer.slots.items():
            tensors[f"optimizer/{key}"] = backend.to_numpy(slot).copy()
    if include_optimizer and optimizer is not None:
        metadata["optimizer"] = json.dumps({"t": optimizer.t})
    if extra_metadata:
        metadata["extra"] = json.dumps(extra_metadata)
    rng_state = getattr(getattr(model.rng, "bit_generator", None), "state", None)
    if include_optimizer and isinstance(rng_state, dict):
        metadata["rng"] = json.dumps(rng_state)
    metadata["sha256"] = file_digest(tensors, metadata)
    atomic_write_bytes(path, st_save(tensors, metadata=metadata))


def file_digest(tensors: dict, metadata: dict) -> str:
    """SHA-256 over the metadata (but its own "sha256" entry) and every tensor."""
    described = {k: v for k, v in metadata.items() if k != "sha256"}
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode())
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        digest.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def atomic_write_bytes(path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
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


def read_model_file(path) -> tuple[dict, dict]:
    """(tensors, metadata) of an nnlab file, verified; ModelFileError if anything is off."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist")
    data = path.read_bytes()
    metadata = _read_header_metadata(data, path)
    try:
        tensors = st_load(data)
    except Exception as err:  # safetensors raises its own error type for any corruption
        raise ModelFileError(
            f"{path}: the weights cannot be read ({err}); the file is damaged"
        ) from None
    if metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an nnlab model file (no 'format: nnlab' in its header)")
    if metadata.get("version") != VERSION:
        raise ModelFileError(
            f"{path}: format version {metadata.get('version')!r}, this nnlab reads {VERSION!r}"
        )
    expected, actual = metadata.get("sha256"), file_digest(tensors, metadata)
    if expected != actual:
        raise ModelFileError(
            f"{path}: the weights were altered (checksum {actual[:12]}..., header says "
            f"{str(expected)[:12]}...)"
        )
    return tensors, metadata


def _read_header_metadata(data: bytes, path) -> dict:
    """The ``__metadata__`` of a safetensors header (8-byte length, then JSON)."""
    if len(data) < 8:
        raise ModelFileError(
            f"{path}: {len(data)} bytes is too short for a model file (truncated?)"
        )
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise ModelFileError(
            f"{path}: header claims {length} bytes but the file has {len(data) - 8}: truncated"
        )
    try:
        header = json.loads(data[8 : 8 + length])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"{path}: the header is not valid JSON; not a model file") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: the header is not a JSON object; not a model file")
    return header.get("__metadata__") or {}


def load_model_from_config(config: dict, dtype=None, compile: bool = True):
    """Build (and compile) a fresh model from ``model.get_config()`` output."""
    from ..layers import Input
    from ..models.model import Model, Sequential

    layers = [registry.from_config("layer", spec) for spec in config["layers"]]
    options = {"name": config["name"], "dtype": dtype or config["dtype"]}
    if config["class"] == "Sequential":
        model = Sequential(layers, input_shape=config["input_shape"], **options)
    else:
        inputs = Input(config["input_shape"])
        nodes = {"input": inputs.node}
        for layer, spec in zip(layers, config["layers"], strict=True):
            parents = [nodes[name] for name in spec["inbound"]]
            nodes[layer.name] = layer(parents if layer.multi_input else parents[0])
        model = Model(inputs, nodes[layers[-1].name], **options)
    model.build()
    compiled = config.get("compile")
    if compile and compiled:
        model.compile(compiled["optimizer"], compiled["loss"], compiled["metrics"])
    return model


def load_model(path, compile: bool = True):
    """Rebuild the model saved at ``path``: architecture, weights, optimizer state.

    The returned model has ``initial_epoch`` set from a checkpoint's ``extra.epoch``.
    """
    tensors, metadata = read_model_file(path)
    try:
        model = load_model_from_config(json.loads(metadata["model"]), compile=compile)
        model.set_weights(tensors)
        if model.compiled:
            _restore_optimizer(model, tensors, metadata)
        if "rng" in metadata:  # the shuffle and dropout generator continues where it stopped
            model.rng.bit_generator.state = json.loads(metadata["rng"])
        extra = json.loads(metadata.get("extra", "{}"))
        model.initial_epoch = int(extra.get("epoch", 0))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        # ShapeError and ConfigError are ValueErrors: the header disagrees with itself
        raise ModelFileError(f"{path}: the header is inconsistent ({err})") from None
    return model


def _restore_optimizer(model, tensors, metadata):
    if "optimizer" not in metadata:
        return
    optimizer = model.optimizer
    optimizer.t = int(json.loads(metadata["optimizer"])["t"])
    for key, slot in optimizer.slots.items():
        saved = tensors.get(f"optimizer/{key}")
        if saved is not None and saved.shape == slot.shape:
            slot[...] = backend.xp.asarray(saved)
