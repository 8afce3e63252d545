"""Image augmentation layers: exact on hand-checkable transforms, identity at inference."""

import numpy as np
import pytest

from nnlab.exceptions import ConfigError
from nnlab.layers.augmentation import RandomFlip, RandomRotation, RandomTranslation


def built(layer, shape=(6, 6, 2), seed=0):
    layer.build(shape, np.random.default_rng(seed), "float64")
    return layer


def images(m=64, shape=(6, 6, 2), seed=1):
    return np.random.default_rng(seed).standard_normal((m, *shape))


@pytest.mark.parametrize("layer", [RandomFlip(), RandomTranslation(0.2, 0.2), RandomRotation(0.1)])
def test_identity_at_inference(layer):
    x = images()
    assert built(layer).forward(x, training=False) is x


def test_flip_mirrors_about_half_of_the_images():
    x = images(m=400)
    out = built(RandomFlip("horizontal")).forward(x, training=True)
    same = np.all(out == x, axis=(1, 2, 3))
    flipped = np.all(out == x[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(same | flipped)
    assert 150 < flipped.sum() < 250


def test_vertical_and_both_flips():
    x = images(m=200)
    out = built(RandomFlip("horizontal_and_vertical")).forward(x, training=True)
    options = [x, x[:, ::-1], x[:, :, ::-1], x[:, ::-1, ::-1]]
    matches = np.stack([np.all(out == o, axis=(1, 2, 3)) for o in options])
    assert np.all(matches.any(axis=0)) and np.all(matches.sum(axis=1) > 20)


def test_integer_translation_shifts_with_zero_fill():
    x = images(m=2)
    layer = built(RandomTranslation(0.3, 0.3))
    zeros = np.zeros(2)
    layer.angles_and_shifts = lambda m: (zeros, np.array([1.0, -2.0]), np.array([2.0, 0.0]))
    out = layer.forward(x, training=True)
    expected0 = np.zeros_like(x[0])
    expected0[1:, 2:] = x[0, :-1, :-2]  # down 1, right 2
    expected1 = np.zeros_like(x[1])
    expected1[:-2] = x[1, 2:]  # up 2
    np.testing.assert_allclose(out[0], expected0, atol=1e-12)
    np.testing.assert_allclose(out[1], expected1, atol=1e-12)


def test_quarter_turn_equals_rot90():
    x = images(m=1, shape=(5, 5, 1))
    layer = built(RandomRotation(0.25), shape=(5, 5, 1))
    layer.angles_and_shifts = lambda m: (np.array([np.pi / 2]), np.zeros(1), np.zeros(1))
    out = layer.forward(x, training=True)
    np.testing.assert_allclose(out[0], np.rot90(x[0], k=1, axes=(0, 1)), atol=1e-9)


def test_random_angles_stay_in_range_and_differ_per_example():
    layer = built(RandomRotation(0.05))
    theta, _, _ = layer.angles_and_shifts(1000)
    assert np.abs(theta).max() <= 0.05 * 2 * np.pi and np.unique(theta).size == 1000


def test_bad_arguments_and_placement():
    with pytest.raises(ConfigError, match="mode"):
        RandomFlip("diagonal")
    with pytest.raises(ConfigError, match="height_factor"):
        RandomTranslation(1.5, 0.1)
    layer = built(RandomFlip())
    layer.forward(images(), training=True)
    with pytest.raises(ConfigError, match="must come first"):
        layer.backward(images(), need_input_grad=True)


def test_nearest_translation_keeps_pixel_values_and_config_round_trips():
    """Nearest-pixel shifts move pixels without blending them (no blur), fill with zeros."""
    x = images(m=50)
    layer = built(RandomTranslation(0.3, 0.3, interpolation="nearest"))
    out = layer.forward(x, training=True)
    values = set(np.round(x, 12).ravel()) | {0.0}
    assert set(np.round(out, 12).ravel()) <= values
    assert RandomTranslation(**layer.get_config()).interpolation == "nearest"
    with pytest.raises(ConfigError, match="interpolation"):
        RandomTranslation(0.1, 0.1, interpolation="cubic")


def test_nearest_integer_shift_equals_bilinear():
    x = images(m=1)
    shifts = (np.zeros(1), np.array([-1.0]), np.array([2.0]))
    outs = []
    for interpolation in ("bilinear", "nearest"):
        layer = built(RandomTranslation(0.3, 0.3, interpolation=interpolation))
        layer.angles_and_shifts = lambda m: shifts
        outs.append(layer.forward(x, training=True))
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-12)


@pytest.mark.parametrize("fill_mode, pad", [("reflect", "symmetric"), ("nearest", "edge")])
def test_fill_modes_equal_numpy_padding_on_integer_shifts(fill_mode, pad):
    """Keras' "reflect" (d c b a | a b c d) is NumPy's "symmetric" padding, "nearest" its
    "edge": an integer shift of (dy, dx) reads the padded image from (p - dy, p - dx)."""
    x = images(m=2)
    for interpolation in ("bilinear", "nearest"):
        layer = built(RandomTranslation(0.5, 0.5, interpolation=interpolation, fill_mode=fill_mode))
        dy, dx = np.array([2.0, -3.0]), np.array([-1.0, 4.0])
        layer.angles_and_shifts = lambda m, dy=dy, dx=dx: (np.zeros(2), dy, dx)
        out = layer.forward(x, training=True)
        for i in range(2):
            padded = np.pad(x[i], ((6, 6), (6, 6), (0, 0)), mode=pad)
            r, c = 6 - int(dy[i]), 6 - int(dx[i])
            np.testing.assert_allclose(out[i], padded[r : r + 6, c : c + 6], atol=1e-12)
    assert RandomRotation(0.1, fill_mode="reflect").get_config()["fill_mode"] == "reflect"
    with pytest.raises(ConfigError, match="fill_mode"):
        RandomRotation(0.1, fill_mode="wrap")


def test_reflect_rotation_leaves_no_empty_corners():
    x = np.abs(images(m=3, shape=(8, 8, 1))) + 1.0  # every pixel >= 1
    for fill_mode, empty in (("constant", True), ("reflect", False)):
        layer = built(RandomRotation(0.1, fill_mode=fill_mode), shape=(8, 8, 1))
        layer.angles_and_shifts = lambda m: (np.full(m, 0.5), np.zeros(m), np.zeros(m))
        out = layer.forward(x, training=True)
        assert (out.min() < 0.5) == empty
