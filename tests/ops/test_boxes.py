"""Boxes: IoU against pycocotools' ``mask.iou``, NMS against OpenCV's ``cv2.dnn.NMSBoxes``,
k-means anchors on boxes drawn around known shapes, and small cases worked out by hand."""

import warnings

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from nnlab.exceptions import ConfigError, InputValueError, ShapeError
from nnlab.ops.boxes import (
    area,
    iou,
    kmeans_anchors,
    mean_best_iou,
    nms,
    to_center,
    to_corners,
)


def random_corners(rng, n, size=100.0):
    """n corner boxes inside [0, size]^2, sides in [1, size / 2)."""
    xy = rng.uniform(0, size / 2, (n, 2))
    wh = rng.uniform(1, size / 2, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def xywh(corners):
    """(x1, y1, x2, y2) -> (x, y, w, h), the format of pycocotools and OpenCV."""
    return np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)


# --------------------------------------------------------------- formats
def test_formats_are_inverse_and_keep_leading_shape():
    rng = np.random.default_rng(0)
    centers = rng.uniform(1, 10, (3, 5, 4))
    corners = to_corners(centers)
    assert corners.shape == (3, 5, 4)
    np.testing.assert_allclose(to_center(corners), centers, rtol=1e-12)
    # center (5, 4), size (2, 6) -> corners (4, 1, 6, 7)
    np.testing.assert_array_equal(to_corners([5, 4, 2, 6]), [4.0, 1.0, 6.0, 7.0])
    np.testing.assert_array_equal(to_center([4, 1, 6, 7]), [5.0, 4.0, 2.0, 6.0])


def test_area():
    np.testing.assert_array_equal(area([[0, 0, 2, 3], [1, 1, 1, 5], [2, 2, 1, 1]]), [6, 0, 0])


def test_bad_shapes_and_names_are_named():
    with pytest.raises(ShapeError, match=r"boxes_a: expected shape \(n, 4\), got \(3, 3\)"):
        iou(np.zeros((3, 3)), np.zeros((2, 4)))
    with pytest.raises(ShapeError, match=r"boxes: expected shape \(\.\.\., 4\)"):
        to_corners(np.zeros((2, 5)))
    with pytest.raises(ConfigError, match="box_format"):
        iou(np.zeros((1, 4)), np.zeros((1, 4)), box_format="xywh")
    with pytest.raises(ConfigError, match="overlap"):
        iou(np.zeros((1, 4)), np.zeros((1, 4)), overlap="max")


# --------------------------------------------------------------- IoU
@pytest.mark.parametrize("box_format", ["corners", "center"])
@pytest.mark.parametrize("seed", range(5))
def test_iou_equals_pycocotools(box_format, seed):
    rng = np.random.default_rng(seed)
    a, b = random_corners(rng, 40), random_corners(rng, 25)
    # mask.iou(dt, gt, iscrowd): (len(dt), len(gt)) with [x, y, w, h] boxes
    expected = coco_mask.iou(xywh(a), xywh(b), [0] * len(b))
    if box_format == "center":
        a, b = to_center(a), to_center(b)
    got = iou(a, b, box_format=box_format)
    assert got.shape == (40, 25)
    assert (expected > 0).sum() > 100  # many overlapping pairs
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_iou_min_by_hand():
    a = np.array([[0, 0, 10, 10]])  # area 100
    b = np.array(
        [
            [5, 0, 15, 10],  # I = 50, areas 100 / 100: union 50/150, min 50/100
            [2, 2, 4, 4],  # inside: I = 4, area 4: union 4/100, min 4/4 = 1
            [8, 8, 20, 12],  # I = 2 x 2 = 4, area 48: union 4/144, min 4/48
            [10, 0, 12, 10],  # touches the edge: I = 0
        ]
    )
    np.testing.assert_allclose(iou(a, b, overlap="min"), [[0.5, 1.0, 4 / 48, 0.0]])
    np.testing.assert_allclose(iou(a, b), [[50 / 150, 4 / 100, 4 / 144, 0.0]])


