"""nnlab.data.annotate: box outlines exactly where the box is (and nothing inside), label
strips, discs of landmarks, colours per box / per landmark, grayscale and float inputs,
and the errors."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.data.annotate import as_rgb_uint8, draw_boxes, draw_points
from nnlab.exceptions import InputValueError, ShapeError

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def noise(h=60, w=80, seed=0) -> np.ndarray:
    """Random pixels kept away from pure colours, so a drawn colour is never there by chance."""
    return np.random.default_rng(seed).integers(20, 230, (h, w, 3), dtype=np.uint8)


def outline_mask(shape, c0, r0, c1, r1, width) -> np.ndarray:
    """The outline of columns c0..c1, rows r0..r1 (inclusive), ``width`` thick inside:
    written pixel by pixel, the plain reference for the sliced version."""
    mask = np.zeros(shape, bool)
    for r in range(r0, r1 + 1):
        for c in range(c0, c1 + 1):
            if min(r - r0, r1 - r, c - c0, c1 - c) < width:
                mask[r, c] = True
    return mask


def is_color(image, rgb) -> np.ndarray:
    return (image == np.array(rgb, np.uint8)).all(axis=-1)


def test_outline_is_the_color_and_the_inside_is_untouched():
    image = noise()
    before = image.copy()
    boxes = np.array([[10, 5, 40, 30], [50.4, 20.6, 70.2, 55.5]])  # floats round
    out = draw_boxes(image, boxes, width=2)
    np.testing.assert_array_equal(image, before)  # a new image; the input is kept
    assert out.dtype == np.uint8 and out.shape == image.shape
    mask = outline_mask(image.shape[:2], 10, 5, 39, 29, 2) | outline_mask(
        image.shape[:2], 50, 21, 69, 55, 2
    )
    assert is_color(out, RED)[mask].all()
    np.testing.assert_array_equal(out[~mask], before[~mask])  # inside and outside unchanged


def test_clipping_degenerate_and_outside_boxes():
    image = noise(20, 30)
    out = draw_boxes(image, [[-5, -5, 10, 10], [25, 2, 25, 2], [40, 40, 50, 50]], width=1)
    mask = outline_mask((20, 30), 0, 0, 9, 9, 1)
    mask[2, 25] = True  # an empty box still marks its pixel
    np.testing.assert_array_equal(is_color(out, RED), mask)
    np.testing.assert_array_equal(draw_boxes(image, np.zeros((0, 4))), image)
    np.testing.assert_array_equal(
        draw_boxes(image, [2, 2, 8, 8]), draw_boxes(image, [[2, 2, 8, 8]])
    )


def test_one_color_per_box_and_thick_lines():
    image = noise()
    out = draw_boxes(image, [[5, 5, 30, 30], [40, 10, 75, 50]], color=[RED, BLUE], width=4)
    assert is_color(out, RED)[outline_mask((60, 80), 5, 5, 29, 29, 4)].all()
    assert is_color(out, BLUE)[outline_mask((60, 80), 40, 10, 74, 49, 4)].all()
    assert not is_color(out, BLUE)[:, :35].any()


def test_label_strip_above_the_box():
    from PIL import Image, ImageDraw, ImageFont

    image = noise(100, 120)
    out = draw_boxes(image, [[20, 40, 90, 90]], labels=["face"], scores=[0.931], color=BLUE)
    font = ImageFont.load_default()
    ascent, descent = font.getmetrics()
    text_w = ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength("face 0.93", font=font)
    strip = out[40 - (ascent + descent + 2) : 40]
    # blue, or white text anti-aliased on blue: the blue channel is 255 (noise stays < 230)
    cols = np.flatnonzero((strip[..., 2] == 255).all(axis=0))
    np.testing.assert_array_equal(cols, np.arange(20, 20 + int(np.ceil(text_w)) + 2))
    assert (strip.min(axis=-1) > 200).any()  # white text on blue
    below = ~outline_mask((100, 120), 20, 40, 89, 89, 2)
    below[:40] = False
    np.testing.assert_array_equal(out[below], image[below])
    np.testing.assert_array_equal(out[: 40 - len(strip)], image[: 40 - len(strip)])
    # a score alone, and a label alone, give narrower strips than both
    for labels, scores in ((["face"], None), (None, [0.931])):
        one = draw_boxes(image, [[20, 40, 90, 90]], labels=labels, scores=scores, color=BLUE)
        assert (one[30:38, :, 2] == 255).all(axis=0).sum() < len(cols)


def test_label_strip_goes_inside_a_box_at_the_top():
    image = noise(60, 80)
    out = draw_boxes(image, [[0, 0, 60, 50]], labels=["x"], color=(255, 255, 0))
    assert (out[0:10, 0:3] != image[0:10, 0:3]).any()  # the strip, inside the box
    np.testing.assert_array_equal(out[15:45, 5:55], image[15:45, 5:55])  # under it, untouched
    dark = out[2:9, 2:8].max(axis=-1) < 60  # black text on yellow
    assert dark.any()


def test_points_are_discs():
    image = noise()
    out = draw_points(image, [[10, 10], [30.4, 20.6]], color=GREEN, radius=2)
    drawn = is_color(out, GREEN)
    assert drawn.sum() == 2 * 13  # x^2 + y^2 <= 4: 13 pixels
    assert drawn[10, 8] and drawn[10, 12] and drawn[8, 10] and not drawn[8, 8]
    assert drawn[21, 30] and drawn[19, 30]
    np.testing.assert_array_equal(out[~drawn], image[~drawn])
    one = draw_points(image, [[5, 6]], radius=0)
    assert is_color(one, GREEN).sum() == 1 and is_color(one, GREEN)[6, 5]
    edge = draw_points(image, [[0, 0], [200, 200]], radius=1)  # part on, one off the image
    assert is_color(edge, GREEN).sum() == 3


def test_landmarks_with_a_color_each():
    image = noise(40, 40)
    points = np.array([[[5, 5], [15, 5], [25, 5]], [[5, 30], [15, 30], [25, 30]]])  # (2, 3, 2)
    out = draw_points(image, points, color=[RED, GREEN, BLUE], radius=1)
    for j, rgb in enumerate((RED, GREEN, BLUE)):
        for k in range(2):
            x, y = points[k, j]
            assert is_color(out[y - 1 : y + 2, x - 1 : x + 2], rgb).sum() == 5


def test_grayscale_float_and_rgba_inputs():
    gray = np.random.default_rng(1).integers(20, 230, (30, 40), dtype=np.uint8)
    for image in (gray, gray[..., None]):
        out = draw_boxes(image, [[5, 5, 20, 20]])
        assert out.shape == (30, 40, 3)
        np.testing.assert_array_equal(out[10, 10], [gray[10, 10]] * 3)
    floats = gray.astype(np.float32) / 255
    np.testing.assert_array_equal(as_rgb_uint8(floats)[..., 0], gray)
    rgba = np.concatenate([noise(30, 40), np.full((30, 40, 1), 7, np.uint8)], axis=-1)
    np.testing.assert_array_equal(draw_points(rgba, [[1, 1]])[20, 20], rgba[20, 20, :3])
    assert as_rgb_uint8(np.ones((2, 2), bool)).max() == 255


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda im: draw_boxes(im, [[1, 2, 3]]), ShapeError, r"\(k, 4\)"),
        (lambda im: draw_boxes(im, [[1, 2, np.nan, 4]]), InputValueError, "NaN"),
        (lambda im: draw_boxes(im, [[1, 2, 3, 4]], labels=["a", "b"]), ShapeError, "1 strings"),
        (lambda im: draw_boxes(im, [[1, 2, 3, 4]], labels="a"), ShapeError, "list of 1"),
        (lambda im: draw_boxes(im, [[1, 2, 3, 4]], scores=[1, 2]), ShapeError, "1 numbers"),
        (lambda im: draw_boxes(im, [[1, 2, 3, 4]], width=0), InputValueError, "width"),
        (lambda im: draw_boxes(im, [[1, 2, 3, 4]], color=(1, 2)), ShapeError, "RGB triple"),
        (lambda im: draw_boxes(im, [[1, 2, 3, 4]], color=(1, 2, 300)), InputValueError, "255"),
        (lambda im: draw_boxes(im, [[1, 2, 3, 4]], color=[RED] * 2), ShapeError, "broadcast"),
        (lambda im: draw_points(im, [[1, 2, 3]]), ShapeError, r"\(k, 2\)"),
        (lambda im: draw_points(im, [[1, 2]], radius=-1), InputValueError, "radius"),
        (lambda im: draw_boxes(im * 2.0, [[1, 2, 3, 4]]), InputValueError, r"\[0, 1\]"),
        (lambda im: draw_boxes(im[None], [[1, 2, 3, 4]]), ShapeError, "grayscale"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(np.full((10, 10, 3), 0.7))
