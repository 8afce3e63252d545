"""dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1``, King 2017):
a 150x150 RGB face chip -> a 128-d descriptor; two chips of one person lie within
Euclidean distance 0.6 (dlib's threshold; 99.38% on LFW), of two people beyond it.

The net, as dlib defines it (``dnn_face_recognition_ex.cpp``) and face-api ports it
(``src/faceRecognitionNet``), channels-last, every convolution followed by dlib's
``affine`` layer (its batch normalization frozen into a scale and shift per channel,
:class:`nnlab.layers.Affine`)::

    input   x = (chip - (122.782, 117.001, 104.298)) / 256          (m, 150, 150, 3) RGB
    conv32_down  conv 7x7/2 "valid" 32, affine, ReLU                 (m, 72, 72, 32)
    max pool 3x3/2 "valid"                                           (m, 35, 35, 32)
    conv32_1 .. conv32_3     residual, 32                            (m, 35, 35, 32)
    conv64_down, conv64_1 .. conv64_3        64                      (m, 17, 17, 64)
    conv128_down, conv128_1, conv128_2      128                      (m, 8, 8, 128)
    conv256_down, conv256_1, conv256_2      256                      (m, 4, 4, 256)
    conv256_down_out                        256                      (m, 2, 2, 256)
    global average pooling, fc 256 -> 128 (no bias)                  (m, 128)

    residual:       a = ReLU(x + affine(conv3x3(ReLU(affine(conv3x3(x))))))
    residual down:  a = ReLU(avgpool2x2/2(x) (+) affine(conv3x3(ReLU(affine(conv3x3/2(x))))))

dlib pads a convolution only when its stride is 1 (3x3 "same"); strided ones are
"valid".  In a downsampling block the shortcut is a 2x2/2 average pooling of x, with half
the channels; where the sizes round differently (8 -> 3 by the convolution, 8 -> 4 by the
pooling; 4 -> 1 and 4 -> 2 in the last block) dlib's ``add_prev`` zero-pads the smaller
tensor at the bottom, right and last channels (:class:`nnlab.layers.PaddedAdd`, written
(+) above).  So the last block's convolution reaches only the top-left cell of its 2x2
output.  The descriptor is the fc layer's output as it is (dlib does not normalize it;
its length is about 1.4, not 1).  5,614,592 parameters; 271 M multiply-adds a chip.

dlib divides the centred pixels by 256, face-api by 255; nnlab follows dlib (the
reference the tests compare with).

Weights.  face-api (``@vladmandic/face-api@1.7.15`` on npm, MIT) ships the network as
``model/face_recognition_model.bin`` + ``face_recognition_model-weights_manifest.json``:
117 float32 tensors (HWIO kernels, biases, scale weights / biases, the (256, 128) fc
matrix), 109 of them quantized to uint8 (value = q * scale + min, the manifest's
``quantization``), stored back to back in the manifest's order.  :func:`read_face_api_weights`
checks every name, shape and length and dequantizes; :func:`face_descriptor_weights`
converts them once into ``cache_dir()/face_descriptor_weights.safetensors`` (verified,
atomic; ``$NNLAB_CACHE_DIR`` moves it), which later loads read alone.  The files are
found in ``$NNLAB_FACE_API_DIR``, ``<python prefix>/face-api`` (where ``make test`` puts
them) or ``cache_dir()/face-api`` (where :func:`download_face_api` puts them, through
``npm pack``).  The 8-bit weights put descriptors 0.03-0.05 from dlib's own on the same
chip (the tests: at most 0.048 over 106 chips of real faces); noise of one quantization
step added to the weights moves a descriptor by about 0.044, so the rounding explains it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import save as st_save

from ..data.datasets import cache_dir
from ..exceptions import ConfigError, InputValueError, ModelFileError, NNLabError, ShapeError
from ..layers import (
    Add,
    Affine,
    AvgPool2D,
    Conv2D,
    Dense,
    GlobalAveragePooling2D,
    Input,
    MaxPool2D,
    PaddedAdd,
    ReLU,
)
from ..saving.container import (
    atomic_write_bytes,
    file_digest,
    read_safetensors,
    sorted_header,
    verify_digest,
)
from ..saving.weights_cache import cached_weights
from ..training.model import Model

#: Side of the aligned face chip the net takes.
CHIP_SIZE = 150
#: dlib's per-channel means (RGB), subtracted before dividing by :data:`INPUT_SCALE`.
MEAN_RGB = np.array([122.782, 117.001, 104.298], dtype=np.float32)
INPUT_SCALE = 256.0
#: Euclidean distance under which dlib calls two descriptors one person.
SAME_PERSON_THRESHOLD = 0.6
DESCRIPTOR_SIZE = 128

NPM_PACKAGE = "@vladmandic/face-api"
NPM_VERSION = "1.7.15"
NPM_SPEC = f"{NPM_PACKAGE}@{NPM_VERSION}"
NPM_TARBALL = "vladmandic-face-api-1.7.15.tgz"
NPM_URL = "https://registry.npmjs.org/@vladmandic/face-api/-/face-api-1.7.15.tgz"
MODEL_FOLDER = ("package", "model")
MANIFEST = "face_recognition_model-weights_manifest.json"
BINARY = "face_recognition_model.bin"
#: SHA-256 of the two files of face-api 1.7.15.
FILE_SHA256 = {
    BINARY: "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589",
    MANIFEST: "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b",
}
ENV_DIR = "NNLAB_FACE_API_DIR"
CACHE_NAME = "face_descriptor_weights.safetensors"
FILE_FORMAT = "nnlab-weights"
MODEL_ID = "dlib_face_recognition_resnet_model_v1"

#: The residual blocks: (name, filters, downsampling), in order.
BLOCKS = (
    ("conv32_1", 32, False), ("conv32_2", 32, False), ("conv32_3", 32, False),
    ("conv64_down", 64, True), ("conv64_1", 64, False), ("conv64_2", 64, False),
    ("conv64_3", 64, False),
    ("conv128_down", 128, True), ("conv128_1", 128, False), ("conv128_2", 128, False),
    ("conv256_down", 256, True), ("conv256_1", 256, False), ("conv256_2", 256, False),
    ("conv256_down_out", 256, True),
)  # fmt: skip
#: face-api's last two name parts -> (nnlab layer suffix, parameter)
_PARAM_NAMES = {
    "conv/filters": ("conv", "W"),
    "conv/bias": ("conv", "b"),
    "scale/weights": ("scale", "gamma"),
    "scale/biases": ("scale", "beta"),
}


class WeightsNotFoundError(NNLabError, FileNotFoundError):
    """The face descriptor weights are neither cached nor found as face-api's files."""


