"""The YOLO detector's targets, loss and decoding (nnlab.applications.yolo, issue 14)."""

import numpy as np
import pytest

from nnlab.applications.yolo import (
    YoloLoss,
    best_anchors,
    detect,
    encode_targets,
    yolo_detector,
    yolo_head,
)
from nnlab.exceptions import ConfigError, ShapeError

ANCHORS = np.array([[12.0, 16.0], [20.0, 28.0], [32.0, 40.0]])
BOXES = [np.array([[10, 10, 30, 40], [50, 60, 70, 90.0]]), np.array([[5, 5, 20, 25.0]])]
CLASSES = [np.array([3, 7]), np.array([1])]


def logits_of(targets):
    """Raw outputs (m, S, S, A (5 + C)) that decode exactly to the targets' boxes, with
    objectness and class logits +-20 where responsible."""
    m, rows, cols, a, _ = targets.shape
    p = np.full((m, rows, cols, a, 15), -20.0)
    xy = np.clip(targets[..., 1:3], 1e-7, 1 - 1e-7)
    p[..., 0:2] = np.log(xy / (1 - xy))
    p[..., 2:4] = targets[..., 3:5]
    responsible = targets[..., 0] > 0
    p[..., 4] = np.where(responsible, 20.0, -20.0)
    labels = targets[..., 5].astype(int)
    np.put_along_axis(
        p[..., 5:], labels[..., None], np.where(responsible, 20.0, -20.0)[..., None], -1
    )
    return p.reshape(m, rows, cols, -1)


def test_targets_hand_computed():
    y = encode_targets(BOXES, CLASSES, ANCHORS, grid=(4, 4), stride=32)
    assert y.shape == (2, 4, 4, 3, 6)
    assert y[..., 0].sum() == 3
    # box 1 of image 0: center (20, 25) -> cell (0, 0), offsets (0.625, 0.78125); shape
    # 20 x 30 fits anchor 1 (20 x 28) best: t_w* = log(20/20) = 0, t_h* = log(30/28)
    np.testing.assert_allclose(y[0, 0, 0, 1], [1, 0.625, 0.78125, 0, np.log(30 / 28), 3], 1e-6)
    # box 2: center (60, 75) -> column 1, row 2
    np.testing.assert_allclose(y[0, 2, 1, 1], [1, 0.875, 0.34375, 0, np.log(30 / 28), 7], 1e-6)
    # image 1: 15 x 20 -> anchor 0 (12 x 16): log(15/12) both ways
    np.testing.assert_allclose(y[1, 0, 0, 0, 3:5], [np.log(15 / 12), np.log(20 / 16)], 1e-6)


def test_best_anchor_is_the_best_shape_iou():
    assert best_anchors(np.array([[11.0, 15.0], [30.0, 45.0], [21.0, 27.0]]), ANCHORS).tolist() == [
        0,
        2,
        1,
    ]


def test_head_decodes_the_targets_back_into_the_boxes():
    y = encode_targets(BOXES, CLASSES, ANCHORS, grid=(4, 4), stride=32)
    box_xy, box_wh, confidence, probs = yolo_head(logits_of(y), ANCHORS, 32, 10)
    where = y[..., 0] > 0
    centers = box_xy[where] * 128
    sizes = box_wh[where] * 128
    found = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)
    expected = np.array([[10, 10, 30, 40], [50, 60, 70, 90], [5, 5, 20, 25.0]])
    np.testing.assert_allclose(found, expected, atol=1e-3)
    assert (confidence[where] > 0.999).all() and (confidence[~where] < 1e-6).all()
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-6)
    assert probs[where].argmax(-1).tolist() == [3, 7, 1]


def test_loss_gradient_equals_finite_differences():
    y = encode_targets(BOXES, CLASSES, ANCHORS, grid=(4, 4), stride=32).astype(np.float64)
    a = np.random.default_rng(0).standard_normal((2, 4, 4, 45))
    loss = YoloLoss(ANCHORS, stride=32, n_classes=10)
    _, grad = loss.value_and_grad(y, a)
    numeric = np.zeros_like(a)
    for index in np.ndindex(a.shape):
        up, down = a.copy(), a.copy()
        up[index] += 1e-6
        down[index] -= 1e-6
        numeric[index] = (loss.value_and_grad(y, up)[0] - loss.value_and_grad(y, down)[0]) / 2e-6
    np.testing.assert_allclose(grad, numeric, atol=1e-7)


