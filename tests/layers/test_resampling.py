"""UpSampling2D (nearest, bilinear) against PyTorch's nn.Upsample and against dense
interpolation matrices written from the definition; its errors.

Values and input gradients must agree to 1e-5 (float32, relative plus absolute) or 1e-10
(float64).  Bilinear is half-pixel centres: PyTorch's ``align_corners=False``, which is
what Keras 3 (``ops.image.resize``) and ``tf.image.resize`` compute.
"""

import json

import numpy as np
import pytest

import nnlab
from nnlab import ConfigError, ShapeError
from nnlab.layers import UpSampling2D
from nnlab.ops import parallel, resampling
from nnlab.saving.model_file import load_model_from_config

torch = pytest.importorskip("torch")

from helpers import assert_close, compare_with_torch, run_layer  # noqa: E402

DTYPES = ["float32", "float64"]
SIZES = [2, (2, 3), (3, 2), (1, 1), (1, 4), (3, 3), (4, 5)]


def to_cf(x):
    return x.permute(0, 3, 1, 2)


def to_cl(x):
    return x.permute(0, 2, 3, 1)


def torch_upsample(size, interpolation):
    pair = size if isinstance(size, tuple) else (size, size)
    extra = {} if interpolation == "nearest" else {"align_corners": False}
    upsample = torch.nn.Upsample(scale_factor=pair, mode=interpolation, **extra)
    return lambda x, p: to_cl(upsample(to_cf(x)))


def random_shape(seed):
    rng = np.random.default_rng(300 + seed)
    m = 1 if seed == 0 else int(rng.integers(2, 5))
    return (m, int(rng.integers(1, 8)), int(rng.integers(1, 8)), int(rng.integers(1, 5)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize("seed", range(4))
def test_upsampling_matches_torch(seed, size, interpolation, dtype):
    shape = random_shape(seed)
    layer = UpSampling2D(size, interpolation=interpolation)
    x = np.random.default_rng(seed).standard_normal(shape)
    out, dx, grads = compare_with_torch(
        layer, torch_upsample(size, interpolation), x, seed=seed, dtype=dtype
    )
    s_h, s_w = size if isinstance(size, tuple) else (size, size)
    assert out.shape == (shape[0], shape[1] * s_h, shape[2] * s_w, shape[3])
    assert dx.dtype == np.dtype(dtype) and grads == {}


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [(2, 2), (2, 3), (5, 1)], ids=str)
def test_upsampling_one_pixel_rows_and_columns(size, interpolation):
    """1xN, Nx1 and 1x1 images: no neighbour on one side (bilinear clamps to the edge)."""
    for shape in [(2, 1, 5, 3), (2, 4, 1, 2), (1, 1, 1, 1)]:
        x = np.random.default_rng(1).standard_normal(shape)
        compare_with_torch(
            UpSampling2D(size, interpolation), torch_upsample(size, interpolation), x, seed=1
        )


def interpolation_matrix(n, s):
    """(n s, n): row o mixes the inputs around t = (o + 1/2) / s - 1/2, clamped to [0, n - 1]
    (TensorFlow's half-pixel rule), written from the definition, one row at a time."""
    a = np.zeros((n * s, n))
    for o in range(n * s):
        t = min(max((o + 0.5) / s - 0.5, 0.0), n - 1)
        lo = int(np.floor(t))
        hi = min(lo + 1, n - 1)
        a[o, lo] += 1 - (t - lo)
        a[o, hi] += t - lo
    return a


@pytest.mark.parametrize("size", [(2, 2), (3, 4), (1, 2), (6, 3)], ids=str)
def test_bilinear_equals_dense_interpolation_matrices(size):
    """Y = A_H X A_W^T per channel, and its transpose dX = A_H^T dY A_W."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 4, 2))
    a_h, a_w = interpolation_matrix(5, size[0]), interpolation_matrix(4, size[1])
    dy = rng.standard_normal((3, 5 * size[0], 4 * size[1], 2))
    layer = UpSampling2D(size, interpolation="bilinear")
    layer.build(x.shape[1:], rng, "float64")
    out, dx, _ = run_layer(layer, x, dy)
    assert_close(out, np.einsum("oh,mhwc,pw->mopc", a_h, x, a_w), what="forward")
    assert_close(dx, np.einsum("oh,mopc,pw->mhwc", a_h, dy, a_w), what="backward")


def test_nearest_repeats_pixels_into_blocks():
    x = np.arange(2 * 2 * 3 * 1, dtype=np.float32).reshape(2, 2, 3, 1)
    layer = UpSampling2D((2, 3))
    layer.build(x.shape[1:], np.random.default_rng(0), "float32")
    out = layer.forward(x)
    np.testing.assert_array_equal(out, x.repeat(2, axis=1).repeat(3, axis=2))
    dx = layer.backward(np.ones_like(out))
    np.testing.assert_array_equal(dx, np.full(x.shape, 6, np.float32))


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("threads", [1, 2])
def test_upsampling_split_between_threads(monkeypatch, threads, interpolation):
    """The batch split over threads (each with its own scratch) gives the same numbers."""
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", 1)
    x = np.random.default_rng(3).standard_normal((5, 4, 3, 2))
    parallel.set_num_threads(threads)
    try:
        compare_with_torch(
            UpSampling2D((3, 2), interpolation),
            torch_upsample((3, 2), interpolation),
            x,
            seed=3,
        )
    finally:
        parallel.set_num_threads(parallel._default_threads())


def test_phase_pairs():
    """Outputs r s + j sit (2 j + 1 - s) / (2 s) from input r; phases pair up as -d, +d."""
    assert resampling.phase_pairs(1) == []
    assert resampling.phase_pairs(2) == [(0, 1, 0.25)]
    assert resampling.phase_pairs(3) == [(0, 2, 1 / 3)]
    assert resampling.phase_pairs(4) == [(0, 3, 0.375), (1, 2, 0.125)]


def test_upsampling_in_a_model_round_trips_its_config():
    model = nnlab.Sequential(
        [
            nnlab.Conv2D(3, 3, padding="same"),
            UpSampling2D((2, 3), interpolation="bilinear"),
            nnlab.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1),
        ],
        input_shape=(4, 5, 1),
        seed=0,
    )
    model.compile("adam", "mse")
    clone = load_model_from_config(json.loads(json.dumps(model.get_config())))
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 1)).astype(np.float32)
    assert model.predict(x).shape == (2, 16, 30, 2)
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


# ------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: UpSampling2D(0), "UpSampling2D: size must be a positive integer"),
        (lambda: UpSampling2D((2, 0)), "UpSampling2D: size"),
        (lambda: UpSampling2D(1.5), "UpSampling2D: size"),
        (lambda: UpSampling2D((2, 2, 2)), "UpSampling2D: size"),
        (
            lambda: UpSampling2D(2, interpolation="bicubic"),
            "UpSampling2D: interpolation must be 'nearest' or 'bilinear', got 'bicubic'",
        ),
        (lambda: UpSampling2D(2, interpolation=None), "UpSampling2D: interpolation"),
    ],
)
def test_bad_settings_raise_config_errors_naming_the_layer(make, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        make()


def test_wrong_input_names_the_layer():
    layer = UpSampling2D(name="up")
    with pytest.raises(ShapeError, match=r'UpSampling2D layer "up".*\(m, n_H, n_W, n_C\)'):
        layer.build((16,), np.random.default_rng(0))