def test_iou_degenerate_cases_have_no_nan():
    boxes = np.array(
        [
            [0, 0, 10, 10],
            [20, 20, 30, 30],  # disjoint from the first
            [5, 5, 5, 5],  # a point: area 0
            [3, 0, 3, 10],  # a segment inside the first: area 0
        ],
        dtype=np.float64,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any "invalid value" / "divide by zero" fails
        for overlap in ("union", "min"):
            m = iou(boxes, boxes, overlap=overlap)
            assert np.isfinite(m).all()
            np.testing.assert_array_equal(np.diag(m), [1, 1, 0, 0])  # identical: 1; zero-area: 0
            assert m[0, 1] == m[1, 0] == 0  # no overlap
            assert (m[2:, :] == 0).all() and (m[:, 2:] == 0).all()
    # empty sets give empty matrices
    assert iou(np.zeros((0, 4)), boxes).shape == (0, 4)


def test_iou_keeps_float32():
    a = np.array([[0, 0, 2, 2]], dtype=np.float32)
    assert iou(a, a).dtype == np.float32
    assert iou([[0, 0, 2, 2]], [[1, 1, 3, 3]]).dtype == np.float64  # ints -> float64
    np.testing.assert_allclose(iou([[0, 0, 2, 2]], [[1, 1, 3, 3]]), [[1 / 7]])


# --------------------------------------------------------------- NMS
def opencv_nms(boxes, scores, score_threshold, iou_threshold, top_k=0):
    cv2 = pytest.importorskip("cv2")  # a test-only reference (the "test" extra)
    kept = cv2.dnn.NMSBoxes(
        xywh(boxes).tolist(), scores.tolist(), score_threshold, iou_threshold, top_k=top_k
    )
    return np.asarray(kept, dtype=np.intp).reshape(-1)


@pytest.mark.parametrize("seed", range(40))
def test_nms_equals_opencv(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 120))
    boxes = random_corners(rng, n)
    # float32 scores, as OpenCV holds them, all different
    scores = rng.permutation(n).astype(np.float32) / n + np.float32(0.5 / n)
    iou_threshold = float(rng.choice([0.1, 0.3, 0.5, 0.7]))
    score_threshold = float(rng.choice([0.0, 0.25, 0.5]))
    expected = opencv_nms(boxes, scores, score_threshold, iou_threshold)
    got = nms(boxes, scores, iou_threshold, score_threshold=score_threshold)
    np.testing.assert_array_equal(got, expected)  # same boxes, same order
    # max_boxes is OpenCV's top_k-free limit on kept boxes: the first max_boxes kept
    np.testing.assert_array_equal(
        nms(boxes, scores, iou_threshold, max_boxes=3, score_threshold=score_threshold),
        expected[:3],
    )


def test_nms_threshold_is_strict_as_in_opencv():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5]], dtype=np.float64)  # IoU exactly 0.5
    scores = np.array([0.9, 0.8], dtype=np.float32)
    for threshold in (0.5, 0.49):
        np.testing.assert_array_equal(
            nms(boxes, scores, threshold), opencv_nms(boxes, scores, 0.0, threshold)
        )
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [0, 1])  # at the threshold: kept
    np.testing.assert_array_equal(nms(boxes, scores, 0.49), [0])
    # score threshold: strictly above
    far = np.array([[0, 0, 10, 10], [20, 0, 30, 5]], dtype=np.float64)
    np.testing.assert_array_equal(nms(far, scores, 0.5, score_threshold=0.8), [0])
    np.testing.assert_array_equal(opencv_nms(far, scores, 0.8, 0.5), [0])


def test_nms_ties_in_index_order_and_edge_cases():
    boxes = np.array([[0, 0, 1, 1], [5, 5, 6, 6], [0, 0, 1, 1]], dtype=np.float64)
    np.testing.assert_array_equal(nms(boxes, [0.5, 0.5, 0.5]), [0, 1])
    np.testing.assert_array_equal(nms(boxes, [0.1, 0.5, 0.9]), [2, 1])
    assert nms(np.zeros((0, 4)), np.zeros(0)).shape == (0,)
    assert nms(boxes, [0.5, 0.5, 0.5], max_boxes=0).shape == (0,)
    assert nms(boxes, [0.5, 0.5, 0.5]).dtype == np.intp
    with pytest.raises(ShapeError, match=r"scores: expected shape \(3,\)"):
        nms(boxes, [0.5, 0.5])
    with pytest.raises(InputValueError, match="NaN"):
        nms(boxes, [0.5, np.nan, 0.5])
    with pytest.raises(ShapeError, match="classes"):
        nms(boxes, [0.5, 0.5, 0.5], classes=[0, 1])


