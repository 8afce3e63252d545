"""The YOLO lab's post-processing on small tensors with known answers, and yolo_eval end to
end on a (19, 19, 5, ...) output with two planted objects."""

import numpy as np
import pytest

from nnlab.applications.yolo import (
    scale_boxes,
    yolo_boxes_to_corners,
    yolo_eval,
    yolo_filter_boxes,
    yolo_non_max_suppression,
)
from nnlab.exceptions import ShapeError


def test_filter_boxes_keeps_best_class_scores_at_or_above_threshold():
    # a 1 x 2 grid with 2 anchors: 4 boxes, 3 classes
    confidence = np.array([[[[0.5], [1.0]], [[0.9], [0.2]]]])  # (1, 2, 2, 1)
    probs = np.array(
        [
            [
                [[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]],  # scores .1 .35 .05 -> 0.35 (class 1)
                [[0.1, 0.1, 0.8], [0.1, 0.1, 0.8]],  # .72 (class 2) | .6 * .2 = .16 (dropped)
            ]
        ]
    )  # second box: scores .6 .3 .1 -> 0.6 (class 0), exactly the threshold: kept (>=)
    boxes = np.arange(16, dtype=np.float64).reshape(1, 2, 2, 4)
    scores, kept_boxes, classes = yolo_filter_boxes(confidence, boxes, probs, threshold=0.6)
    np.testing.assert_allclose(scores, [0.6, 0.72])
    np.testing.assert_array_equal(kept_boxes, [[4, 5, 6, 7], [8, 9, 10, 11]])
    np.testing.assert_array_equal(classes, [0, 2])
    # lower threshold: all but the last, in row-major order
    scores, _, classes = yolo_filter_boxes(confidence, boxes, probs, threshold=0.3)
    np.testing.assert_allclose(scores, [0.35, 0.6, 0.72])
    np.testing.assert_array_equal(classes, [1, 0, 2])
    with pytest.raises(ShapeError, match="boxes"):
        yolo_filter_boxes(confidence, boxes[..., :3], probs)


def test_boxes_to_corners_in_the_labs_y_x_order():
    # center (x, y) = (0.5, 0.25), size (w, h) = (0.2, 0.1)
    corners = yolo_boxes_to_corners([[0.5, 0.25]], [[0.2, 0.1]])
    np.testing.assert_allclose(corners, [[0.2, 0.4, 0.3, 0.6]])  # (y1, x1, y2, x2)
    assert yolo_boxes_to_corners(np.zeros((19, 19, 5, 2)), np.ones((19, 19, 5, 2))).shape == (
        19,
        19,
        5,
        4,
    )


def test_scale_boxes_to_the_image():
    boxes = np.array([[0.1, 0.2, 0.5, 1.0]])  # (y1, x1, y2, x2)
    np.testing.assert_allclose(scale_boxes(boxes, (720.0, 1280.0)), [[72, 256, 360, 1280]])
    with pytest.raises(ShapeError, match="image_shape"):
        scale_boxes(boxes, (720.0, 1280.0, 3))


def test_non_max_suppression_is_per_class():
    boxes = np.array(
        [
            [0, 0, 10, 10],  # class 0, best
            [0, 1, 10, 11],  # class 0, IoU 90/110 with the first: suppressed
            [1, 0, 11, 10],  # class 1, the same place: kept (another class)
            [50, 50, 60, 60],  # class 0 elsewhere: kept
        ],
        dtype=np.float64,
    )
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    classes = np.array([0, 0, 1, 0])
    s, b, c = yolo_non_max_suppression(scores, boxes, classes, max_boxes=10, iou_threshold=0.5)
    np.testing.assert_allclose(s, [0.9, 0.7, 0.6])
    np.testing.assert_array_equal(b, boxes[[0, 2, 3]])
    np.testing.assert_array_equal(c, [0, 1, 0])
    s, _, _ = yolo_non_max_suppression(scores, boxes, classes, max_boxes=2)
    np.testing.assert_allclose(s, [0.9, 0.7])


def planted_outputs():
    """A (19, 19, 5, ...) YOLO output: background everywhere, a car (class 2) and a person
    (class 0), each with a weaker duplicate, and a weak truck below the threshold."""
    rng = np.random.default_rng(0)
    box_xy = rng.uniform(0, 1, (19, 19, 5, 2))
    box_wh = rng.uniform(0.05, 0.3, (19, 19, 5, 2))
    box_confidence = rng.uniform(0, 0.3, (19, 19, 5, 1))  # scores <= 0.3 < 0.6
    box_class_probs = rng.dirichlet(np.ones(80), (19, 19, 5))

    def plant(cell, anchor, xy, wh, confidence, cls, prob):
        box_xy[cell][anchor] = xy
        box_wh[cell][anchor] = wh
        box_confidence[cell][anchor] = confidence
        box_class_probs[cell][anchor] = (1 - prob) / 79
        box_class_probs[cell][anchor][cls] = prob

    # car: center (0.5, 0.25), size (0.2, 0.1): score 0.9 * 0.95 = 0.855
    plant((9, 4), 1, (0.5, 0.25), (0.2, 0.1), 0.9, 2, 0.95)
    # its duplicate, slightly shifted, another anchor: 0.8 * 0.9 = 0.72, IoU > 0.5
    plant((9, 4), 3, (0.51, 0.25), (0.2, 0.1), 0.8, 2, 0.9)
    # person: center (0.25, 0.7), size (0.05, 0.2): 0.8 * 0.9 = 0.72
    plant((13, 5), 0, (0.25, 0.7), (0.05, 0.2), 0.8, 0, 0.9)
    # its duplicate in the next cell: 0.7 * 0.9 = 0.63
    plant((14, 5), 2, (0.25, 0.71), (0.05, 0.2), 0.7, 0, 0.9)
    # a truck (class 7) below the threshold: 0.7 * 0.8 = 0.56
    plant((2, 2), 4, (0.1, 0.1), (0.1, 0.1), 0.7, 7, 0.8)
    return box_xy, box_wh, box_confidence, box_class_probs


def test_yolo_eval_finds_exactly_the_planted_objects():
    scores, boxes, classes = yolo_eval(planted_outputs())
    np.testing.assert_allclose(scores, [0.855, 0.72])
    np.testing.assert_array_equal(classes, [2, 0])
    # car: y 0.25 -+ 0.05, x 0.5 -+ 0.1 of (720, 1280): (144, 512, 216, 768)
    # person: y 0.7 -+ 0.1, x 0.25 -+ 0.025: (432, 288, 576, 352)
    np.testing.assert_allclose(boxes, [[144, 512, 216, 768], [432, 288, 576, 352]], atol=1e-9)
    # the lab's batch axis of 1 gives the same
    batched = yolo_eval([a[None] for a in planted_outputs()])
    for got, want in zip(batched, (scores, boxes, classes), strict=True):
        np.testing.assert_array_equal(got, want)
    # max_boxes=1 keeps the car; a lower threshold lets the truck in (it overlaps nothing)
    _, _, classes = yolo_eval(planted_outputs(), max_boxes=1)
    np.testing.assert_array_equal(classes, [2])
    scores, _, classes = yolo_eval(planted_outputs(), score_threshold=0.5)
    np.testing.assert_allclose(scores, [0.855, 0.72, 0.56])
    np.testing.assert_array_equal(classes, [2, 0, 7])


def test_yolo_eval_wrong_number_of_outputs():
    with pytest.raises(ShapeError, match="yolo_outputs"):
        yolo_eval(planted_outputs()[:3])
