"""Load weights saved by Keras (HDF5) into an nnlab model, layer by layer.

Layouts read (the first that fits):

    Keras 2 ``model.save("m.h5")``     /model_weights/<layer>/<layer>/kernel:0, bias:0, ...
                                        attrs: model_weights.layer_names, <layer>.weight_names
    Keras 2 ``save_weights("w.h5")``   /<layer>/<layer>/kernel:0 ... with the same attrs at
                                        the root (the official VGG16/ResNet ``*_notop.h5``)
    Keras 3 ``save_weights("x.weights.h5")`` (or a ``.keras`` zip holding one)
                                        /layers/<class_name>[_k]/vars/0, 1, ...

Keras 2 files are matched by layer name: the nnlab layer ``block1_conv1`` receives the
file's ``block1_conv1``.  A Keras 2 group holding a nested model (a ``vgg16`` layer whose
``weight_names`` are ``block1_conv1/kernel:0``, ...) is split by the inner layer names.
Keras 3 files name layers by class, not by the names you gave (``dense``, ``dense_1``,
``conv2d``, ``batch_normalization``, in model order), so they are matched the way Keras
3 matches them: the k-th nnlab layer of a class takes the k-th of that class in the file.

Weights map by name (``kernel -> W``, ``bias -> b``, ``gamma``, ``beta``,
``moving_mean``, ``moving_variance``; Keras 1's ``<layer>_W``/``<layer>_b``); when the
names are not recognized (Keras 3's ``vars/0``) they map by position, which is how Keras
itself loads them: Dense and Conv2D (kernel, bias), BatchNormalization (gamma, beta,
moving_mean, moving_variance).  No transposition is needed: Keras stores Dense kernels as
(n_in, n_out) and conv kernels as HWIO, as nnlab does.

Nothing is assigned until every matched layer has been checked, so a failed load leaves
the model unchanged.  ``h5py`` is an optional dependency (``pip install h5py``).
"""

from __future__ import annotations

import importlib
import io
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .. import backend
from ..exceptions import ConfigError, ModelFileError, ShapeError

#: Keras weight name (without the ``:0``) -> nnlab parameter or state name.
KERAS_NAMES = {
    "kernel": "W",
    "bias": "b",
    "gamma": "gamma",
    "beta": "beta",
    "moving_mean": "moving_mean",
    "moving_variance": "moving_variance",
}
_KERAS1_NAME = re.compile(r"_(W|b)(?:_\d+)?$")  # block1_conv1_W_1:0 in the official notop files


def load_h5_weights(model, path, skip_mismatch: bool = False) -> dict:
    """Copy the weights of a Keras ``.h5`` / ``.weights.h5`` / ``.keras`` file into ``model``.

    Args:
        model: an nnlab model (built here if it is not yet).
        path: the file.
        skip_mismatch: False raises on the first layer whose weights do not fit; True
            skips such layers (with a warning) and loads the others.

    Returns:
        ``{"loaded": [...], "skipped": [...], "missing": [...], "unused": [...]}``: names
        of the model's layers loaded, skipped for a mismatch, and absent from the file
        (left as they were), and of the file's layers with weights that no model layer
        took.

    Raises:
        ImportError: h5py is not installed (the message says what to pip install).
        ModelFileError: the file is missing, is not HDF5, or has no known layout.
        ShapeError: a layer's weights have other shapes (or another count) than the
            model's; the message names the layer and both shapes.
        ConfigError: no layer of the model matches a layer of the file.
    """
    h5py = _import_h5py()
    path = Path(path)
    file_layers, layout = _read_file(h5py, path)
    if not model.built:
        model.build()

    plan, report = [], {"loaded": [], "skipped": [], "missing": [], "unused": []}
    taken = set()
    for layer, key in zip(model.layers, _file_keys(model, layout), strict=True):
        targets = {**layer.params, **layer.state}
        if not targets:
            continue
        if not file_layers.get(key):
            report["missing"].append(layer.name)
            continue
        taken.add(key)
        try:
            plan.extend(_match_layer(layer, targets, file_layers[key], key, path))
        except ShapeError as err:
            if not skip_mismatch:
                raise
            warnings.warn(f"load_h5_weights: skipped {err}", stacklevel=2)
            report["skipped"].append(layer.name)
            continue
        report["loaded"].append(layer.name)
    report["unused"] = [
        name for name, weights in file_layers.items() if weights and name not in taken
    ]
    if not report["loaded"] and not report["skipped"]:
        have = [name for name, weights in file_layers.items() if weights]
        want = [layer.name for layer in model.layers if layer.params or layer.state]
        raise ConfigError(
            f"load_h5_weights: no layer of {model.name!r} matches a layer of {path} "
            f"({layout} layout). The file has: {', '.join(have) or 'no weights'}; the model "
            f"has: {', '.join(want) or 'no weights'}"
        )
    for target, value in plan:
        target[...] = backend.xp.asarray(value, dtype=target.dtype)
    return report


# --------------------------------------------------------------------------- matching


