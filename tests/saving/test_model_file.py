"""Tests of model files: round trips, resuming, checkpoints, damaged files, atomic writes."""

from __future__ import annotations

import json
import os
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save
from safetensors.numpy import save_file

import nnlab
from nnlab import (
    Adam,
    BatchNormalization,
    Dense,
    Dropout,
    Input,
    InverseTimeDecay,
    ModelCheckpoint,
    ModelFileError,
    Sequential,
    load_model,
)
from nnlab.saving import model_file as nnlab_io
from nnlab.training.callbacks import Callback

SRC = Path(__file__).resolve().parents[2] / "src" / "nnlab"


def data(m=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, 5)).astype(np.float32) * 2 + 1
    y = (x[:, 0] + x[:, 1] > 2).astype(int) + (x[:, 2] > 1).astype(int)
    return x, y


def make_model(dropout=True, seed=0, optimizer=None):
    layers = [
        Input((5,)),
        Dense(8, activation="relu", kernel_initializer="he"),
        BatchNormalization(momentum=0.8),
    ]
    if dropout:
        layers.append(Dropout(0.3))
    layers.append(Dense(3, activation="softmax", kernel_regularizer=0.01))
    model = Sequential(layers, seed=seed, name="io_model")
    model.compile(
        optimizer or Adam(InverseTimeDecay(0.01, 0.5)), "categorical_crossentropy", ["accuracy"]
    )
    return model


@pytest.fixture(scope="module")
def trained_file(tmp_path_factory):
    """(path, model) of a trained model with non-trivial batch-norm statistics."""
    x, y = data()
    model = make_model()
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    path = tmp_path_factory.mktemp("saved") / "model.safetensors"
    model.save(path)
    return path, model


def header_of(raw: bytes) -> tuple[int, dict]:
    (n,) = struct.unpack("<Q", raw[:8])
    return n, json.loads(raw[8 : 8 + n])


# ---------------------------------------------------------------- round trip
def test_round_trip_gives_identical_predictions_and_weights(trained_file):
    path, model = trained_file
    loaded = load_model(path)
    x, _ = data(30, seed=9)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    saved, restored = model.get_weights(), loaded.get_weights()
    assert saved.keys() == restored.keys()
    assert "batch_normalization_1/moving_mean" in saved
    assert not np.allclose(saved["batch_normalization_1/moving_mean"], 0)
    assert not np.allclose(saved["batch_normalization_1/moving_variance"], 1)
    for key in saved:
        np.testing.assert_array_equal(restored[key], saved[key], err_msg=key)
        assert restored[key].dtype == saved[key].dtype
    assert [type(l).__name__ for l in loaded.layers] == [
        "Dense",
        "BatchNormalization",
        "Dropout",
        "Dense",
    ]
    assert loaded.get_config() == model.get_config()
    assert loaded.name == "io_model" and loaded.input_shape == (5,)
    assert loaded.layers[2].rate == pytest.approx(0.3)
    assert loaded.layers[1].momentum == pytest.approx(0.8)
    assert loaded.layers[3].kernel_regularizer.lambd == pytest.approx(0.01)


def test_loaded_model_keeps_compile_settings_and_optimizer_state(trained_file):
    path, model = trained_file
    loaded = load_model(path)
    assert loaded.compiled
    assert isinstance(loaded.optimizer, Adam)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert isinstance(loaded.optimizer.learning_rate, InverseTimeDecay)
    assert loaded.loss.get_config() == model.loss.get_config()
    assert loaded.metric_names == ["accuracy"]
    assert loaded.optimizer.t == model.optimizer.t == 9  # 3 epochs of 3 batches
    assert set(loaded.optimizer.slots) == {"v", "s"}
    for key in ("v", "s"):
        assert np.any(model.optimizer.slots[key] != 0)
        np.testing.assert_array_equal(loaded.optimizer.slots[key], model.optimizer.slots[key])
    x, y = data(20, seed=3)
    assert loaded.evaluate(x, y) == model.evaluate(x, y)