def _expected_shapes() -> dict[str, tuple]:
    """face-api's 117 tensor names -> shapes, in the order of its .bin file."""
    shapes = {}

    def conv(prefix, k, c_in, c_out):
        shapes[f"{prefix}/conv/filters"] = (k, k, c_in, c_out)
        shapes[f"{prefix}/conv/bias"] = (c_out,)
        shapes[f"{prefix}/scale/weights"] = (c_out,)
        shapes[f"{prefix}/scale/biases"] = (c_out,)

    conv("conv32_down", 7, 3, 32)
    c_in = 32
    for name, filters, _ in BLOCKS:
        conv(f"{name}/conv1", 3, c_in, filters)
        conv(f"{name}/conv2", 3, filters, filters)
        c_in = filters
    shapes["fc"] = (256, DESCRIPTOR_SIZE)
    return shapes


#: ``"conv32_down/conv/filters" -> (7, 7, 3, 32)``, ... (HWIO kernels), in file order.
WEIGHT_SHAPES = _expected_shapes()


# ============================================================================== net
def _conv_affine(x, prefix: str, filters: int, kernel: int, strides: int, relu: bool):
    """conv (dlib pads only unstrided ones) -> affine [-> ReLU]; layers "<prefix>_conv",
    "<prefix>_scale", "<prefix>_relu"."""
    padding = "same" if strides == 1 else "valid"
    x = Conv2D(filters, kernel, strides=strides, padding=padding, name=f"{prefix}_conv")(x)
    x = Affine(name=f"{prefix}_scale")(x)
    return ReLU(name=f"{prefix}_relu")(x) if relu else x


