"""MTCNN face detection (Zhang et al. 2016, Course 4 week 4) with its real weights.

Three small CNNs, each an nnlab Model of Conv2D, PReLU, MaxPool2D, Dense and softmax layers
(channels-last, HWIO kernels), run as a cascade:

    P-Net  (m, H, W, 3) -> box offsets (m, H', W', 4), face probability (m, H', W', 2)
           conv1 3x3x10, PReLU, max 2x2/2 "same", conv2 3x3x16, PReLU, conv3 3x3x32, PReLU,
           conv4_1 1x1x4 | conv4_2 1x1x2 + softmax            H' = ceil((H - 2) / 2) - 4
           fully convolutional: a 12x12 window per output cell, stride 2
    R-Net  (n, 24, 24, 3) -> offsets (n, 4), probability (n, 2)
           conv1 3x3x28, PReLU, max 3x3/2 "same", conv2 3x3x48, PReLU, max 3x3/2 "valid",
           conv3 2x2x64, PReLU, Permute (W, H, C), Flatten (576), fc4 128, PReLU,
           fc5_1 4 | fc5_2 2 + softmax
    O-Net  (n, 48, 48, 3) -> offsets (n, 4), landmarks (n, 10), probability (n, 2)
           conv1 3x3x32, PReLU, max 3x3/2 "same", conv2 3x3x64, PReLU, max 3x3/2 "valid",
           conv3 3x3x64, PReLU, max 2x2/2 "same", conv4 2x2x128, PReLU, Permute, Flatten
           (1152), fc5 256, PReLU, fc6_1 4 | fc6_2 10 | fc6_3 2 + softmax

The conv PReLUs share alpha over the image (``shared_axes=[1, 2]``, one per channel), the
dense ones have one per unit.  Keras' "same" max pooling pads only the bottom / right, so it
is PyTorch's ``MaxPool2d(ceil_mode=True)`` (the original Caffe nets' pooling).  The
Permute before Flatten puts the width axis first, the order the dense weights expect.

The weights and the pipeline are those of the PyPI package ``mtcnn==1.0.0`` (MIT; install
it with ``pip install --no-deps mtcnn==1.0.0``: it imports TensorFlow, so nnlab never
imports it and only reads ``mtcnn/assets/weights/{pnet,rnet,onet}.lz4``).  Each file is
a joblib pickle (lz4) of the list of the net's arrays in Keras' ``model.weights`` order
(:data:`WEIGHT_ORDER`).  A pickle can run any code while it loads, so
:func:`read_joblib_arrays` unpickles with an allowlist of three classes (joblib's
``NumpyArrayWrapper``, NumPy's ``ndarray`` and ``dtype``) and numeric arrays only; anything
else raises :class:`UnsafePickleError` before it is called.  The arrays are then cached
once as a verified safetensors container (``cache_dir()/mtcnn_weights.safetensors``,
``$NNLAB_CACHE_DIR`` moves it), which later loads read without unpickling anything.

The detector (:class:`MTCNN`), as the package does it, for images normalized to
x = (pixel - 127.5) / 128:

1. Pyramid: scales s_k = (12 / min_face_size) * f^k, k < round(log(min(H, W) / 12) /
   log(1 / f) - 1), f = ``scale_factor``; each scale resized by area averaging (TensorFlow's
   ``ResizeMethod.AREA``) to (int(H s_k), int(W s_k)); sizes under 12 are skipped.
2. P-Net on each scaled batch; a cell (i, j) with probability p > t1 proposes
   (x1, y1, x2, y2) = (2 j + 12 d1, 2 i + 12 d2, 2 j + 12 + 12 d3, 2 i + 12 + 12 d4) / s_k
   (d: the cell's offsets); NMS (IoU 0.5) within each scale, then (IoU 0.7) across scales;
   boxes made square about their centers (side max(w, h)).
3. R-Net on the boxes' crops, bilinearly resized to 24x24 (TensorFlow's
   ``crop_and_resize``: samples at y1 (H - 1) / H + r (y2 - y1)(H - 1) / (23 H), 0
   outside the image); p from R-Net; boxes += d * (w + 1, h + 1, w + 1, h + 1); keep
   p > t2; NMS (IoU 0.7); squared.
4. O-Net on 48x48 crops; landmarks x = (w + 1) l_x + x1 - 1, y = (h + 1) l_y + y1 - 1 on
   the boxes before their refinement; boxes refined as in 3; keep p > t3; NMS 0.7 in 'Min'
   mode (intersection / smaller area).
5. Boxes clipped to the image (landmarks are not); dicts round to integer pixels.

Every step is batched: one P-Net pass per scale for all images, one R-Net and one O-Net pass
for all proposals, crops gathered with index arrays; NMS is ``nnlab.ops.boxes.nms`` (greedy,
per image through its ``classes``).

Where this differs from the package: its NMS is one pass over the IoU matrix, in which a box
that was itself suppressed still suppresses the boxes below it; greedy NMS lets such boxes
live (the usual rule, and the original MTCNN's), so a few more proposals can reach R-Net.
A pyramid scale under 12 pixels (only with min_face_size > 20) is skipped, where the
package's TensorFlow call fails and it reports no face at all.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections import OrderedDict
from pathlib import Path

import numpy as np
from safetensors.numpy import save as st_save

from ..data.datasets import cache_dir
from ..exceptions import ConfigError, InputValueError, ModelFileError, NNLabError, ShapeError
from ..layers import Conv2D, Dense, Flatten, Input, MaxPool2D, Permute, PReLU
from ..ops.boxes import nms
from ..saving.container import (
    atomic_write_bytes,
    file_digest,
    read_safetensors,
    sorted_header,
    verify_digest,
)
from ..saving.joblib_arrays import read_joblib_arrays
from ..saving.weights_cache import cached_weights
from ..training.model import Model

PACKAGE = "mtcnn"
PIP = "mtcnn==1.0.0"
NETS = ("pnet", "rnet", "onet")
CACHE_NAME = "mtcnn_weights.safetensors"
FILE_FORMAT = "nnlab-weights"

#: Each net's tensors in the order of the package's files (Keras' ``model.weights``).
WEIGHT_ORDER = {
    "pnet": (
        "conv1/W", "conv1/b", "prelu1/alpha", "conv2/W", "conv2/b", "prelu2/alpha",
        "conv3/W", "conv3/b", "prelu3/alpha", "conv4_1/W", "conv4_1/b", "conv4_2/W",
        "conv4_2/b",
    ),
    "rnet": (
        "conv1/W", "conv1/b", "prelu1/alpha", "conv2/W", "conv2/b", "prelu2/alpha",
        "conv3/W", "conv3/b", "prelu3/alpha", "fc4/W", "fc4/b", "prelu4/alpha",
        "fc5_1/W", "fc5_1/b", "fc5_2/W", "fc5_2/b",
    ),
    "onet": (
        "conv1/W", "conv1/b", "prelu1/alpha", "conv2/W", "conv2/b", "prelu2/alpha",
        "conv3/W", "conv3/b", "prelu3/alpha", "conv4/W", "conv4/b", "prelu4/alpha",
        "fc5/W", "fc5/b", "prelu5/alpha", "fc6_1/W", "fc6_1/b", "fc6_2/W", "fc6_2/b",
        "fc6_3/W", "fc6_3/b",
    ),
}  # fmt: skip
#: The five landmarks, in O-Net's order (x's in outputs 0-4, y's in 5-9).  "left_eye" is
#: the one on the image's left (the person's right eye), as the package names them.
LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
#: Smallest P-Net input: one 12x12 window.
CELL = 12
STRIDE = 2
#: The columns of :meth:`MTCNN.detect`'s rows.
COLUMNS = (
    "image", "x1", "y1", "x2", "y2", "confidence",
    *(f"{name}_x" for name in LANDMARKS), *(f"{name}_y" for name in LANDMARKS),
)  # fmt: skip


class WeightsNotFoundError(NNLabError, FileNotFoundError):
    """The MTCNN weights are neither cached nor readable from the installed package."""


# =============================================================================== nets
def _conv_prelu(x, filters, kernel, name):
    x = Conv2D(filters, kernel, name=f"conv{name}")(x)
    return PReLU(shared_axes=[1, 2], name=f"prelu{name}")(x)


def pnet(input_shape=(CELL, CELL, 3), weights="mtcnn", dtype=None) -> Model:
    """P-Net for images of ``input_shape`` (H, W, 3), H, W >= 12; outputs [offsets (m, H',
    W', 4), probabilities (m, H', W', 2)].  The weights fit every size (a fully
    convolutional net): build one model per size.

    ``weights``: "mtcnn" (the package's, :func:`mtcnn_weights`), None (random), or a dict
    like :func:`mtcnn_weights`'s.
    """
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or shape[2] != 3 or min(shape[:2]) < CELL:
        raise ShapeError(f"pnet: input_shape must be (H, W, 3) with H, W >= 12, got {shape}")
    inputs = Input(shape)
    x = _conv_prelu(inputs, 10, 3, "1")
    x = MaxPool2D(2, 2, padding="same", name="pool1")(x)
    x = _conv_prelu(x, 16, 3, "2")
    x = _conv_prelu(x, 32, 3, "3")
    offsets = Conv2D(4, 1, name="conv4_1")(x)
    probs = Conv2D(2, 1, activation="softmax", name="conv4_2")(x)
    return _finish(Model(inputs, [offsets, probs], dtype=dtype, name="pnet"), weights)


def rnet(weights="mtcnn", dtype=None) -> Model:
    """R-Net: (n, 24, 24, 3) -> [offsets (n, 4), probabilities (n, 2)]."""
    inputs = Input((24, 24, 3))
    x = _conv_prelu(inputs, 28, 3, "1")
    x = MaxPool2D(3, 2, padding="same", name="pool1")(x)
    x = _conv_prelu(x, 48, 3, "2")
    x = MaxPool2D(3, 2, padding="valid", name="pool2")(x)
    x = _conv_prelu(x, 64, 2, "3")  # (n, 3, 3, 64)
    x = Flatten(name="flatten")(Permute((2, 1, 3), name="permute")(x))  # (n, 576), W first
    x = PReLU(name="prelu4")(Dense(128, name="fc4")(x))
    offsets = Dense(4, name="fc5_1")(x)
    probs = Dense(2, activation="softmax", name="fc5_2")(x)
    return _finish(Model(inputs, [offsets, probs], dtype=dtype, name="rnet"), weights)


def onet(weights="mtcnn", dtype=None) -> Model:
    """O-Net: (n, 48, 48, 3) -> [offsets (n, 4), landmarks (n, 10), probabilities (n, 2)]."""
    inputs = Input((48, 48, 3))
    x = _conv_prelu(inputs, 32, 3, "1")
    x = MaxPool2D(3, 2, padding="same", name="pool1")(x)
    x = _conv_prelu(x, 64, 3, "2")
    x = MaxPool2D(3, 2, padding="valid", name="pool2")(x)
    x = _conv_prelu(x, 64, 3, "3")
    x = MaxPool2D(2, 2, padding="same", name="pool3")(x)
    x = _conv_prelu(x, 128, 2, "4")  # (n, 3, 3, 128)
    x = Flatten(name="flatten")(Permute((2, 1, 3), name="permute")(x))  # (n, 1152)
    x = PReLU(name="prelu5")(Dense(256, name="fc5")(x))
    offsets = Dense(4, name="fc6_1")(x)
    landmarks = Dense(10, name="fc6_2")(x)
    probs = Dense(2, activation="softmax", name="fc6_3")(x)
    model = Model(inputs, [offsets, landmarks, probs], dtype=dtype, name="onet")
    return _finish(model, weights)


def _finish(model: Model, weights) -> Model:
    model.build()
    if weights is not None:
        load_mtcnn_weights(model, mtcnn_weights() if weights == "mtcnn" else weights)
    return model


def load_mtcnn_weights(model: Model, weights: dict) -> Model:
    """Copy ``weights["<net>/<layer>/<param>"]`` into ``model`` (named "pnet", "rnet" or
    "onet", as the builders name them), checking every shape first.

    Raises:
        ConfigError: the model's name is not one of the three nets.
        ShapeError: a layer's parameter has another shape than the weights' (both named).
        ModelFileError: ``weights`` lacks a tensor of the net.
    """
    net = model.name
    if net not in WEIGHT_ORDER:
        raise ConfigError(f"load_mtcnn_weights: model name must be one of {NETS}, got {net!r}")
    plan = []
    for key in WEIGHT_ORDER[net]:
        layer_name, param = key.split("/")
        target = model.get_layer(layer_name).params[param]
        name = f"{net}/{key}"
        if name not in weights:
            raise ModelFileError(f"load_mtcnn_weights: the weights have no tensor {name!r}")
        value = np.asarray(weights[name])
        if value.shape != tuple(target.shape):
            raise ShapeError(
                f"load_mtcnn_weights: {model.get_layer(layer_name).describe()}: {param} has "
                f"shape {tuple(target.shape)}, MTCNN's {name} has shape {value.shape}"
            )
        plan.append((target, value))
    for target, value in plan:
        target[...] = value
    return model


# ============================================================================ weights
def find_mtcnn_package() -> Path | None:
    """The weights folder ``mtcnn/assets/weights`` of the installed package, or None.

    Found with ``importlib.util.find_spec``, which does not import the package (importing
    it imports TensorFlow).
    """
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(root) / "assets" / "weights"
        if all((folder / f"{net}.lz4").is_file() for net in NETS):
            return folder
    return None


def mtcnn_cache_path() -> Path:
    """``cache_dir()/mtcnn_weights.safetensors`` (``$NNLAB_CACHE_DIR`` moves it)."""
    return cache_dir() / CACHE_NAME


def convert_mtcnn_weights(folder) -> dict[str, np.ndarray]:
    """``{"pnet/conv1/W": ..., ...}`` read from ``folder/{pnet,rnet,onet}.lz4``."""
    weights = {}
    for net in NETS:
        path = Path(folder) / f"{net}.lz4"
        arrays = read_joblib_arrays(path)
        names = WEIGHT_ORDER[net]
        if len(arrays) != len(names):
            raise ModelFileError(f"{path}: {len(arrays)} arrays, {net} has {len(names)}")
        for key, array in zip(names, arrays, strict=True):
            weights[f"{net}/{key}"] = np.ascontiguousarray(array, dtype=np.float32)
    return weights


def mtcnn_weights(source=None) -> dict[str, np.ndarray]:
    """The 50 MTCNN tensors, ``{"pnet/conv1/W": (3, 3, 3, 10) float32, ...}`` (HWIO).

    ``source``: None reads the cache, made on first use from the installed ``mtcnn``
    package (a damaged cache is remade); a folder holding the three ``.lz4`` files
    converts them (not cached); a ``.safetensors`` file from :func:`write_mtcnn_file`.
    """
    if source is not None:
        path = Path(source)
        return convert_mtcnn_weights(path) if path.is_dir() else read_mtcnn_file(path)
    return cached_weights(
        mtcnn_cache_path(), read_mtcnn_file, _convert_installed_package, write_mtcnn_file, "MTCNN"
    )


def _convert_installed_package(state: str):
    """(weights, source) from the installed mtcnn package, or WeightsNotFoundError saying
    how to install it."""
    folder = find_mtcnn_package()
    if folder is None:
        raise WeightsNotFoundError(
            f"MTCNN weights not found: {state}, and the mtcnn package is not installed. Run:\n"
            f"    pip install --no-deps {PIP}   # the weights ship inside it; --no-deps keeps "
            "TensorFlow out\nthen call again: the weights are converted once into that file."
        )
    return convert_mtcnn_weights(folder), folder


def _expected_names() -> list[str]:
    return [f"{net}/{key}" for net in NETS for key in WEIGHT_ORDER[net]]


def write_mtcnn_file(path, weights: dict, source=None) -> Path:
    """Write the tensors as safetensors, atomically, with their SHA-256 in the header."""
    tensors = {name: np.ascontiguousarray(weights[name], np.float32) for name in _expected_names()}
    metadata = {
        "format": FILE_FORMAT,
        "model": "mtcnn",
        "layout": "HWIO kernels, (n_in, n_out) dense kernels, PReLU alphas (Keras shapes)",
    }
    if source is not None:
        metadata["source"] = f"{PIP}: mtcnn/assets/weights/{{pnet,rnet,onet}}.lz4"
        digest = hashlib.sha256()
        for net in NETS:
            digest.update((Path(source) / f"{net}.lz4").read_bytes())
        metadata["source_sha256"] = digest.hexdigest()
    metadata["sha256"] = file_digest(tensors, metadata)
    atomic_write_bytes(path, sorted_header(st_save(tensors, metadata=metadata)))
    return Path(path)


def read_mtcnn_file(path) -> dict[str, np.ndarray]:
    """Read and verify a file from :func:`write_mtcnn_file` (ModelFileError if off)."""
    tensors, metadata = read_safetensors(path, kind="MTCNN weights file")
    if metadata.get("format") != FILE_FORMAT or metadata.get("model") != "mtcnn":
        raise ModelFileError(f"{path}: not an nnlab MTCNN weights file")
    verify_digest(path, tensors, metadata)
    missing = [name for name in _expected_names() if name not in tensors]
    if missing:
        raise ModelFileError(f"{path}: missing {', '.join(missing)}")
    return tensors


# ========================================================================= resampling
def area_resize(images, height: int, width: int) -> np.ndarray:
    """Resize (m, H, W, C) images to (m, height, width, C) by area averaging, as
    TensorFlow's ``ResizeMethod.AREA``: output pixel y covers input [y s, (y + 1) s),
    s = H / height, each input pixel weighted by its overlap (separable, rows then
    columns; a loop over the few taps of a window, never over pixels)."""
    x = images if images.dtype.kind == "f" else images.astype(np.float32)
    for axis, size in ((1, height), (2, width)):
        taps, weights = _area_taps(x.shape[axis], size)  # (size, K) each
        shape = [1] * x.ndim
        shape[axis] = size
        out = None
        for k in range(taps.shape[1]):  # out = sum over taps k of w_k * x[..., taps_k, ...]
            part = np.take(x, taps[:, k], axis=axis)  # (m, size, W, C), then (m, h, size, C)
            part *= weights[:, k].reshape(shape)
            out = part if out is None else np.add(out, part, out=out)
        x = out
    return x


def _area_taps(n_in: int, n_out: int):
    """(n_out, K) input indices and weights of area resampling along one axis: the overlap
    of [i, i + 1) with [y s, (y + 1) s), over s (float32, as TensorFlow computes it)."""
    scale = np.float32(n_in) / np.float32(n_out)
    y = np.arange(n_out, dtype=np.float32)
    lo, hi = y * scale, (y + 1) * scale  # (n_out,)
    start = np.floor(lo).astype(np.int64)
    k = int(np.max(np.ceil(hi).astype(np.int64) - start))
    idx = start[:, None] + np.arange(k)  # (n_out, K)
    overlap = np.minimum(idx + 1, hi[:, None]) - np.maximum(idx, lo[:, None])
    weights = (np.clip(overlap, 0, None) / scale).astype(np.float32)
    return np.clip(idx, 0, n_in - 1), weights


def crop_and_resize(images, boxes, image_index, size: int) -> np.ndarray:
    """Crops of ``boxes`` (n, 4) corner pixels (x1, y1, x2, y2) of images (m, H, W, C),
    bilinearly resized to (n, size, size, C): TensorFlow's ``crop_and_resize`` with the
    boxes divided by (W, H), i.e. sample r of a crop at y1 (H - 1) / H + r (y2 - y1)(H - 1)
    / ((size - 1) H) (x likewise); samples outside the image are 0.  One gather per
    corner of the bilinear cell for all crops at once."""
    if size < 2:
        raise ConfigError(f"crop_and_resize: size must be >= 2, got {size!r}")
    m, H, W, C = images.shape
    f32 = np.float32
    b = np.asarray(boxes, dtype=np.float64)
    # normalized as the package does (float64), then float32 as TensorFlow takes them
    y1, x1, y2, x2 = (
        (b[:, 1] / H).astype(f32), (b[:, 0] / W).astype(f32),
        (b[:, 3] / H).astype(f32), (b[:, 2] / W).astype(f32),
    )  # fmt: skip
    steps = np.arange(size, dtype=f32)

    def samples(lo, hi, n):  # (n_boxes, size) positions, in-range mask
        scale = (hi - lo) * f32(n - 1) / f32(size - 1)
        pos = lo[:, None] * f32(n - 1) + steps[None, :] * scale[:, None]
        inside = (pos >= 0) & (pos <= n - 1)
        pos = np.clip(pos, 0, n - 1)
        first = np.floor(pos).astype(np.int64)
        return first, np.ceil(pos).astype(np.int64), (pos - first).astype(f32), inside

    top, bottom, y_lerp, y_in = samples(y1, y2, H)
    left, right, x_lerp, x_in = samples(x1, x2, W)
    img = np.asarray(image_index, dtype=np.int64)[:, None, None]

    def at(rows, cols):  # (n, size, size, C)
        return images[img, rows[:, :, None], cols[:, None, :]]

    xl = x_lerp[:, None, :, None]
    top_left, bottom_left = at(top, left), at(bottom, left)
    upper = top_left + (at(top, right) - top_left) * xl
    lower = bottom_left + (at(bottom, right) - bottom_left) * xl
    crops = upper + (lower - upper) * y_lerp[:, :, None, None]
    crops *= (y_in[:, :, None] & x_in[:, None, :])[..., None]
    return crops.astype(f32, copy=False)


# =========================================================================== detector
def _square(boxes):
    """Boxes (n, 4) made square about their centers, side max(w, h)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    x1 = boxes[:, 0] + w * 0.5 - side * 0.5
    y1 = boxes[:, 1] + h * 0.5 - side * 0.5
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1)


def _refine(boxes, offsets):
    """boxes + offsets * (w + 1, h + 1, w + 1, h + 1) (the package's pixel-count width)."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return boxes + offsets * np.stack([w, h, w, h], axis=1)


class MTCNN:
    """The MTCNN face detector with the ``mtcnn==1.0.0`` package's weights and defaults.

    Args:
        min_face_size: smallest face (pixels) looked for; the pyramid starts at scale
            12 / min_face_size (above 1, enlarging the image, for faces under 12 pixels).
        thresholds: face probability a box must exceed after P-Net, R-Net and O-Net
            (the package's defaults 0.6, 0.7, 0.8).
        scale_factor: ratio of successive pyramid scales.
        nms_thresholds: IoU above which NMS drops a box: P-Net within a scale, P-Net
            across scales, R-Net (union), O-Net ('Min' mode: intersection over the smaller
            box).
        weights: "mtcnn" (the package's, cached) or a dict like :func:`mtcnn_weights`'s.

    ``detect_faces(image)`` gives the package's dicts; ``detect(images)`` the rows of
    :data:`COLUMNS` for a batch.
    """

    #: P-Net models kept, one per input size (a video's frames all reuse theirs)
    PNET_CACHE = 32

    def __init__(
        self,
        min_face_size: float = 20,
        thresholds=(0.6, 0.7, 0.8),
        scale_factor: float = 0.709,
        nms_thresholds=(0.5, 0.7, 0.7, 0.7),
        weights="mtcnn",
    ):
        if isinstance(min_face_size, bool) or not isinstance(min_face_size, int | float):
            raise ConfigError(f"MTCNN: min_face_size must be a number, got {min_face_size!r}")
        if not min_face_size > 0:
            raise ConfigError(f"MTCNN: min_face_size must be > 0 pixels, got {min_face_size!r}")
        if not isinstance(scale_factor, int | float) or not 0 < scale_factor < 1:
            raise ConfigError(f"MTCNN: scale_factor must be in (0, 1), got {scale_factor!r}")
        self.thresholds = self._fractions(thresholds, 3, "thresholds")
        self.nms_thresholds = self._fractions(nms_thresholds, 4, "nms_thresholds")
        self.min_face_size = float(min_face_size)
        self.scale_factor = float(scale_factor)
        self.weights = mtcnn_weights() if weights == "mtcnn" else weights
        self.rnet = rnet(weights=self.weights)
        self.onet = onet(weights=self.weights)
        self._pnets: OrderedDict = OrderedDict()

    @staticmethod
    def _fractions(values, n, what):
        values = tuple(values) if isinstance(values, list | tuple) else ()
        if len(values) != n or not all(isinstance(v, int | float) and 0 <= v <= 1 for v in values):
            raise ConfigError(f"MTCNN: {what} must be {n} numbers in [0, 1], got {values!r}")
        return tuple(float(v) for v in values)

    # ---------------------------------------------------------------- the nets
    def pnet(self, height: int, width: int) -> Model:
        """The P-Net model for (height, width) inputs (built once, kept for reuse)."""
        key = (int(height), int(width))
        model = self._pnets.pop(key, None)
        if model is None:
            model = pnet((*key, 3), weights=self.weights)
        self._pnets[key] = model
        while len(self._pnets) > self.PNET_CACHE:
            self._pnets.popitem(last=False)
        return model

    def scales(self, height: int, width: int) -> np.ndarray:
        """The package's pyramid: (12 / min_face_size) f^k, k < round(log(min(H, W) / 12) /
        log(1 / f) - 1)."""
        count = round(-(np.log(min(height, width) / CELL) / np.log(self.scale_factor) + 1))
        return (CELL / self.min_face_size) * self.scale_factor ** np.arange(max(count, 0))

    # ------------------------------------------------------------------ public
    def detect(self, images) -> np.ndarray:
        """Faces in a batch: rows (n, 16) of :data:`COLUMNS` (image index, corners x1, y1,
        x2, y2 clipped to the image, confidence, the five landmarks' x then their y),
        grouped by image, best first.

        ``images``: one RGB image (H, W, 3), a batch (m, H, W, 3), or a list of images of
        any sizes (padded to the largest, centered, as the package does); pixels in
        [0, 255], uint8 or float.

        Raises:
            ShapeError: not RGB images of those shapes (the message says what was given).
            InputValueError: pixels that are not numbers, or NaN / infinite.
        """
        return self._detect(images)[0]

    def _detect(self, images):
        """(rows of :meth:`detect`, number of images)."""
        batch, sizes, pads = _as_batch(images)
        rows = self._cascade(batch)
        if len(rows):
            img = rows[:, 0].astype(np.int64)
            top, left = pads[img, 0], pads[img, 1]
            rows[:, [1, 3, 6, 7, 8, 9, 10]] -= left[:, None]
            rows[:, [2, 4, 11, 12, 13, 14, 15]] -= top[:, None]
            height, width = sizes[img, 0], sizes[img, 1]
            rows[:, [1, 3]] = np.clip(rows[:, [1, 3]], 0, (width - 1)[:, None])
            rows[:, [2, 4]] = np.clip(rows[:, [2, 4]], 0, (height - 1)[:, None])
            rows = rows[np.lexsort((-rows[:, 5], rows[:, 0]))]
        return rows, len(sizes)

    def detect_faces(self, image):
        """The package's ``detect_faces``: for one image (H, W, 3) a list of dicts

            {"box": [x, y, w, h], "confidence": p,
             "keypoints": {"left_eye": (x, y), "right_eye", "nose", "mouth_left",
                           "mouth_right"}}

        (integer pixels, rounded half to even as NumPy rounds), best first; for a list of
        images or a batch (m, H, W, 3), one such list per image.  Errors as :meth:`detect`.
        """
        rows, count = self._detect(image)
        results = [[] for _ in range(count)]
        for row in rows:  # one dict per face found: the output's own format
            x1, y1, x2, y2 = row[1:5]
            box = np.round([x1, y1, x2 - x1, y2 - y1]).astype(int)
            points = np.round(row[6:16]).astype(int)
            results[int(row[0])].append(
                {
                    "box": [int(v) for v in box],
                    "confidence": float(row[5]),
                    "keypoints": {
                        name: (int(points[k]), int(points[k + 5]))
                        for k, name in enumerate(LANDMARKS)
                    },
                }
            )
        single = not isinstance(image, list | tuple) and np.ndim(image) == 3
        return results[0] if single else results

    # ------------------------------------------------------------------ stages
    def _cascade(self, batch) -> np.ndarray:
        x = (batch.astype(np.float32) - np.float32(127.5)) / np.float32(128)
        boxes, image = self.stage_pnet(x)
        if len(boxes):
            boxes, image = self.stage_rnet(x, boxes, image)
        if not len(boxes):
            return np.zeros((0, len(COLUMNS)))
        return self.stage_onet(x, boxes, image)

    def stage_pnet(self, x):
        """Proposals from the pyramid: (squared boxes (n, 5) corners + score, image (n,))."""
        m, H, W, _ = x.shape
        t1 = self.thresholds[0]
        found = []
        for scale in self.scales(H, W):
            # TensorFlow casts the float size to int32: truncation
            h, w = (np.asarray([H, W]) * scale).astype(np.int32)
            if min(h, w) < CELL:
                continue
            offsets, probs = self.pnet(h, w).predict(area_resize(x, h, w))
            score = probs[..., 1]  # (m, h', w')
            img, r, c = np.nonzero(score > t1)
            if not img.size:
                continue
            d = offsets[img, r, c].astype(np.float64)  # (k, 4)
            corner = np.stack([c * STRIDE, r * STRIDE, c * STRIDE, r * STRIDE], axis=1)
            corner = corner + np.array([0, 0, CELL, CELL])
            boxes = (corner + CELL * d) / scale  # (k, 4) in the image's pixels
            s = score[img, r, c].astype(np.float64)
            keep = nms(boxes, s, self.nms_thresholds[0], classes=img)
            found.append((boxes[keep], s[keep], img[keep]))
        if not found:
            return np.zeros((0, 5)), np.zeros(0, dtype=np.int64)
        boxes, s, img = (np.concatenate(parts) for parts in zip(*found, strict=True))
        keep = nms(boxes, s, self.nms_thresholds[1], classes=img)
        return np.column_stack([_square(boxes[keep]), s[keep]]), img[keep]

    def stage_rnet(self, x, boxes, image):
        """R-Net on 24x24 crops: refined, filtered, squared boxes and their images."""
        crops = crop_and_resize(x, boxes[:, :4], image, 24)
        offsets, probs = self.rnet.predict(crops)
        s = probs[:, 1].astype(np.float64)
        refined = _refine(boxes[:, :4], offsets.astype(np.float64))
        passed = s > self.thresholds[1]
        refined, s, image = refined[passed], s[passed], image[passed]
        keep = nms(refined, s, self.nms_thresholds[2], classes=image)
        return np.column_stack([_square(refined[keep]), s[keep]]), image[keep]

    def stage_onet(self, x, boxes, image) -> np.ndarray:
        """O-Net on 48x48 crops: rows of :data:`COLUMNS` (in the padded batch's pixels)."""
        crops = crop_and_resize(x, boxes[:, :4], image, 48)
        offsets, landmarks, probs = self.onet.predict(crops)
        b = boxes[:, :4]
        w = (b[:, 2] - b[:, 0] + 1)[:, None]
        h = (b[:, 3] - b[:, 1] + 1)[:, None]
        landmarks = landmarks.astype(np.float64)
        points_x = w * landmarks[:, :5] + b[:, :1] - 1
        points_y = h * landmarks[:, 5:] + b[:, 1:2] - 1
        s = probs[:, 1].astype(np.float64)
        refined = _refine(b, offsets.astype(np.float64))
        passed = s > self.thresholds[2]
        keep = np.flatnonzero(passed)[
            nms(refined[passed], s[passed], self.nms_thresholds[3], classes=image[passed],
                overlap="min")
        ]  # fmt: skip
        return np.column_stack(
            [image[keep], refined[keep], s[keep], points_x[keep], points_y[keep]]
        )


def _as_batch(images):
    """(batch (m, H, W, 3) of the images padded to the largest, centered, their sizes (m,
    2) and top/left pads (m, 2)); ShapeError / InputValueError for what is not RGB pixels."""
    if isinstance(images, list | tuple):
        if not images:
            raise ShapeError("MTCNN: no images given (an empty list)")
        arrays = [_check_pixels(np.asarray(a), f"image {k}") for k, a in enumerate(images)]
        for k, a in enumerate(arrays):
            if a.ndim != 3:
                raise ShapeError(_shape_message(a.shape, f"image {k} of the list"))
    else:
        array = _check_pixels(np.asarray(images), "image")
        if array.ndim not in (3, 4):
            raise ShapeError(_shape_message(array.shape, "image"))
        arrays = [array] if array.ndim == 3 else list(array)
        if array.ndim == 4 and array.shape[0] == 0:
            raise ShapeError("MTCNN: the batch holds no images (shape (0, ...))")
    for a in arrays:
        if a.shape[-1] != 3 or min(a.shape[:2]) < 1:
            raise ShapeError(_shape_message(a.shape, "image"))
    sizes = np.array([a.shape[:2] for a in arrays], dtype=np.int64)  # (m, 2)
    largest = sizes.max(axis=0)
    pads = (largest - sizes) // 2  # top, left; the odd pixel goes after, as the package does
    if not (pads.any() or (sizes != largest).any()):
        return np.stack(arrays) if len(arrays) > 1 else arrays[0][None], sizes, pads
    batch = np.zeros((len(arrays), *largest, 3), dtype=np.result_type(*arrays))
    for k, (a, (top, left)) in enumerate(zip(arrays, pads, strict=True)):
        batch[k, top : top + a.shape[0], left : left + a.shape[1]] = a
    return batch, sizes, pads


def _check_pixels(a: np.ndarray, what: str) -> np.ndarray:
    if a.dtype.kind not in "uif":
        raise InputValueError(
            f"MTCNN: {what} must hold numbers (uint8 or float pixels in [0, 255]), got dtype "
            f"{a.dtype}"
        )
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise InputValueError(f"MTCNN: {what} holds NaN or infinite pixels")
    return a


def _shape_message(shape, what: str) -> str:
    shape = tuple(shape)
    hint = ""
    if len(shape) == 2:
        hint = "; a grayscale image: stack it to RGB, np.stack([g, g, g], axis=-1)"
    elif len(shape) in (3, 4) and shape[-1] == 4:
        hint = "; RGBA: drop the alpha channel, image[..., :3]"
    elif len(shape) in (3, 4) and shape[-1] != 3 and shape[-3 if len(shape) == 3 else 1] == 3:
        hint = "; channels first? MTCNN takes channels-last (H, W, 3)"
    return (
        f"MTCNN: expected an RGB image (H, W, 3), a batch (m, H, W, 3) or a list of images; "
        f"{what} has shape {shape}{hint}"
    )