def test_file_layout_tensor_names_and_metadata(trained_file):
    path, model = trained_file
    tensors, metadata = nnlab_io.read_model_file(path)
    assert metadata["format"] == "nnlab" and metadata["version"] == "1"
    assert set(tensors) == set(model.get_weights()) | {"optimizer/v", "optimizer/s"}
    assert json.loads(metadata["optimizer"]) == {"t": 9}
    assert json.loads(metadata["model"]) == model.get_config()
    assert re.fullmatch(r"[0-9a-f]{64}", metadata["sha256"])
    assert json.loads(metadata["rng"]) == model.rng.bit_generator.state
    assert "extra" not in metadata
    assert load_model(path).initial_epoch == 0


def test_save_without_optimizer_and_load_without_compile(tmp_path):
    x, y = data()
    model = make_model()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "sub" / "dir" / "model.safetensors"  # folders are created
    model.save(path, include_optimizer=False)
    tensors, metadata = nnlab_io.read_model_file(path)
    assert not any(name.startswith("optimizer/") for name in tensors)
    assert "optimizer" not in metadata and "rng" not in metadata
    loaded = load_model(path)
    assert loaded.compiled and loaded.optimizer.t == 0
    assert all(not np.any(slot) for slot in loaded.optimizer.slots.values())
    bare = load_model(path, compile=False)
    assert not bare.compiled
    np.testing.assert_array_equal(bare.predict(x), model.predict(x))


def test_float64_model_round_trip(tmp_path):
    model = Sequential([Input((3,)), Dense(2, activation="sigmoid")], seed=0, dtype="float64")
    model.compile("rmsprop", "binary_crossentropy")
    x = np.random.default_rng(0).normal(size=(10, 3))
    model.fit(x, (x[:, :2] > 0).astype(float), epochs=2, verbose=0)
    model.save(tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.dtype == np.float64
    assert loaded.get_weights()["dense_1/W"].dtype == np.float64
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_array_equal(loaded.optimizer.slots["s"], model.optimizer.slots["s"])


# ---------------------------------------------------------------- resuming
def test_resume_from_file_matches_uninterrupted_training(tmp_path):
    x, y = data(40)
    straight = make_model(dropout=False)
    straight.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)

    first = make_model(dropout=False)
    first.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    first.save(tmp_path / "half.safetensors")
    resumed = load_model(tmp_path / "half.safetensors")
    history = resumed.fit(x, y, epochs=3, initial_epoch=2, batch_size=16, shuffle=False, verbose=0)

    assert history.epoch == [2]
    assert history["lr"] == [pytest.approx(0.01 / (1 + 0.5 * 2))]
    assert resumed.optimizer.t == straight.optimizer.t == 9
    expected, actual = straight.get_weights(), resumed.get_weights()
    for key in expected:
        np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)
    for key in ("v", "s"):
        np.testing.assert_array_equal(resumed.optimizer.slots[key], straight.optimizer.slots[key])


def test_resume_with_dropout_and_shuffling_matches_uninterrupted_training(tmp_path):
    # the generator state travels in the file, so masks and permutations continue
    x, y = data(40)
    straight = make_model(dropout=True, seed=3)
    straight.fit(x, y, epochs=3, batch_size=16, shuffle=True, verbose=0)
    first = make_model(dropout=True, seed=3)
    first.fit(x, y, epochs=2, batch_size=16, shuffle=True, verbose=0)
    first.save(tmp_path / "half.safetensors")
    resumed = load_model(tmp_path / "half.safetensors")
    assert resumed.rng.bit_generator.state == first.rng.bit_generator.state
    resumed.fit(x, y, epochs=3, initial_epoch=2, batch_size=16, shuffle=True, verbose=0)
    for key, value in straight.get_weights().items():
        np.testing.assert_array_equal(resumed.get_weights()[key], value, err_msg=key)


def test_resume_from_checkpoint_uses_its_epoch(tmp_path):
    x, y = data(40)
    straight = make_model(dropout=False)
    straight.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)
    path = tmp_path / "ckpt.safetensors"
    first = make_model(dropout=False)
    first.fit(
        x, y, epochs=2, batch_size=16, shuffle=False, callbacks=[ModelCheckpoint(path)], verbose=0
    )
    resumed = load_model(path)
    assert resumed.initial_epoch == 2
    resumed.fit(
        x, y, epochs=4, initial_epoch=resumed.initial_epoch, batch_size=16, shuffle=False, verbose=0
    )
    for key, value in straight.get_weights().items():
        np.testing.assert_array_equal(resumed.get_weights()[key], value, err_msg=key)


