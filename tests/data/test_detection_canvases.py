"""Detection canvases from MNIST digits over real textures (nnlab.data.detection)."""

import numpy as np
import pytest

from nnlab.data import detection
from nnlab.data.detection import HELD_OUT_WIDTH, INK_THRESHOLD, CanvasMaker
from nnlab.exceptions import ConfigError
from nnlab.ops.boxes import iou


@pytest.fixture(scope="module")
def train_maker():
    return CanvasMaker("train")


def test_canvases_counts_ranges_and_overlaps(train_maker):
    canvases = train_maker.make(60, seed=3)
    assert canvases.images.shape == (60, 128, 128, 1)
    assert canvases.images.dtype == np.float32
    assert 0.0 <= canvases.images.min() and canvases.images.max() <= 1.0
    counts = [len(b) for b in canvases.boxes]
    assert 1 <= min(counts) and max(counts) <= 6 and len(set(counts)) > 3
    for boxes, classes in zip(canvases.boxes, canvases.classes, strict=True):
        assert boxes.shape == (len(classes), 4) and set(classes) <= set(range(10))
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 128).all()
        sides = boxes[:, 2:] - boxes[:, :2]
        assert (sides > 0).all() and sides.max() <= 48
        overlaps = iou(boxes, boxes) - np.eye(len(boxes))
        assert overlaps.max() <= 0.1 + 1e-6


def test_same_seed_same_canvases(train_maker):
    a, b = train_maker.make(5, seed=7), train_maker.make(5, seed=7)
    np.testing.assert_array_equal(a.images, b.images)
    assert all((x == y).all() for x, y in zip(a.boxes, b.boxes, strict=True))
    assert not np.array_equal(a.images, train_maker.make(5, seed=8).images)


def test_box_is_the_tight_box_of_the_ink(train_maker, monkeypatch):
    """On a black background (one digit a canvas) the ink lies inside its box and touches
    every side of it."""
    single = CanvasMaker.__new__(CanvasMaker)
    single.__dict__.update(train_maker.__dict__)
    single.min_digits = single.max_digits = 1
    monkeypatch.setattr(CanvasMaker, "_background", lambda self, rng: np.zeros((128, 128)))
    canvases = single.make(30, seed=1)
    for image, (box,) in zip(canvases.images[:, :, :, 0], canvases.boxes, strict=True):
        x1, y1, x2, y2 = box.astype(int)
        # ink (intensity > 0.2) at level in [0.75, 1] shows above 0.15, and only ink does
        # above 0.2
        outside = image.copy()
        outside[y1:y2, x1:x2] = 0
        assert outside.max() <= INK_THRESHOLD
        window = image[y1:y2, x1:x2] > 0.75 * INK_THRESHOLD
        assert window[0].any() and window[-1].any() and window[:, 0].any() and window[:, -1].any()


def test_test_split_uses_other_digits_and_other_background_pixels(train_maker):
    test_maker = CanvasMaker("test")
    assert len(train_maker.digits) == 60000 and len(test_maker.digits) == 10000
    for name, train_part, test_part in zip(
        detection.TEXTURES, train_maker.pictures, test_maker.pictures, strict=True
    ):
        assert test_part.shape[1] == HELD_OUT_WIDTH, name
        whole = train_part.shape[1] + test_part.shape[1]
        assert whole == _width(name)