def _residual(x, name: str, filters: int, down: bool):
    y = _conv_affine(x, f"{name}_conv1", filters, 3, 2 if down else 1, relu=True)
    y = _conv_affine(y, f"{name}_conv2", filters, 3, 1, relu=False)
    if down:  # dlib's add_prev of an average-pooled shortcut: zero-padded to y's shape
        y = PaddedAdd(name=f"{name}_add")([y, AvgPool2D(2, name=f"{name}_pool")(x)])
    else:
        y = Add(name=f"{name}_add")([y, x])
    return ReLU(name=f"{name}_relu")(y)


def face_descriptor_net(weights="face-api", dtype=None) -> Model:
    """dlib's face recognition ResNet (see the module docstring) as an nnlab Model:
    preprocessed chips (m, 150, 150, 3) -> descriptors (m, 128).

    Args:
        weights: "face-api" (face-api's port of dlib's weights, :func:`face_descriptor_weights`),
            None (random), or a dict like :func:`face_descriptor_weights`'s.
        dtype: the model's dtype (default float32).

    Layers carry face-api's names with "_" for "/" ("conv64_down_conv1_conv",
    "conv64_down_conv1_scale", ..., "fc").  Inputs come from :func:`preprocess_chips`.
    """
    inputs = Input((CHIP_SIZE, CHIP_SIZE, 3))
    x = _conv_affine(inputs, "conv32_down", 32, 7, 2, relu=True)  # (m, 72, 72, 32)
    x = MaxPool2D(3, 2, padding="valid", name="pool")(x)  # (m, 35, 35, 32)
    for name, filters, down in BLOCKS:
        x = _residual(x, name, filters, down)  # ... (m, 2, 2, 256)
    x = GlobalAveragePooling2D(name="avg_pool")(x)  # (m, 256)
    outputs = Dense(DESCRIPTOR_SIZE, use_bias=False, name="fc")(x)  # (m, 128)
    model = Model(inputs, outputs, dtype=dtype, name="face_descriptor")
    model.build()
    if isinstance(weights, str) and weights != "face-api":
        raise ConfigError(
            f"face_descriptor_net: weights must be 'face-api', None or a dict, got {weights!r}"
        )
    if weights is not None:
        source = face_descriptor_weights() if weights == "face-api" else weights
        load_face_descriptor_weights(model, source)
    return model


def _target(model: Model, name: str):
    """(layer, parameter) of ``model`` that face-api's tensor ``name`` fills."""
    if name == "fc":
        return model.get_layer("fc"), "W"
    parts = name.split("/")
    suffix, param = _PARAM_NAMES["/".join(parts[-2:])]
    return model.get_layer("_".join([*parts[:-2], suffix])), param


def load_face_descriptor_weights(model: Model, weights: dict) -> Model:
    """Copy face-api's tensors (``weights["conv32_down/conv/filters"]``, ...) into the
    layers of a :func:`face_descriptor_net` model, every shape checked first.

    Raises:
        ModelFileError: a tensor is missing.
        ShapeError: a layer's parameter has another shape (both named).
    """
    plan = []
    for name in WEIGHT_SHAPES:
        if name not in weights:
            raise ModelFileError(f"load_face_descriptor_weights: no tensor {name!r}")
        layer, param = _target(model, name)
        target = layer.params[param]
        value = np.asarray(weights[name])
        if value.shape != tuple(target.shape):
            raise ShapeError(
                f"load_face_descriptor_weights: {layer.describe()}: {param} has shape "
                f"{tuple(target.shape)}, face-api's {name} has shape {value.shape}"
            )
        plan.append((target, value))
    for target, value in plan:
        target[...] = value
    return model