# -------------------------------------------------------------- checkpoints
class ReadCheckpoint(Callback):
    """After each epoch (running after ModelCheckpoint), read the file back."""

    def __init__(self, path):
        self.path = path
        self.epochs = []

    def on_epoch_end(self, epoch, logs):
        tensors, metadata = nnlab_io.read_model_file(self.path)
        self.epochs.append(json.loads(metadata["extra"])["epoch"])
        for name, value in self.model.get_weights().items():
            np.testing.assert_array_equal(tensors[name], value, err_msg=name)
        assert json.loads(metadata["optimizer"])["t"] == self.model.optimizer.t


def test_model_checkpoint_writes_every_epoch_with_its_epoch_number(tmp_path):
    x, y = data()
    path = tmp_path / "ckpt.safetensors"
    reader = ReadCheckpoint(path)
    model = make_model()
    model.fit(x, y, epochs=3, batch_size=16, callbacks=[ModelCheckpoint(path), reader], verbose=0)
    assert reader.epochs == [1, 2, 3]
    assert load_model(path).initial_epoch == 3
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_model_checkpoint_save_best_only_writes_on_improvement(tmp_path):
    x, y = data()
    path = tmp_path / "best.safetensors"
    model = make_model()
    scores = iter([1.0, 2.0, 0.5, 0.7])
    model.evaluate = lambda *a, **k: {"loss": next(scores), "accuracy": 0.5}
    checkpoint = ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    file_epochs = []

    class Spy(Callback):
        def on_epoch_end(self, epoch, logs):
            file_epochs.append(json.loads(nnlab_io.read_model_file(path)[1]["extra"])["epoch"])

    model.fit(
        x,
        y,
        epochs=4,
        batch_size=16,
        validation_data=(x, y),
        callbacks=[checkpoint, Spy()],
        verbose=0,
    )
    assert file_epochs == [1, 1, 3, 3]


# ----------------------------------------------------------- damaged files
def _write(path, raw):
    path.write_bytes(raw)
    return path


