"""COCO mAP by pycocotools: perfect and empty predictions, a case worked out by hand, and
the standard pycocotools route (``loadRes`` of a results list) giving the same numbers."""

import contextlib
import io
import math

import numpy as np
import pytest

from nnlab.exceptions import InputValueError, ShapeError
from nnlab.ops.boxes import to_center
from nnlab.training.detection_metrics import coco_map


def random_scene(rng, n_images=6, n_classes=3):
    """Per-image ground truth and noisy, partly wrong detections (corners, pixels)."""
    tb, tc, pb, pc, ps = [], [], [], [], []
    for _ in range(n_images):
        g = int(rng.integers(0, 6))
        xy = rng.uniform(0, 400, (g, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(10, 120, (g, 2))], axis=1)
        classes = rng.integers(0, n_classes, g)
        keep = rng.random(g) < 0.8  # some objects missed
        jitter = rng.normal(0, 6, (g, 4))
        d = int(rng.integers(0, 4))  # and some false alarms
        xy_false = rng.uniform(0, 400, (d, 2))
        false = np.concatenate([xy_false, xy_false + rng.uniform(10, 80, (d, 2))], axis=1)
        det = np.concatenate([boxes[keep] + jitter[keep], false])
        det[:, 2:] = np.maximum(det[:, 2:], det[:, :2] + 1)
        tb.append(boxes)
        tc.append(classes)
        pb.append(det)
        pc.append(np.concatenate([classes[keep], rng.integers(0, n_classes, d)]))
        ps.append(rng.random(len(det)))
    return tb, tc, pb, pc, ps


def test_perfect_predictions_score_one():
    rng = np.random.default_rng(0)
    tb, tc, _, _, _ = random_scene(rng)
    scores = [np.linspace(1, 0.5, len(b)) for b in tb]
    result = coco_map(tb, tc, tb, tc, scores)
    assert result["map_50"] == pytest.approx(1.0)
    assert result["map_50_95"] == pytest.approx(1.0)
    assert result["map_75"] == pytest.approx(1.0)
    assert result["mar"] == pytest.approx(1.0)
    classes = sorted({int(c) for cs in tc for c in cs})
    assert list(result["per_class_ap_50"]) == classes
    assert all(v == pytest.approx(1.0) for v in result["per_class_ap_50"].values())


def test_hand_worked_case():
    # One image, class 0, two ground truths of area 100:
    #   g1 = (0, 0, 10, 10), g2 = (20, 20, 30, 30).
    # Three detections, best first:
    #   d1 = (0, 0, 10, 8.3)   score 0.9: IoU with g1 = 83 / 100 = 0.83
    #   d2 = (50, 50, 60, 60)  score 0.8: no overlap
    #   d3 = (20, 20, 30, 26.2) score 0.7: IoU with g2 = 62 / 100 = 0.62
    # At a threshold t <= 0.62 (t = .50, .55, .60): TP, FP, TP.
    #   precision 1, 1/2, 2/3; recall 1/2, 1/2, 1; made non-increasing: 1, 2/3, 2/3.
    #   The 101 recall levels: r = 0 .. 0.50 (51 levels) reach j = 1 (precision 1),
    #   r = 0.51 .. 1 (50 levels) reach j = 3 (2/3): AP = (51 + 50 * 2/3) / 101 = 253/303.
    # At 0.62 < t <= 0.83 (t = .65, .70, .75, .80): TP, FP, FP; recall stops at 1/2:
    #   AP = 51 / 101.
    # At t > 0.83 (t = .85, .90, .95): no TP, AP = 0.
    # mAP@[.5:.95] = (3 * 253/303 + 4 * 51/101) / 10 = (253 + 204) / 1010 = 457/1010.
    # AP@0.75 = 51/101.
    true_boxes = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]])]
    pred_boxes = [np.array([[0, 0, 10, 8.3], [50, 50, 60, 60], [20, 20, 30, 26.2]])]
    result = coco_map(true_boxes, [[0, 0]], pred_boxes, [[0, 0, 0]], [[0.9, 0.8, 0.7]])
    assert result["map_50"] == pytest.approx(253 / 303, abs=1e-9)
    assert result["map_75"] == pytest.approx(51 / 101, abs=1e-9)
    assert result["map_50_95"] == pytest.approx(457 / 1010, abs=1e-9)
    assert result["per_class_ap_50"] == {0: pytest.approx(253 / 303, abs=1e-9)}
    # the same in center format
    centered = coco_map(
        [to_center(true_boxes[0])],
        [[0, 0]],
        [to_center(pred_boxes[0])],
        [[0, 0, 0]],
        [[0.9, 0.8, 0.7]],
        box_format="center",
    )
    assert centered["map_50_95"] == pytest.approx(457 / 1010, abs=1e-9)


