"""Keras .h5 weight files: every layout written here with h5py exactly as Keras writes it
(no TensorFlow needed), loaded by layer name, checked value by value and through predict."""

from __future__ import annotations

import sys
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from nnlab import (  # noqa: E402
    BatchNormalization,
    Conv2D,
    Dense,
    ModelFileError,
    Sequential,
    ShapeError,
)
from nnlab.exceptions import ConfigError  # noqa: E402
from nnlab.saving.keras_h5 import keras_snake_case, load_h5_weights  # noqa: E402

RNG = np.random.default_rng(0)


def arr(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def mlp():
    """Dense(4, relu) -> BatchNormalization -> Dense(3, softmax) on 5 features."""
    return Sequential(
        [
            Dense(4, activation="relu", name="dense"),
            BatchNormalization(name="batch_normalization"),
            Dense(3, activation="softmax", name="dense_1"),
        ],
        input_shape=(5,),
        seed=1,
    )


def keras_weights():
    """The Keras names and arrays of mlp(): {layer: [(weight name, array), ...]}."""
    variance = np.abs(arr(4)) + 0.5
    return {
        "dense": [("dense/kernel:0", arr(5, 4)), ("dense/bias:0", arr(4))],
        "batch_normalization": [
            ("batch_normalization/gamma:0", arr(4)),
            ("batch_normalization/beta:0", arr(4)),
            ("batch_normalization/moving_mean:0", arr(4)),
            ("batch_normalization/moving_variance:0", variance),
        ],
        "dense_1": [("dense_1/kernel:0", arr(4, 3)), ("dense_1/bias:0", arr(3))],
    }


def expected_output(x, w):
    """Keras' inference forward of mlp() with the weights w, in NumPy."""
    (_, k1), (_, b1) = w["dense"]
    (_, gamma), (_, beta), (_, mean), (_, var) = w["batch_normalization"]
    (_, k2), (_, b2) = w["dense_1"]
    a = np.maximum(x @ k1 + b1, 0)
    a = (a - mean) / np.sqrt(var + 1e-3) * gamma + beta
    z = a @ k2 + b2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def names_attr(names):
    return np.array([n.encode("utf8") for n in names], dtype="S")


def write_keras2(path, layers, full_model=True, chunked=False, pooling=True):
    """Keras 2: model.save('m.h5') (under model_weights) or save_weights (at the root)."""
    with h5py.File(path, "w") as f:
        if full_model:
            f.attrs["keras_version"] = b"2.15.0"
            f.attrs["backend"] = b"tensorflow"
            f.attrs["model_config"] = b'{"class_name": "Sequential"}'
            root = f.create_group("model_weights")
        else:
            f.attrs["keras_version"] = b"2.15.0"
            f.attrs["backend"] = b"tensorflow"
            root = f
        names = list(layers) + (["max_pooling2d"] if pooling else [])
        if chunked:  # Keras splits attributes over 64 KiB into layer_names0, layer_names1, ...
            root.attrs["layer_names0"] = names_attr(names[:2])
            root.attrs["layer_names1"] = names_attr(names[2:])
        else:
            root.attrs["layer_names"] = names_attr(names)
        for name in names:
            group = root.create_group(name)
            weights = layers.get(name, [])
            group.attrs["weight_names"] = names_attr([w for w, _ in weights])
            for wname, value in weights:
                group.create_dataset(wname, data=value)


def write_keras3(path, layers):
    """Keras 3: save_weights('x.weights.h5'): layers/<class name>[_k]/vars/<i>."""
    with h5py.File(path, "w") as f:
        group = f.create_group("layers")
        for name, weights in layers.items():
            variables = group.create_group(name).create_group("vars")
            for i, (_, value) in enumerate(weights):
                variables.create_dataset(str(i), data=value)
        group.create_group("flatten").create_group("vars")  # a layer without weights
        f.create_group("vars")
        f.create_group("optimizer").create_group("vars")


def assert_loaded(model, layers, key_of=None):
    got = model.get_weights()
    keys = {"kernel": "W", "bias": "b"}
    for layer_name, weights in layers.items():
        target = (key_of or {}).get(layer_name, layer_name)
        for wname, value in weights:
            short = wname.rsplit("/", 1)[-1].split(":")[0]
            np.testing.assert_array_equal(got[f"{target}/{keys.get(short, short)}"], value)


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("full_model", [True, False], ids=["model.save", "save_weights"])
def test_keras2_layouts(tmp_path, full_model):
    layers = keras_weights()
    path = tmp_path / "m.h5"
    write_keras2(path, layers, full_model=full_model)
    model = mlp()
    report = load_h5_weights(model, path)
    assert report == {
        "loaded": ["dense", "batch_normalization", "dense_1"],
        "skipped": [],
        "missing": [],
        "unused": [],
    }
    assert_loaded(model, layers)
    x = arr(6, 5)
    np.testing.assert_allclose(model.predict(x), expected_output(x, layers), rtol=1e-5, atol=1e-6)


def test_keras2_chunked_names_nested_model_and_keras1_names(tmp_path):
    """layer_names0/1; a nested model's group split by inner layer; Keras 1's _W/_b."""
    w = keras_weights()
    layers = {
        # a Keras sub-model "base" holding two layers (its weight names carry theirs)
        "base": w["dense"] + w["batch_normalization"],
        # the official *_notop.h5 files still use Keras 1 names
        "dense_1": [("dense_1_W_1:0", w["dense_1"][0][1]), ("dense_1_b_1:0", w["dense_1"][1][1])],
    }
    path = tmp_path / "w.h5"
    write_keras2(path, layers, full_model=False, chunked=True)
    model = mlp()
    report = load_h5_weights(model, path)
    assert report["loaded"] == ["dense", "batch_normalization", "dense_1"]
    assert not report["missing"] and not report["unused"]
    x = arr(4, 5)
    np.testing.assert_allclose(model.predict(x), expected_output(x, w), rtol=1e-5, atol=1e-6)


def test_keras3_weights_h5_matches_by_class_order(tmp_path):
    """Keras 3 names layers by class (dense, dense_1, ...), whatever names you gave."""
    w = keras_weights()
    path = tmp_path / "model.weights.h5"
    write_keras3(path, w)
    model = Sequential(
        [
            Dense(4, activation="relu", name="hidden"),
            BatchNormalization(name="bn"),
            Dense(3, activation="softmax", name="out"),
        ],
        input_shape=(5,),
    )
    report = load_h5_weights(model, path)
    assert report["loaded"] == ["hidden", "bn", "out"]
    assert_loaded(model, w, {"dense": "hidden", "batch_normalization": "bn", "dense_1": "out"})
    x = arr(3, 5)
    np.testing.assert_allclose(model.predict(x), expected_output(x, w), rtol=1e-5, atol=1e-6)

    archive = tmp_path / "model.keras"  # Keras 3's zip: config.json + model.weights.h5
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("config.json", "{}")
        z.write(path, "model.weights.h5")
    again = mlp()
    load_h5_weights(again, archive)
    np.testing.assert_allclose(again.predict(x), model.predict(x), rtol=0, atol=0)


def test_keras_snake_case():
    assert keras_snake_case("Dense") == "dense"
    assert keras_snake_case("Conv2D") == "conv2d"
    assert keras_snake_case("BatchNormalization") == "batch_normalization"
    assert keras_snake_case("SimpleRNN") == "simple_rnn"


def test_conv_kernels_are_hwio(tmp_path):
    kernel, bias = arr(3, 3, 2, 4), arr(4)
    path = tmp_path / "conv.h5"
    write_keras2(path, {"conv2d": [("conv2d/kernel:0", kernel), ("conv2d/bias:0", bias)]})
    model = Sequential([Conv2D(4, 3, padding="valid", name="conv2d")], input_shape=(5, 6, 2))
    load_h5_weights(model, path)
    x = arr(2, 5, 6, 2)
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))  # m,3,4,C,3,3
    expected = np.einsum("mhwcpq,pqco->mhwo", windows, kernel) + bias  # Keras' conv2d
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- mismatches