def _flip_data_byte(raw):
    n, _ = header_of(raw)
    damaged = bytearray(raw)
    damaged[8 + n + (len(raw) - 8 - n) // 2] ^= 0x55
    return bytes(damaged)


def _mid_header(raw):
    n, _ = header_of(raw)
    return raw[: 8 + n // 2]


def _mid_data(raw):
    n, _ = header_of(raw)
    return raw[: 8 + n + (len(raw) - 8 - n) // 2]


def _random_bytes(raw):
    return np.random.default_rng(0).bytes(len(raw))


def _not_json(raw):
    return struct.pack("<Q", 12) + b"\xff\xfe not json" + b"\0" * 40


def _json_list(raw):
    return struct.pack("<Q", 2) + b"[]"


def _other_version(raw):
    n, header = header_of(raw)
    metadata = header.pop("__metadata__")
    metadata["version"] = "2"
    return st_save(st_load(raw), metadata=metadata)


def _digest_removed(raw):
    n, header = header_of(raw)
    metadata = header.pop("__metadata__")
    del metadata["sha256"]
    return st_save(st_load(raw), metadata=metadata)


def _bad_architecture(raw):
    n, header = header_of(raw)
    metadata = header.pop("__metadata__")
    config = json.loads(metadata["model"])
    config["layers"][0]["class"] = "Conv9D"
    metadata["model"] = json.dumps(config)
    return st_save(st_load(raw), metadata=metadata)


DAMAGES = {
    "empty": (lambda raw: b"", r"0 bytes is too short.*truncated"),
    "4 bytes": (lambda raw: raw[:4], r"4 bytes is too short.*truncated"),
    "8 bytes": (lambda raw: raw[:8], r"header claims \d+ bytes but the file has 0: truncated"),
    "mid-header": (_mid_header, r"header claims \d+ bytes .*: truncated"),
    "end of header": (lambda raw: raw[: 8 + header_of(raw)[0]], r"cannot be read.*damaged"),
    "mid-data": (_mid_data, r"cannot be read.*damaged"),
    "last byte missing": (lambda raw: raw[:-1], r"cannot be read.*damaged"),
    "bytes appended": (lambda raw: raw + b"\0\0\0\0", r"cannot be read.*damaged"),
    "data byte flipped": (_flip_data_byte, r"the weights were altered \(checksum"),
    "random bytes": (_random_bytes, r"truncated"),
    "header not JSON": (_not_json, r"header is not valid JSON; not a model file"),
    "header a JSON list": (_json_list, r"not a JSON object; not a model file"),
    "other version": (_other_version, r"format version '2', this nnlab reads '1'"),
    "digest removed": (_digest_removed, r"the weights were altered"),
    # the digest may or may not cover the header; either way a ModelFileError
    "unknown layer class": (
        _bad_architecture,
        r"architecture in the header is invalid.*Conv9D|the weights were altered",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_file_raises_model_file_error(trained_file, tmp_path, damage):
    path, _ = trained_file
    make, message = DAMAGES[damage]
    target = _write(tmp_path / "damaged.safetensors", make(path.read_bytes()))
    with pytest.raises(ModelFileError, match=message) as info:
        load_model(target)
    assert str(target) in str(info.value)
    assert isinstance(info.value, nnlab.NNLabError) and isinstance(info.value, OSError)


def test_every_truncation_raises_model_file_error(trained_file, tmp_path):
    raw = trained_file[0].read_bytes()
    target = tmp_path / "cut.safetensors"
    for length in sorted({*range(0, 40), *range(0, len(raw), 97), len(raw) - 1}):
        target.write_bytes(raw[:length])
        with pytest.raises(ModelFileError):
            load_model(target)


def test_missing_file_raises_model_file_error(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(ModelFileError, match=r"'.*nope\.safetensors' does not exist"):
        load_model(missing)
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path)  # a folder is not a model file


def test_plain_safetensors_file_is_not_an_nnlab_model(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"dense_1/W": np.zeros((5, 8), np.float32)}, str(path))
    with pytest.raises(ModelFileError, match=r"not an nnlab model file"):
        load_model(path)
    save_file({"w": np.ones(3, np.float32)}, str(path), metadata={"format": "pt"})
    with pytest.raises(ModelFileError, match=r"not an nnlab model file"):
        load_model(path)


# Bug: the sha256 covers only the tensors, so the header's architecture, optimizer and
# extra entries are unverified, and what load_model does with them is not wrapped.
def _edit_header_in_place(raw, old: bytes, new: bytes):
    n, _ = header_of(raw)
    header = raw[8 : 8 + n]
    assert len(old) == len(new) and header.count(old) == 1
    return raw[:8] + header.replace(old, new) + raw[8 + n :]


def test_one_flipped_header_byte_changing_the_architecture_is_detected(trained_file, tmp_path):
    raw = trained_file[0].read_bytes()
    # batch-norm epsilon 0.001 -> 0.009: one byte, still valid JSON, different predictions
    damaged = _edit_header_in_place(raw, b'\\"epsilon\\": 0.001', b'\\"epsilon\\": 0.009')
    assert sum(a != b for a, b in zip(raw, damaged, strict=True)) == 1
    target = _write(tmp_path / "flipped.safetensors", damaged)
    with pytest.raises(ModelFileError, match="altered"):
        load_model(target)


def test_header_architecture_inconsistent_with_tensors_raises_model_file_error(
    trained_file, tmp_path
):
    raw = trained_file[0].read_bytes()
    damaged = _edit_header_in_place(raw, b'\\"units\\": 8', b'\\"units\\": 9')
    target = _write(tmp_path / "units.safetensors", damaged)
    with pytest.raises(ModelFileError):
        load_model(target)


@pytest.mark.parametrize(
    "entry, value",
    [
        ("optimizer", "not json"),
        ("optimizer", "{}"),
        ("extra", "[1]"),
        ("extra", "{oops"),
        ("rng", "not json"),
        ("rng", '{"bit_generator": "MT19937"}'),
    ],
)
def test_malformed_metadata_entry_raises_model_file_error(trained_file, tmp_path, entry, value):
    raw = trained_file[0].read_bytes()
    _, header = header_of(raw)
    metadata = header.pop("__metadata__")
    metadata[entry] = value
    target = _write(tmp_path / "meta.safetensors", st_save(st_load(raw), metadata=metadata))
    with pytest.raises(ModelFileError):
        load_model(target)


# ------------------------------------------------------------ atomic saving
def _save_and_fail(tmp_path, monkeypatch, exc, obj, name):
    path = tmp_path / "model.safetensors"
    x, y = data()
    model = make_model()
    model.save(path)
    before = path.read_bytes()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # the weights change

    def boom(*args, **kwargs):
        raise exc

    monkeypatch.setattr(obj, name, boom)
    with pytest.raises(type(exc)):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]  # no temporary file left
    load_model(path)  # still a valid model


@pytest.mark.parametrize(
    "obj, name, exc",
    [
        (os, "replace", OSError("disk full")),
        (os, "fsync", KeyboardInterrupt()),
        (nnlab_io, "st_save", KeyboardInterrupt()),
    ],
    ids=["replace fails", "interrupted before rename", "interrupted while serializing"],
)
def test_failed_save_keeps_previous_file_and_leaves_no_temp_file(
    tmp_path, monkeypatch, obj, name, exc
):
    _save_and_fail(tmp_path, monkeypatch, exc, obj, name)


def test_save_writes_through_a_temporary_file_in_the_same_folder(tmp_path, monkeypatch):
    seen = []
    original = os.replace

    def replace(src, dst):
        seen.append((Path(src), Path(dst), Path(src).read_bytes()))
        return original(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "m.safetensors"
    make_model().save(path)
    [(src, dst, raw)] = seen
    assert src.parent == dst.parent == tmp_path and src != dst
    assert dst == path and raw == path.read_bytes()
    assert os.listdir(tmp_path) == ["m.safetensors"]


def test_saved_file_permissions_follow_the_umask(tmp_path):
    # Bug: mkstemp creates the temporary file with mode 0o600, and the rename keeps it, so a
    # saved model is unreadable by the group/others whatever the umask (open() gives 0o644).
    old = os.umask(0o022)
    try:
        path = tmp_path / "m.safetensors"
        make_model().save(path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


# ----------------------------------------------------------------- no pickle
def test_load_never_unpickles(trained_file, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("load_model must not unpickle or use np.load")

    for obj, name in [
        (pickle, "load"),
        (pickle, "loads"),
        (pickle, "Unpickler"),
        (np, "load"),
    ]:
        monkeypatch.setattr(obj, name, forbidden)
    model = load_model(trained_file[0])
    assert model.compiled


def test_source_never_enables_pickle():
    """No module loads a pickle; saving/joblib_arrays.py alone uses pickle's machinery, to
    read arrays through an allowlisted find_class (tested against crafted pickles in
    tests/applications/test_mtcnn.py)."""
    files = sorted(SRC.rglob("*.py"))
    assert files, SRC
    allowlisted = SRC / "saving" / "joblib_arrays.py"
    for file in files:
        text = file.read_text()
        assert not re.search(r"allow_pickle\s*=\s*True", text), file
        assert "torch.load(" not in text, file
        assert "pickle.load(" not in text and "joblib.load(" not in text, file
        if file != allowlisted:
            assert not re.search(r"^\s*(import|from)\s+(c?pickle|dill|joblib)\b", text, re.M), file
    assert "def find_class" in allowlisted.read_text()


def test_the_same_seed_gives_byte_identical_files_across_processes(tmp_path):
    """Two processes training the same config write the same bytes: the header's metadata
    (a hash map inside safetensors, in another order in every process) is written sorted."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(SRC.parent)}
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        subprocess.run(
            [sys.executable, "-m", "nnlab.cli", "train", "--dataset", "planar", "--layers", "4"]
            + ["--epochs", "3", "--quiet", "--out", str(run)],
            env=env,
            check=True,
            capture_output=True,
        )
    for name in ("model.safetensors", "checkpoint.safetensors"):
        first, second = ((run / name).read_bytes() for run in runs)
        assert first == second, f"{name} differs between two runs of the same seed"