def test_classes_average_and_detections_of_other_classes_do_not_match():
    # class 0 found perfectly, class 1's object detected with the wrong class: AP 1 and 0
    true_boxes = [np.array([[0, 0, 10, 10]]), np.array([[5, 5, 25, 25]])]
    pred_boxes = [np.array([[0, 0, 10, 10]]), np.array([[5, 5, 25, 25]])]
    result = coco_map(true_boxes, [[0], [1]], pred_boxes, [[0], [2]], [[0.9], [0.9]])
    assert result["per_class_ap_50"] == {0: pytest.approx(1.0), 1: 0.0}  # class 2: no truth
    assert result["map_50"] == pytest.approx(0.5)


def test_empty_predictions_score_zero_and_no_truth_is_nan():
    true_boxes = [np.array([[0, 0, 10, 10]]), np.zeros((0, 4))]
    empty = [np.zeros((0, 4)), []]
    result = coco_map(true_boxes, [[3], []], empty, [[], []], [[], []])
    assert result["map_50"] == 0.0 and result["map_50_95"] == 0.0
    assert result["per_class_ap_50"] == {3: 0.0}
    nothing = coco_map([[]], [[]], [np.array([[0, 0, 1, 1]])], [[0]], [[0.5]])
    assert math.isnan(nothing["map_50"]) and nothing["per_class_ap_50"] == {}


def test_errors_are_clear():
    one = [np.array([[0, 0, 10, 10]])]
    with pytest.raises(ShapeError, match="true_boxes=1, true_classes=2"):
        coco_map(one, [[0], [0]], one, [[0]], [[0.5]])
    with pytest.raises(ShapeError, match=r"pred_scores\[0\]: expected shape \(1,\)"):
        coco_map(one, [[0]], one, [[0]], [[0.5, 0.4]])
    with pytest.raises(ShapeError, match=r"true_classes\[0\]"):
        coco_map(one, [[0, 1]], one, [[0]], [[0.5]])
    with pytest.raises(ShapeError, match=r"pred_boxes\[0\]: expected shape \(n, 4\)"):
        coco_map(one, [[0]], [np.zeros((1, 3))], [[0]], [[0.5]])
    with pytest.raises(InputValueError, match=r"x1 <= x2"):
        coco_map(one, [[0]], [np.array([[10, 0, 0, 10]])], [[0]], [[0.5]])
    with pytest.raises(InputValueError, match="integer class"):
        coco_map(one, [[0.5]], one, [[0]], [[0.5]])


def test_equals_the_standard_pycocotools_route():
    """The same numbers as writing the dataset out the usual way: a ground-truth COCO
    object and ``loadRes`` of a results list, then ``COCOeval.summarize``."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(5)
    tb, tc, pb, pc, ps = random_scene(rng, n_images=12)
    annotations, results = [], []
    for i in range(len(tb)):
        for box, c in zip(tb[i], tc[i], strict=True):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": int(c),
                    "bbox": [box[0], box[1], w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        for box, c, s in zip(pb[i], pc[i], ps[i], strict=True):
            results.append(
                {
                    "image_id": i + 1,
                    "category_id": int(c),
                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                    "score": float(s),
                }
            )
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {
            "images": [{"id": i + 1} for i in range(len(tb))],
            "categories": [{"id": c} for c in range(3)],
            "annotations": annotations,
        }
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    result = coco_map(tb, tc, pb, pc, ps)
    assert 0.2 < result["map_50"] < 0.95  # a non-trivial case
    assert result["map_50_95"] == pytest.approx(evaluation.stats[0], abs=1e-12)
    assert result["map_50"] == pytest.approx(evaluation.stats[1], abs=1e-12)
    assert result["map_75"] == pytest.approx(evaluation.stats[2], abs=1e-12)
    assert result["mar"] == pytest.approx(evaluation.stats[8], abs=1e-12)
    assert np.mean(list(result["per_class_ap_50_95"].values())) == pytest.approx(
        evaluation.stats[0], abs=1e-12
    )


def test_prints_nothing(capsys):
    one = [np.array([[0, 0, 10, 10]])]
    coco_map(one, [[0]], one, [[0]], [[0.5]])
    assert capsys.readouterr().out == ""
