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
    extra          JSON of caller data (``{"epoch": 3, ...}`` for checkpoints)

Tensors: ``<layer>/<param>`` (``dense_1/W``), state (``batch_normalization_1/moving_mean``),
``optimizer/<slot>`` (flat buffers) and ``extra/<name>``: arrays of caller data (a checkpoint's
early-stopping best weights, ``extra/early_stopping/dense_1/W``).  The file is a verified container
(:mod:`nnlab.saving.container`): read by the safetensors library, nothing is unpickled;
written to a temporary name and renamed, so a crash never leaves a half-written model.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
from safetensors.numpy import save as st_save

from .. import backend, registry
from ..exceptions import ModelFileError
from ..layers import Input
from ..models.network import SequentialNetwork
from .container import (
    atomic_write_bytes,
    file_digest,
    read_safetensors,
    sorted_header,
    verify_digest,
)

FORMAT = "nnlab"
VERSION = "1"
#: The name prefix of the caller's tensors (``extra_tensors``).
EXTRA = "extra/"


def save_model(
    model, path, include_optimizer=True, extra_metadata=None, extra_tensors=None
) -> None:
    """Write ``model`` to ``path`` (usually ``*.safetensors``), atomically.

    ``extra_metadata`` (JSON-able) and ``extra_tensors`` (name -> array) are the caller's
    data, given back by :func:`load_checkpoint`.
    """
    tensors = model.get_weights()
    for name, array in (extra_tensors or {}).items():
        tensors[EXTRA + name] = np.ascontiguousarray(backend.to_numpy(array))
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
    atomic_write_bytes(path, sorted_header(st_save(tensors, metadata=metadata)))


def read_model_file(path) -> tuple[dict, dict]:
    """(tensors, metadata) of an nnlab model file, verified.

    Read through :func:`~nnlab.saving.container.read_safetensors`; the header must say
    ``format: nnlab`` and this ``version``, and the ``sha256`` must match.

    Raises:
        ModelFileError: the file is missing, damaged, truncated, not an nnlab model file,
            of another format version, or altered; the message names the file.
    """
    tensors, metadata = read_safetensors(path, kind="model file")
    if metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an nnlab model file (no 'format: nnlab' in its header)")
    if metadata.get("version") != VERSION:
        raise ModelFileError(
            f"{path}: format version {metadata.get('version')!r}, this nnlab reads {VERSION!r}"
        )
    verify_digest(path, tensors, metadata)
    return tensors, metadata


def load_model_from_config(config: dict, dtype=None, compile: bool = True):
    """Build (and compile) a fresh model from ``model.get_config()`` output."""
    layers = [registry.from_config("layer", spec) for spec in config["layers"]]
    options = {"name": config["name"], "dtype": dtype or config["dtype"]}
    model_class = registry.lookup("model", config["class"])  # Model, Sequential
    if issubclass(model_class, SequentialNetwork):
        model = model_class(layers, input_shape=config["input_shape"], **options)
    else:
        inputs, outputs = _rebuild_graph(config, layers)
        model = model_class(inputs, outputs, **options)
    model.build()
    compiled = config.get("compile")
    if compile and compiled:
        model.compile(
            compiled["optimizer"],
            compiled["loss"],
            compiled["metrics"],
            loss_weights=compiled.get("loss_weights"),
        )
    return model


def _rebuild_graph(config: dict, layers: list):
    """(inputs, outputs) of a functional model: its Input nodes, then every call in order.

    A call reads the calls it names: a layer's name for its only call, ``name:k`` for the
    k-th call of a shared layer, with ``#i`` for output i of a call with several outputs
    (``lstm_1#1``: the a<T> of a return_state LSTM); the names after a recurrent call's
    first are its initial states.  Files of version 1 name each layer's single call in the
    layer's ``inbound`` and have one input, "input".
    """
    by_name = {layer.name: layer for layer in layers}
    if "calls" not in config:  # version 1: one input, each layer called once
        inputs = [Input(config["input_shape"]).node]
        nodes = {"input": inputs[0]}
        calls = [
            {"layer": spec["config"]["name"], "inbound": spec["inbound"]}
            for spec in config["layers"]
        ]
        outputs = [calls[-1]["layer"]]
        input_names = output_names = None
    else:
        inputs = [Input.from_config(dict(spec)).node for spec in config["inputs"]]
        nodes = {node.layer.name: node for node in inputs}
        calls, outputs = config["calls"], config["outputs"]
        input_names, output_names = config.get("input_names"), config.get("output_names")
    total = Counter(spec["layer"] for spec in calls)
    seen = Counter()
    for spec in calls:
        layer = by_name[spec["layer"]]
        parents = [_lookup(nodes, ref) for ref in spec["inbound"]]
        if layer.multi_input:
            node = layer(parents)
        else:
            node = layer(parents[0], initial_state=parents[1:] or None)
        ref = layer.name if total[layer.name] == 1 else f"{layer.name}:{seen[layer.name]}"
        nodes[ref] = node
        seen[layer.name] += 1
    out_nodes = [_lookup(nodes, ref) for ref in outputs]
    return _as_given(inputs, input_names), _as_given(out_nodes, output_names)


def _lookup(nodes: dict, ref: str):
    """The node a config names: a call's (``lstm_1``), or one output of a call with
    several (``lstm_1#1``, item 1 of the nodes that call returned)."""
    if ref in nodes:
        return nodes[ref]
    call, _, index = ref.rpartition("#")
    return nodes[call][int(index)]


def _as_given(nodes: list, names):
    """One node, a list, or a dict by the names the model was built with (when they are
    not the nodes' own names)."""
    if names is not None and names != [node.name for node in nodes]:
        return dict(zip(names, nodes, strict=True))
    return nodes[0] if len(nodes) == 1 else nodes


def load_model(path, compile: bool = True):
    """Rebuild the model saved at ``path``: architecture, weights, optimizer state.

    The returned model has ``initial_epoch`` set from a checkpoint's ``extra.epoch``.
    """
    tensors, metadata = read_model_file(path)
    return _rebuild(path, tensors, metadata, compile)


def load_checkpoint(path, compile: bool = True) -> tuple:
    """``(model, extra, extra_tensors)`` of the file at ``path``: the model as
    :func:`load_model` rebuilds it, and the caller data saved with it (``extra_metadata``,
    ``{}`` if none; ``extra_tensors`` by the names they were given)."""
    tensors, metadata = read_model_file(path)
    model = _rebuild(path, tensors, metadata, compile)
    extra = {k[len(EXTRA) :]: v for k, v in tensors.items() if k.startswith(EXTRA)}
    return model, read_extra(metadata), extra


def read_extra(metadata: dict) -> dict:
    """The caller data (``extra_metadata``) in a model file's metadata, ``{}`` if none."""
    return json.loads(metadata.get("extra", "{}"))


def _rebuild(path, tensors: dict, metadata: dict, compile: bool):
    """The model of a verified file's tensors and metadata."""
    try:
        model = load_model_from_config(json.loads(metadata["model"]), compile=compile)
        model.set_weights(tensors)
        if model.compiled:
            _restore_optimizer(model, tensors, metadata)
        if "rng" in metadata:  # the shuffle and dropout generator continues where it stopped
            model.rng.bit_generator.state = json.loads(metadata["rng"])
        model.initial_epoch = int(read_extra(metadata).get("epoch", 0))
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