def preprocess_chips(chips) -> np.ndarray:
    """Chips (150, 150, 3) or (m, 150, 150, 3), RGB pixels in [0, 255] -> the net's input
    (x - MEAN_RGB) / 256, float32 (m, 150, 150, 3).

    Raises:
        ShapeError: not RGB chips of 150x150.
        InputValueError: not numbers, or NaN / infinite.
    """
    x = np.asarray(chips)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ShapeError(
            f"face descriptor: expected RGB chips (m, 150, 150, 3) or one (150, 150, 3), got "
            f"shape {tuple(np.shape(chips))}; align faces first (nnlab.applications."
            "face_alignment)"
        )
    if x.dtype.kind not in "uif":
        raise InputValueError(f"face descriptor: chips must hold numbers, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise InputValueError("face descriptor: chips hold NaN or infinite pixels")
    x -= MEAN_RGB
    x *= np.float32(1.0 / INPUT_SCALE)  # a power of two: exact
    return x


def compute_descriptors(model: Model, chips, batch_size: int = 16) -> np.ndarray:
    """128-d descriptors (m, 128) float32 of aligned chips (m, 150, 150, 3) (or one chip:
    (128,)), as dlib's ``compute_face_descriptor(chip)`` gives them."""
    x = preprocess_chips(chips)
    if not len(x):
        return np.zeros((0, DESCRIPTOR_SIZE), dtype=np.float32)
    out = np.concatenate(
        [model.predict(x[k : k + batch_size]) for k in range(0, len(x), batch_size)]
    ).astype(np.float32, copy=False)
    return out[0] if np.ndim(chips) == 3 else out


# ========================================================================== weights
def read_face_api_weights(folder) -> dict[str, np.ndarray]:
    """face-api's 117 tensors from ``folder`` (holding the manifest and the .bin),
    dequantized to float32: ``{"conv32_down/conv/filters": (7, 7, 3, 32), ...}``.

    Raises:
        ModelFileError: a file is missing, the manifest is not face-api's (names, shapes,
            dtypes), or the .bin's length is not the sum of the tensors'.
    """
    folder = Path(folder)
    manifest_path, binary_path = folder / MANIFEST, folder / BINARY
    for path in (manifest_path, binary_path):
        if not path.is_file():
            raise ModelFileError(f"face-api weights: {str(path)!r} does not exist")
    try:
        manifest = json.loads(manifest_path.read_text())
        entries = [w for group in manifest for w in group["weights"]]
    except (ValueError, TypeError, KeyError) as err:
        raise ModelFileError(
            f"{manifest_path}: not a TensorFlow.js weights manifest ({err})"
        ) from None
    data = binary_path.read_bytes()
    names = [e.get("name") for e in entries if isinstance(e, dict)]
    if names != list(WEIGHT_SHAPES):
        raise ModelFileError(
            f"{manifest_path}: expected the {len(WEIGHT_SHAPES)} tensors of face-api's face "
            f"recognition net in order, found {len(names)} ({', '.join(map(str, names[:3]))}, ...)"
        )
    weights, offset = {}, 0
    for entry in entries:
        name, shape = entry["name"], tuple(entry.get("shape") or ())
        if shape != WEIGHT_SHAPES[name] or entry.get("dtype") != "float32":
            raise ModelFileError(
                f"{manifest_path}: {name} is {entry.get('dtype')} {shape}, expected float32 "
                f"{WEIGHT_SHAPES[name]}"
            )
        count = int(np.prod(shape))
        quantization = entry.get("quantization")
        if quantization is None:
            raw_dtype = np.dtype("<f4")
        elif quantization.get("dtype") == "uint8":
            raw_dtype = np.dtype(np.uint8)
        else:
            raise ModelFileError(f"{manifest_path}: {name}: unknown quantization {quantization}")
        size = count * raw_dtype.itemsize
        if offset + size > len(data):
            raise ModelFileError(f"{binary_path}: {len(data)} bytes end inside {name}")
        raw = np.frombuffer(data, dtype=raw_dtype, count=count, offset=offset)
        offset += size
        if quantization is None:
            value = raw.astype(np.float32)
        else:  # TensorFlow.js' dequantization, in float64 then rounded once
            value = raw * float(quantization["scale"]) + float(quantization["min"])
        weights[name] = np.ascontiguousarray(value.reshape(shape), dtype=np.float32)
    if offset != len(data):
        raise ModelFileError(f"{binary_path}: {len(data) - offset} bytes left after the tensors")
    return weights


def _model_folders() -> list[Path]:
    """Where face-api's model files are looked for, in order."""
    roots = []
    env = os.environ.get(ENV_DIR)
    if env:
        roots.append(Path(env).expanduser())
    roots += [Path(sys.prefix) / "face-api", cache_dir() / "face-api"]
    folders = []
    for root in roots:
        folders += [root, root / "model", root.joinpath(*MODEL_FOLDER)]
    return folders


def find_face_api_model() -> Path | None:
    """The folder holding face-api's ``face_recognition_model.bin`` and its manifest, or None.

    Looked for in ``$NNLAB_FACE_API_DIR``, ``<sys.prefix>/face-api`` (``make test``) and
    ``cache_dir()/face-api`` (:func:`download_face_api`), each as the folder itself, its
    ``model/`` or its ``package/model/`` (an unpacked npm tarball).
    """
    for folder in _model_folders():
        if (folder / BINARY).is_file() and (folder / MANIFEST).is_file():
            return folder
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def download_face_api(dest=None, npm: str = "npm", timeout: float = 600.0) -> Path:
    """Fetch face-api's face recognition weights with ``npm pack`` and unpack them.

    Runs ``npm pack @vladmandic/face-api@1.7.15`` (npm checks the registry's SHA-512), checks
    the two model files' SHA-256 (:data:`FILE_SHA256`) and writes them, with the package's
    LICENSE, to ``dest/package/model/`` (default ``dest``: ``cache_dir()/face-api``); the
    rest of the 20 MB tarball is not kept.  Needs no root: only ``npm`` on the PATH and the
    npm registry.

    Returns:
        The folder of the two files (what :func:`find_face_api_model` finds).

    Raises:
        WeightsNotFoundError: npm is missing or failed (no network, ...); the message says
            what to do instead.
        ModelFileError: the files in the tarball differ from face-api 1.7.15's.
    """
    dest = Path(dest).expanduser() if dest is not None else cache_dir() / "face-api"
    target = dest.joinpath(*MODEL_FOLDER)
    manual = (
        f"Instead, get {NPM_URL}\n(or run `npm pack {NPM_SPEC}` where npm and the network "
        f"are), unpack it with `tar xzf {NPM_TARBALL}`, and set {ENV_DIR} to the folder "
        "holding its package/ folder."
    )
    executable = shutil.which(npm)
    if executable is None:
        raise WeightsNotFoundError(
            f"npm is not installed (not on the PATH), so {NPM_SPEC} cannot be fetched: "
            f"install Node.js (https://nodejs.org), or\n{manual}"
        )
    with tempfile.TemporaryDirectory(prefix="nnlab-face-api-") as tmp:
        try:
            done = subprocess.run(
                [executable, "pack", NPM_SPEC, "--silent"],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise WeightsNotFoundError(
                f"`npm pack {NPM_SPEC}` did not finish in {timeout:g} s (no network?).\n{manual}"
            ) from None
        tarball = Path(tmp) / NPM_TARBALL
        if done.returncode != 0 or not tarball.is_file():
            reason = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise WeightsNotFoundError(
                f"`npm pack {NPM_SPEC}` failed (exit {done.returncode}): "
                f"{' / '.join(reason) or 'no message'} (no network, or no access to the "
                f"npm registry?).\n{manual}"
            )
        unpack_face_api(tarball, dest)
    return target


def unpack_face_api(tarball, dest) -> Path:
    """Write the two model files (and LICENSE) of face-api's npm ``tarball`` to
    ``dest/package/model/``, each checked against :data:`FILE_SHA256`; returns that folder.

    Only those regular-file members are read (no path from the archive is trusted).
    """
    dest = Path(dest)
    target = dest.joinpath(*MODEL_FOLDER)
    wanted = {"/".join([*MODEL_FOLDER, name]): target / name for name in FILE_SHA256}
    wanted["package/LICENSE"] = dest / "package" / "LICENSE"
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member_name, path in wanted.items():
                member = archive.getmember(member_name)
                if not member.isfile():
                    raise ModelFileError(f"{tarball}: {member_name} is not a file")
                data = archive.extractfile(member).read()
                if path.name in FILE_SHA256:
                    actual = hashlib.sha256(data).hexdigest()
                    if actual != FILE_SHA256[path.name]:
                        raise ModelFileError(
                            f"{tarball}: {member_name} has SHA-256 {actual}, face-api "
                            f"{NPM_VERSION}'s is {FILE_SHA256[path.name]}"
                        )
                atomic_write_bytes(path, data)
    except (tarfile.TarError, KeyError, OSError) as err:
        if isinstance(err, ModelFileError):
            raise
        raise ModelFileError(f"{tarball}: not face-api's npm tarball ({err})") from None
    return target


def face_descriptor_cache_path() -> Path:
    """``cache_dir()/face_descriptor_weights.safetensors`` (``$NNLAB_CACHE_DIR`` moves it)."""
    return cache_dir() / CACHE_NAME


def face_descriptor_weights(source=None) -> dict[str, np.ndarray]:
    """The 117 tensors of dlib's face recognition ResNet (face-api's names, float32).

    ``source``: None reads the cache, made on first use from face-api's files
    (:func:`find_face_api_model`; a damaged cache is remade); a folder holding the
    manifest and the .bin converts them (not cached); a ``.safetensors`` file from
    :func:`write_face_descriptor_file`.

    Raises:
        WeightsNotFoundError: no cache and no face-api files; the message says how to get
            them.
    """
    if source is not None:
        path = Path(source)
        return read_face_api_weights(path) if path.is_dir() else read_face_descriptor_file(path)
    return cached_weights(
        face_descriptor_cache_path(),
        read_face_descriptor_file,
        _convert_face_api_files,
        write_face_descriptor_file,
        "face descriptor",
    )


def _convert_face_api_files(state: str):
    """(weights, source) from face-api's model files, or WeightsNotFoundError saying how to
    fetch them."""
    folder = find_face_api_model()
    if folder is None:
        raise WeightsNotFoundError(
            f"face descriptor weights not found: {state}, and face-api's model files are "
            f"not in {', '.join(str(p) for p in _model_folders()[::3])}. Fetch them (needs "
            "npm and the network, once):\n"
            '    python -c "from nnlab.applications.face_descriptor import download_face_api; '
            'download_face_api()"\n'
            f"or run `npm pack {NPM_SPEC} && tar xzf {NPM_TARBALL}` and set {ENV_DIR} to "
            "that folder; the weights are then converted once into the cache."
        )
    return read_face_api_weights(folder), folder


def write_face_descriptor_file(path, weights: dict, source=None) -> Path:
    """Write the tensors as safetensors, atomically, with their SHA-256 in the header."""
    tensors = {name: np.ascontiguousarray(weights[name], np.float32) for name in WEIGHT_SHAPES}
    metadata = {
        "format": FILE_FORMAT,
        "model": MODEL_ID,
        "layout": "face-api's names; HWIO kernels, (256, 128) fc, affine scale/shift",
    }
    if source is not None:
        metadata["source"] = f"npm {NPM_SPEC}: package/model/{BINARY} + {MANIFEST}"
        metadata["source_sha256"] = _sha256(Path(source) / BINARY)
    metadata["sha256"] = file_digest(tensors, metadata)
    atomic_write_bytes(path, sorted_header(st_save(tensors, metadata=metadata)))
    return Path(path)


def read_face_descriptor_file(path) -> dict[str, np.ndarray]:
    """Read and verify a file from :func:`write_face_descriptor_file` (ModelFileError if off)."""
    tensors, metadata = read_safetensors(path, kind="face descriptor weights file")
    if metadata.get("format") != FILE_FORMAT or metadata.get("model") != MODEL_ID:
        raise ModelFileError(f"{path}: not an nnlab face descriptor weights file")
    verify_digest(path, tensors, metadata)
    missing = [name for name in WEIGHT_SHAPES if name not in tensors]
    if missing:
        raise ModelFileError(f"{path}: missing {', '.join(missing)}")
    return tensors


# ========================================================================== encoder
@dataclass
class Faces:
    """The faces of one image, best first (k of them; every array's first axis is k).

    Attributes:
        boxes: (k, 4) MTCNN's corners x1, y1, x2, y2 (clipped to the image).
        confidences: (k,) MTCNN's face probabilities.
        landmarks: (k, 5, 2) x, y of left_eye, right_eye, nose, mouth_left, mouth_right.
        chips: (k, 150, 150, 3) uint8 aligned faces.
        descriptors: (k, 128) float32.
    """

    boxes: np.ndarray
    confidences: np.ndarray
    landmarks: np.ndarray
    chips: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)


class FaceEncoder:
    """A picture -> its faces' 128-d descriptors: MTCNN finds each face and its five
    landmarks, :func:`~nnlab.applications.face_alignment.align_faces` cuts the 150x150
    chip dlib's recognition net expects (MTCNN's points on :data:`~nnlab.applications.
    face_alignment.MTCNN_TEMPLATE`), and dlib's ResNet (:func:`face_descriptor_net`)
    describes it.  Two descriptors nearer than 0.6 are one person (dlib's threshold).

    Args:
        detector: an :class:`~nnlab.applications.mtcnn.MTCNN` (default: a new one with
            ``min_face_size``).
        weights: the descriptor net's weights, as :func:`face_descriptor_net` takes them.
        min_face_size: the smallest face looked for (pixels), when ``detector`` is None.

    ``encode(image)`` -> :class:`Faces`; ``describe(chips)`` -> descriptors of chips
    aligned already.
    """

    def __init__(self, detector=None, weights="face-api", min_face_size: float = 20):
        from .mtcnn import MTCNN

        self.model = face_descriptor_net(weights=weights)
        self.detector = detector if detector is not None else MTCNN(min_face_size=min_face_size)

    def describe(self, chips) -> np.ndarray:
        """Descriptors (k, 128) of aligned chips (k, 150, 150, 3) (or (128,) for one)."""
        return compute_descriptors(self.model, chips)

    def encode(self, image) -> Faces:
        """The faces of one RGB image (H, W, 3), pixels in [0, 255] (uint8 or float),
        best first.  Errors as MTCNN's ``detect``."""
        from .face_alignment import align_faces
        from .mtcnn import LANDMARKS

        rows = self.detector.detect(image)  # (k, 16) rows of mtcnn.COLUMNS
        n = len(LANDMARKS)
        landmarks = rows[:, 6:16].reshape(-1, 2, n).transpose(0, 2, 1)  # (k, 5, 2)
        pixels = np.asarray(image)
        if pixels.dtype != np.uint8:
            pixels = np.clip(np.round(pixels), 0, 255).astype(np.uint8)
        chips = align_faces(pixels, landmarks)
        return Faces(
            boxes=rows[:, 1:5],
            confidences=rows[:, 5],
            landmarks=landmarks,
            chips=chips,
            descriptors=self.describe(chips)
            if len(chips)
            else np.zeros((0, DESCRIPTOR_SIZE), np.float32),
        )