def _width(name):
    import skimage.data

    return getattr(skimage.data, name)().shape[1]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"split": "dev"}, "split"),
        ({"min_digits": 0}, "min_digits"),
        ({"min_digits": 4, "max_digits": 3}, "min_digits"),
        ({"min_size": 4}, "min_size"),
        ({"max_size": 200}, "min_size"),
    ],
)
def test_bad_settings_are_named(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        CanvasMaker(**kwargs)


# ------------------------------------------------------------------ segmentation masks
def test_masks_leave_the_canvases_unchanged(train_maker):
    plain, masked = train_maker.make(8, seed=5), train_maker.make(8, seed=5, masks=True)
    assert plain.masks is None
    np.testing.assert_array_equal(plain.images, masked.images)
    assert all((a == b).all() for a, b in zip(plain.boxes, masked.boxes, strict=True))
    assert masked.masks.shape == (8, 128, 128) and masked.masks.dtype == np.uint8


def test_every_mask_pixel_lies_in_a_box_of_its_class(train_maker):
    canvases = train_maker.make(40, seed=2, masks=True)
    assert canvases.masks.max() <= 10 and (canvases.masks == 0).mean() > 0.5
    for mask, boxes, classes in zip(canvases.masks, canvases.boxes, canvases.classes, strict=True):
        for digit in range(10):
            inside = np.zeros(mask.shape, dtype=bool)
            for x1, y1, x2, y2 in boxes[classes == digit].astype(int):
                inside[y1:y2, x1:x2] = True
            labelled = mask == 1 + digit
            assert not (labelled & ~inside).any()
            assert labelled.any() == bool((classes == digit).any())


def test_mask_is_the_ink_and_its_tight_box_is_the_box(train_maker, monkeypatch):
    """One digit on a black background: the canvas is level * a with level in [0.75, 1],
    so the ink (a > 0.2) holds every pixel above 0.2 and only pixels above 0.15, and the
    mask's tight box is the recorded box."""
    single = CanvasMaker.__new__(CanvasMaker)
    single.__dict__.update(train_maker.__dict__)
    single.min_digits = single.max_digits = 1
    monkeypatch.setattr(CanvasMaker, "_background", lambda self, rng: np.zeros((128, 128)))
    canvases = single.make(20, seed=4, masks=True)
    for image, mask, (box,), (digit,) in zip(
        canvases.images[:, :, :, 0], canvases.masks, canvases.boxes, canvases.classes, strict=True
    ):
        ink = mask > 0
        assert set(np.unique(mask)) == {0, 1 + digit}
        assert not (image > INK_THRESHOLD)[~ink].any()
        assert (image[ink] > 0.75 * INK_THRESHOLD).all()
        rows, cols = np.nonzero(ink)
        tight = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        np.testing.assert_array_equal(tight, box)


def test_later_digit_overwrites_where_they_overlap(train_maker):
    """Digits that are solid squares (ink = the whole frame = the box), allowed to overlap:
    the mask is the boxes painted in drawing order, each over the ones before."""
    squares = CanvasMaker.__new__(CanvasMaker)
    squares.__dict__.update(train_maker.__dict__)
    squares.digits = np.ones((10, 28, 28, 1), dtype=np.float32)
    squares.labels = np.arange(10)
    squares.min_digits = squares.max_digits = 6
    squares.min_size, squares.max_size, squares.max_overlap = 30, 48, 1.0
    canvases = squares.make(10, seed=9, masks=True)
    overlapping = 0
    for mask, boxes, classes in zip(canvases.masks, canvases.boxes, canvases.classes, strict=True):
        painted = np.zeros_like(mask)
        for (x1, y1, x2, y2), digit in zip(boxes.astype(int), classes, strict=True):
            painted[y1:y2, x1:x2] = 1 + digit
        np.testing.assert_array_equal(mask, painted)
        overlapping += int((iou(boxes, boxes) - np.eye(len(boxes))).max() > 0)
    assert overlapping >= 8


def test_rectangular_canvases():
    maker = CanvasMaker("test", size=(96, 128), max_digits=3, min_size=20, max_size=40)
    canvases = maker.make(12, seed=0, masks=True)
    assert maker.shape == (96, 128)
    assert canvases.images.shape == (12, 96, 128, 1) and canvases.masks.shape == (12, 96, 128)
    for boxes in canvases.boxes:
        assert (boxes[:, 2] <= 128).all() and (boxes[:, 3] <= 96).all()
    square = CanvasMaker("test", size=(64, 64), max_digits=3, min_size=20, max_size=40)
    np.testing.assert_array_equal(
        square.make(3, seed=1).images,
        CanvasMaker("test", size=64, max_digits=3, min_size=20, max_size=40).make(3, 1).images,
    )


@pytest.mark.parametrize(
    "size, match",
    [((96,), "pair"), ((96, 200), "wide"), ((32, 64), "min_size"), (64.5, "pair")],
)
def test_bad_canvas_sizes_are_named(size, match):
    with pytest.raises(ConfigError, match=match):
        CanvasMaker(size=size, max_size=40)