def test_loss_is_small_at_the_answer_and_ignores_good_duplicates():
    y = encode_targets(BOXES, CLASSES, ANCHORS, grid=(4, 4), stride=32).astype(np.float64)
    perfect = logits_of(y)
    loss = YoloLoss(ANCHORS, stride=32, n_classes=10)
    value, _ = loss.value_and_grad(y, perfect)
    assert value < 1e-5
    # another anchor of a responsible cell predicting the same box with objectness: its
    # IoU with the true box is > 0.5, so it is ignored (no objectness loss)
    duplicate = perfect.reshape(2, 4, 4, 3, 15).copy()
    duplicate[0, 0, 0, 0] = duplicate[0, 0, 0, 1]
    duplicate[0, 0, 0, 0, 2:4] += np.log(np.array([20 / 12, 28 / 16]))  # same size
    assert loss.value_and_grad(y, duplicate.reshape(perfect.shape))[0] < 1e-5
    assert (
        YoloLoss(ANCHORS, 32, 10, ignore_threshold=1.0).value_and_grad(
            y, duplicate.reshape(perfect.shape)
        )[0]
        > 10
    )


def test_detect_returns_the_planted_boxes_in_corner_order():
    y = encode_targets(BOXES, CLASSES, ANCHORS, grid=(16, 16), stride=8)

    class Planted:
        def predict(self, images, batch_size):
            return logits_of(y)

    found = detect(Planted(), np.zeros((2, 128, 128, 1)), ANCHORS, stride=8)
    boxes, scores, classes = found[0]
    order = np.argsort(classes)
    np.testing.assert_allclose(boxes[order], BOXES[0], atol=1e-3)
    assert classes[order].tolist() == [3, 7] and (scores > 0.99).all()
    assert found[1][2].tolist() == [1]


def test_detector_output_shape_and_objectness_prior():
    model = yolo_detector(n_classes=10, n_anchors=3, input_shape=(64, 64, 1), width=4, seed=0)
    out = model.predict(np.random.default_rng(0).random((2, 64, 64, 1)).astype(np.float32))
    assert out.shape == (2, 8, 8, 45)
    confidence = yolo_head(out, ANCHORS, 8, 10)[2]
    assert 0.001 < np.median(confidence) < 0.1  # p_o starts near 0.01


def test_bad_targets_and_anchors_are_named():
    loss = YoloLoss(ANCHORS, stride=8, n_classes=10)
    with pytest.raises(ShapeError, match="encode_targets"):
        loss.prepare(np.zeros((2, 16, 16, 2, 6)), (16, 16, 45))
    with pytest.raises(ConfigError, match="anchors must be positive"):
        YoloLoss([[10, -1]])
    with pytest.raises(ShapeError, match="channels per cell"):
        yolo_head(np.zeros((1, 4, 4, 40)), ANCHORS, 8, 10)


def test_the_shipped_detector_reaches_its_published_map():
    """examples/detect/run (``nnlab detect train``, defaults): mAP@0.5 >= 0.90 on 1,000
    held-out canvases (MNIST test digits over the pictures' held-out columns), the number
    its metrics.json and the README publish."""
    import json
    from pathlib import Path

    from nnlab.cli.detect import TEST_SEED, evaluate_detector, load_detector
    from nnlab.data.detection import CanvasMaker

    run = Path(__file__).parents[2] / "examples" / "detect" / "run"
    model, detector = load_detector(str(run))
    scores = evaluate_detector(model, detector, CanvasMaker("test").make(1000, seed=TEST_SEED))
    published = json.loads((run / "metrics.json").read_text())["test"]
    assert scores["map_50"] >= 0.90
    assert scores["map_50"] == pytest.approx(published["map_50"], abs=2e-3)
    assert scores["map_50_95"] == pytest.approx(published["map_50_95"], abs=2e-3)