def test_nms_min_overlap():
    # a small box inside a big one: IoU 0.04 keeps both, intersection / min = 1 suppresses
    boxes = np.array([[0, 0, 10, 10], [2, 2, 4, 4]], dtype=np.float64)
    np.testing.assert_array_equal(nms(boxes, [0.9, 0.8], 0.5), [0, 1])
    np.testing.assert_array_equal(nms(boxes, [0.9, 0.8], 0.5, overlap="min"), [0])


@pytest.mark.parametrize("seed", range(20))
def test_per_class_nms_equals_nms_per_class_merged_by_score(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 150))
    boxes = random_corners(rng, n)
    scores = rng.permutation(n) / n + 0.5 / n
    classes = rng.integers(0, 4, n)
    merged = []
    for c in np.unique(classes):
        members = np.flatnonzero(classes == c)
        merged.extend(members[nms(boxes[members], scores[members], 0.4, score_threshold=0.2)])
    merged = np.array(merged, dtype=np.intp)
    merged = merged[np.argsort(-scores[merged], kind="stable")]
    got = nms(boxes, scores, 0.4, score_threshold=0.2, classes=classes)
    np.testing.assert_array_equal(got, merged)
    np.testing.assert_array_equal(
        nms(boxes, scores, 0.4, score_threshold=0.2, classes=classes, max_boxes=5), merged[:5]
    )
    # and OpenCV's per-class NMS (coordinate-offset trick) keeps the same set
    cv2 = pytest.importorskip("cv2")
    expected = cv2.dnn.NMSBoxesBatched(
        xywh(boxes).tolist(), scores.tolist(), classes.tolist(), 0.2, 0.4
    )
    assert set(np.asarray(expected).reshape(-1).tolist()) == set(got.tolist())


def test_per_class_nms_keeps_overlapping_boxes_of_different_classes():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 1, 10, 11]], dtype=np.float64)
    scores = np.array([0.9, 0.8, 0.7])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [0])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5, classes=[0, 1, 0]), [0, 1])


# --------------------------------------------------------------- anchors
SHAPES = np.array([[10.0, 12.0], [30.0, 15.0], [20.0, 60.0]])  # sorted by area: 120, 450, 1200


def boxes_around(rng, shapes, per_shape=200, spread=0.05):
    """Box shapes drawn around each of ``shapes``, +-5% multiplicative noise."""
    wh = np.repeat(shapes, per_shape, axis=0)
    return wh * rng.uniform(1 - spread, 1 + spread, wh.shape)


def test_kmeans_anchors_recover_known_shapes():
    rng = np.random.default_rng(0)
    wh = rng.permutation(boxes_around(rng, SHAPES))
    for seed in range(5):
        anchors = kmeans_anchors(wh, 3, seed=seed)
        assert anchors.shape == (3, 2)
        np.testing.assert_allclose(anchors, SHAPES, rtol=0.02)  # sorted by area, as SHAPES
        assert mean_best_iou(wh, anchors) > 0.9


def test_kmeans_anchors_beat_random_anchors_and_are_deterministic():
    rng = np.random.default_rng(1)
    wh = rng.uniform(5, 100, (500, 2))
    anchors = kmeans_anchors(wh, 5, seed=3)
    np.testing.assert_array_equal(anchors, kmeans_anchors(wh, 5, seed=3))
    area_order = anchors[:, 0] * anchors[:, 1]
    assert (np.diff(area_order) >= 0).all()
    good = mean_best_iou(wh, anchors)
    for _ in range(10):
        random_anchors = rng.uniform(5, 100, (5, 2))
        assert good > mean_best_iou(wh, random_anchors)
    # more anchors fit better (YOLOv2, figure 2)
    assert mean_best_iou(wh, kmeans_anchors(wh, 9, seed=3)) > good


def test_mean_best_iou_by_hand():
    # (2, 2) vs anchor (2, 1): I = 2, union 4 + 2 - 2 = 4 -> 0.5; (2, 1) matches exactly -> 1
    assert mean_best_iou([[2, 2], [2, 1]], [[2, 1]]) == pytest.approx(0.75)


def test_kmeans_anchors_errors():
    with pytest.raises(InputValueError, match="k: expected 1 <= k <= 2"):
        kmeans_anchors([[1, 1], [2, 2]], 3)
    with pytest.raises(ShapeError, match="wh"):
        kmeans_anchors(np.ones((4, 3)), 2)
    with pytest.raises(InputValueError, match="> 0"):
        kmeans_anchors([[1, 1], [0, 2]], 1)