def _file_keys(model, layout: str) -> list[str]:
    """Under which name each model layer is looked up in the file."""
    if layout != "keras3":
        return [layer.name for layer in model.layers]
    counts: dict[str, int] = {}
    keys = []
    for layer in model.layers:
        base = keras_snake_case(type(layer).__name__)
        k = counts.get(base, 0)
        counts[base] = k + 1
        keys.append(base if k == 0 else f"{base}_{k}")
    return keys


def keras_snake_case(name: str) -> str:
    """Keras' ``to_snake_case``: Conv2D -> conv2d, BatchNormalization -> batch_normalization."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _match_layer(layer, targets: dict, weights: list, key: str, path) -> list:
    """[(target array, file array)] for one layer; ShapeError when they do not fit."""
    expected = list(targets)
    by_name = {}
    for wname, value in weights:
        nnlab_key = _nnlab_key(wname)
        if nnlab_key is None or nnlab_key not in targets or nnlab_key in by_name:
            by_name = None
            break
        by_name[nnlab_key] = value
    if by_name is not None and set(by_name) == set(expected):
        pairs = [(k, by_name[k]) for k in expected]
    elif len(weights) == len(expected):  # Keras' own rule: the layer's weights in order
        pairs = list(zip(expected, (value for _, value in weights), strict=True))
    else:
        raise ShapeError(
            f"{layer.describe()}: {path} has {len(weights)} weights for layer {key!r} "
            f"({', '.join(f'{w} {tuple(v.shape)}' for w, v in weights)}), the model expects "
            f"{len(expected)} ({', '.join(f'{k} {tuple(targets[k].shape)}' for k in expected)})"
        )
    plan = []
    for name, value in pairs:
        target = targets[name]
        if tuple(value.shape) != tuple(target.shape):
            raise ShapeError(
                f"{layer.describe()}: {name} has shape {tuple(target.shape)} in the model but "
                f"{tuple(value.shape)} in {path} (layer {key!r})"
            )
        plan.append((target, value))
    return plan


def _nnlab_key(weight_name: str) -> str | None:
    short = weight_name.rsplit("/", 1)[-1].split(":", 1)[0]
    if short in KERAS_NAMES:
        return KERAS_NAMES[short]
    match = _KERAS1_NAME.search(short)
    return match.group(1) if match else None


# --------------------------------------------------------------------------- reading


def _import_h5py():
    try:
        return importlib.import_module("h5py")
    except ImportError:
        raise ImportError(
            "loading Keras .h5 weights needs h5py: pip install h5py "
            "(or pip install 'nnlab[vision]')"
        ) from None


def _read_file(h5py, path: Path) -> tuple[dict, str]:
    """({layer name: [(weight name, array), ...]}, layout) of a Keras weights file."""
    if not path.is_file():
        raise ModelFileError(f"weights file {str(path)!r} does not exist")
    source = path
    if zipfile.is_zipfile(path):  # a Keras 3 .keras archive: config.json + model.weights.h5
        with zipfile.ZipFile(path) as archive:
            if "model.weights.h5" not in archive.namelist():
                raise ModelFileError(f"{path}: a zip file without model.weights.h5")
            source = io.BytesIO(archive.read("model.weights.h5"))
    try:
        handle = h5py.File(source, "r")
    except OSError as err:
        raise ModelFileError(f"{path}: not an HDF5 file ({err})") from None
    with handle:
        if "model_weights" in handle:
            return _read_keras2(handle["model_weights"]), "keras2"
        if _attr_list(handle, "layer_names"):
            return _read_keras2(handle), "keras2"
        if isinstance(handle.get("layers"), h5py.Group):
            return _read_keras3(handle["layers"], h5py), "keras3"
    raise ModelFileError(
        f"{path}: no Keras weights layout found (expected a model_weights group, a "
        "layer_names attribute, or a layers group)"
    )


def _read_keras2(root) -> dict:
    layers: dict[str, list] = {}
    for name in _attr_list(root, "layer_names"):
        group = root[name]
        weight_names = _attr_list(group, "weight_names")
        owners = {w.rsplit("/", 1)[0] for w in weight_names if "/" in w}
        nested = len(owners) > 1  # a model inside the model: split by inner layer
        layers.setdefault(name, [])
        for wname in weight_names:
            owner = wname.split("/")[-2] if nested and "/" in wname else name
            layers.setdefault(owner, []).append((wname, np.asarray(group[wname])))
    return layers


def _read_keras3(root, h5py) -> dict:
    layers = {}
    for name, group in root.items():
        variables = group.get("vars") if isinstance(group, h5py.Group) else None
        if variables is None:
            continue
        order = sorted(variables, key=lambda k: int(k) if k.isdigit() else k)
        layers[name] = [(f"{name}/vars/{k}", np.asarray(variables[k])) for k in order]
    return layers


def _attr_list(obj, name: str) -> list[str]:
    """A list-of-strings attribute; Keras splits big ones into ``name0``, ``name1``, ..."""
    if name in obj.attrs:
        values = obj.attrs[name]
    else:
        values, i = [], 0
        while f"{name}{i}" in obj.attrs:
            values.extend(obj.attrs[f"{name}{i}"])
            i += 1
    if isinstance(values, str | bytes):
        values = [values]
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]