def test_shape_mismatch_names_layer_and_shapes_and_changes_nothing(tmp_path):
    layers = keras_weights()
    layers["dense_1"] = [("dense_1/kernel:0", arr(4, 7)), ("dense_1/bias:0", arr(7))]
    path = tmp_path / "m.h5"
    write_keras2(path, layers)
    model = mlp()
    model.build()
    before = model.get_weights()
    with pytest.raises(ShapeError) as info:
        load_h5_weights(model, path)
    message = str(info.value)
    assert "dense_1" in message and "(4, 3)" in message and "(4, 7)" in message
    after = model.get_weights()
    for name, value in before.items():  # dense and batch_normalization were not loaded
        np.testing.assert_array_equal(after[name], value)

    with pytest.warns(UserWarning, match="dense_1"):
        report = load_h5_weights(model, path, skip_mismatch=True)
    assert report["loaded"] == ["dense", "batch_normalization"]
    assert report["skipped"] == ["dense_1"]
    np.testing.assert_array_equal(model.get_weights()["dense_1/W"], before["dense_1/W"])
    np.testing.assert_array_equal(model.get_weights()["dense/W"], layers["dense"][0][1])


def test_weight_count_mismatch(tmp_path):
    path = tmp_path / "m.h5"
    write_keras2(path, {"dense": [("dense/kernel:0", arr(5, 4)), ("dense/bias:0", arr(4))]})
    model = Sequential([Dense(4, use_bias=False, name="dense")], input_shape=(5,))
    with pytest.raises(ShapeError, match=r"2 weights .* expects 1"):
        load_h5_weights(model, path)
    with pytest.warns(UserWarning, match="2 weights"):
        assert load_h5_weights(model, path, skip_mismatch=True)["skipped"] == ["dense"]


def test_missing_and_unused_layers_are_reported(tmp_path):
    path = tmp_path / "m.h5"
    w = keras_weights()
    write_keras2(path, {"dense": w["dense"], "other": w["dense_1"]})
    model = mlp()
    report = load_h5_weights(model, path)
    assert report["loaded"] == ["dense"]
    assert report["missing"] == ["batch_normalization", "dense_1"]
    assert report["unused"] == ["other"]

    unrelated = Sequential([Dense(2, name="head")], input_shape=(5,))
    with pytest.raises(ConfigError, match=r"no layer .* The file has: dense, other"):
        load_h5_weights(unrelated, path)


# --------------------------------------------------------------------------- bad files


def test_bad_files(tmp_path):
    model = mlp()
    with pytest.raises(ModelFileError, match="does not exist"):
        load_h5_weights(model, tmp_path / "none.h5")
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not hdf5 at all" * 10)
    with pytest.raises(ModelFileError, match="not an HDF5 file"):
        load_h5_weights(model, garbage)
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(ModelFileError, match="no Keras weights layout"):
        load_h5_weights(model, empty)


def test_without_h5py_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "m.h5"
    write_keras2(path, keras_weights())
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match="pip install h5py"):
        load_h5_weights(mlp(), path)
