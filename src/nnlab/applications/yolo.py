"""YOLO (Course 4, week 3: "Car detection with YOLO").

Post-processing
---------------
The lab's YOLOv2 sees a 608 x 608 image as a 19 x 19 grid, with 5 anchor boxes per cell and
80 classes.  After ``yolo_head`` the network's output is four arrays (one image; a leading
batch axis of 1, as the lab's, is flattened away like every other leading axis)::

    box_xy           (19, 19, 5, 2)   box centers (x, y), fractions of the image
    box_wh           (19, 19, 5, 2)   box widths and heights, fractions of the image
    box_confidence   (19, 19, 5, 1)   p_c: the probability that the box holds an object
    box_class_probs  (19, 19, 5, 80)  c_1 .. c_80: the class probabilities given an object

and :func:`yolo_eval` turns them into at most ``max_boxes`` detections, as the lab does:

    1. corners:  (x, y, w, h) -> (y1, x1, y2, x2)                  :func:`yolo_boxes_to_corners`
    2. scores:   score_k = p_c c_k; keep each box's best class if its score >= threshold
                                                                   :func:`yolo_filter_boxes`
    3. pixels:   (y1, x1, y2, x2) * (height, width, height, width) :func:`scale_boxes`
    4. non-max suppression within each class, best scores first   :func:`yolo_non_max_suppression`

The lab orders corners (y1, x1, y2, x2) (TensorFlow's ``tf.image`` order) and so does this
module; ``nnlab.ops.boxes`` and ``nnlab.training.detection_metrics`` use (x1, y1, x2, y2),
so swap the columns (``boxes[:, [1, 0, 3, 2]]``) before scoring with ``coco_map``.
Suppression is ``nnlab.ops.boxes.nms``: a box goes when its IoU with a kept box of its class
is > ``iou_threshold``.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import InputValueError, ShapeError
from ..ops.boxes import nms

# =============================================================== post-processing (the lab)


def yolo_filter_boxes(box_confidence, boxes, box_class_probs, threshold: float = 0.6):
    """Keep the boxes whose best class score p_c c_k is >= ``threshold``.

    Parameters
    ----------
    box_confidence : array_like, shape (..., 1)
        p_c of each box; the lab's (19, 19, 5, 1).
    boxes : array_like, shape (..., 4)
        The boxes (any 4 numbers, passed through); the lab's (19, 19, 5, 4).
    box_class_probs : array_like, shape (..., C)
        c_1 .. c_C of each box; the lab's (19, 19, 5, 80).
    threshold : float
        Keep a box when its best score is >= this (the lab's ``>=``).

    Returns
    -------
    scores : ndarray, shape (n,)
        max_k p_c c_k of each kept box.
    boxes : ndarray, shape (n, 4)
    classes : ndarray of intp, shape (n,)
        argmax_k p_c c_k (the first class on ties).

    The kept boxes come in the row-major order of the leading axes (cell row, cell column,
    anchor), as ``tf.boolean_mask`` gives them.
    """
    confidence = np.asarray(box_confidence)
    boxes = np.asarray(boxes)
    probs = np.asarray(box_class_probs)
    lead = confidence.shape[:-1]
    if confidence.ndim == 0 or confidence.shape[-1] != 1:
        raise ShapeError(f"box_confidence: expected shape (..., 1), got {confidence.shape}")
    if boxes.shape != (*lead, 4):
        raise ShapeError(f"boxes: expected shape {(*lead, 4)}, got {boxes.shape}")
    if probs.ndim != confidence.ndim or probs.shape[:-1] != lead:
        raise ShapeError(f"box_class_probs: expected shape {(*lead, 'C')}, got {probs.shape}")
    box_scores = confidence * probs  # (..., C)
    box_classes = box_scores.argmax(axis=-1)  # (...)
    box_class_scores = np.take_along_axis(box_scores, box_classes[..., None], axis=-1)[..., 0]
    mask = box_class_scores >= threshold  # (...)
    return box_class_scores[mask], boxes[mask], box_classes[mask]


def yolo_boxes_to_corners(box_xy, box_wh):
    """Centers (x, y) and sizes (w, h), each (..., 2), -> corners (..., 4) in the lab's
    order (y1, x1, y2, x2) = (y - h/2, x - w/2, y + h/2, x + w/2)."""
    xy = np.asarray(box_xy)
    wh = np.asarray(box_wh)
    if xy.ndim == 0 or xy.shape[-1] != 2 or wh.shape != xy.shape:
        raise ShapeError(
            f"box_xy, box_wh: expected two arrays of one shape (..., 2), got {xy.shape} and "
            f"{wh.shape}"
        )
    mins = xy - wh / 2.0
    maxes = xy + wh / 2.0
    return np.stack([mins[..., 1], mins[..., 0], maxes[..., 1], maxes[..., 0]], axis=-1)


def scale_boxes(boxes, image_shape):
    """Boxes (..., 4) in fractions of the image, (y1, x1, y2, x2), -> pixels: times
    (height, width, height, width), where ``image_shape`` = (height, width)."""
    shape = np.asarray(image_shape, dtype=np.float64)
    if shape.shape != (2,):
        raise ShapeError(f"image_shape: expected (height, width), got shape {shape.shape}")
    height, width = shape
    return np.asarray(boxes) * np.array([height, width, height, width])


def yolo_non_max_suppression(scores, boxes, classes, max_boxes: int = 10, iou_threshold=0.5):
    """Per-class non-max suppression, then the ``max_boxes`` best scores of all classes.

    Parameters
    ----------
    scores : array_like, shape (n,)
    boxes : array_like, shape (n, 4)
        (y1, x1, y2, x2) as the lab has them (IoU does not depend on the order of x and y).
    classes : array_like of int, shape (n,)
    max_boxes : int
        At most this many boxes in all.
    iou_threshold : float
        A box is suppressed by a kept box of its class whose IoU with it is > this.

    Returns
    -------
    scores (k,), boxes (k, 4), classes (k,) of the kept boxes, best score first
        (k <= max_boxes).  Boxes of different classes never suppress each other: a car and
        a person in the same place are both kept.
    """
    scores = np.asarray(scores)
    boxes = np.asarray(boxes)
    classes = np.asarray(classes)
    if max_boxes < 0:
        raise InputValueError(f"max_boxes: expected an int >= 0, got {max_boxes}")
    kept = nms(boxes, scores, iou_threshold, max_boxes=max_boxes, classes=classes)
    return scores[kept], boxes[kept], classes[kept]


def yolo_eval(
    yolo_outputs,
    image_shape=(720.0, 1280.0),
    max_boxes: int = 10,
    score_threshold: float = 0.6,
    iou_threshold: float = 0.5,
):
    """The lab's detections of one image from YOLO's outputs.

    Parameters
    ----------
    yolo_outputs : tuple of 4 array_like
        ``(box_xy, box_wh, box_confidence, box_class_probs)`` of shapes (19, 19, 5, 2),
        (19, 19, 5, 2), (19, 19, 5, 1) and (19, 19, 5, 80) (any grid, anchors, classes;
        leading axes are flattened together, so pass one image at a time).
    image_shape : (height, width)
        The image's size in pixels; (720., 1280.) as the lab's road pictures.
    max_boxes, score_threshold, iou_threshold
        As :func:`yolo_non_max_suppression` and :func:`yolo_filter_boxes` (threshold).

    Returns
    -------
    scores : ndarray, shape (k,)
    boxes : ndarray, shape (k, 4)
        (y1, x1, y2, x2) in pixels.
    classes : ndarray of intp, shape (k,)
        Best score first, k <= ``max_boxes``.
    """
    if len(yolo_outputs) != 4:
        raise ShapeError(
            "yolo_outputs: expected (box_xy, box_wh, box_confidence, box_class_probs), got "
            f"{len(yolo_outputs)} arrays"
        )
    box_xy, box_wh, box_confidence, box_class_probs = yolo_outputs
    boxes = yolo_boxes_to_corners(box_xy, box_wh)
    scores, boxes, classes = yolo_filter_boxes(
        box_confidence, boxes, box_class_probs, threshold=score_threshold
    )
    boxes = scale_boxes(boxes, image_shape)
    return yolo_non_max_suppression(scores, boxes, classes, max_boxes, iou_threshold)
