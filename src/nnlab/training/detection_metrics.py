"""Object-detection metrics: COCO mean average precision, computed by pycocotools.

nnlab never hand-writes AP: :func:`coco_map` builds the COCO ground-truth and detection
structures in memory (no files), runs pycocotools' ``COCOeval`` (``iouType="bbox"``) with
its prints silenced, and returns its numbers.  What ``COCOeval`` computes, for each class c
and IoU threshold t::

    detections of class c in each image, best score first (the top ``max_detections``)
    -> each matched to the unmatched ground truth of class c with the highest IoU >= t
       (a true positive), or to none (a false positive)
    -> over all images, by descending score: precision_j = TP_j / j, recall_j = TP_j / G_c
       (G_c ground truths of class c)
    -> precision made non-increasing (p_j <- max over j' >= j of p_j')
    -> AP(c, t) = mean over the 101 recall levels r = 0, 0.01, ..., 1 of the precision at
       the first j with recall_j >= r (0 where recall never reaches r)

    mAP@0.5       = mean over classes of AP(c, 0.5)                      ("map_50")
    mAP@[.5:.95]  = mean over classes and t = 0.5, 0.55, ..., 0.95       ("map_50_95")

Classes with no ground truth in any image are left out of the means (COCO's -1); with no
ground truth at all every figure is NaN.  A class that has ground truth but no detections
has AP 0, and an empty set of predictions scores 0.  The IoU is pycocotools' (continuous
coordinates, width = x2 - x1), the same as ``nnlab.ops.boxes.iou``.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from ..exceptions import InputValueError, ShapeError, unknown_name
from ..ops.boxes import BOX_FORMATS, to_corners


def coco_map(
    true_boxes,
    true_classes,
    pred_boxes,
    pred_classes,
    pred_scores,
    *,
    box_format: str = "corners",
    max_detections: int = 100,
) -> dict:
    """COCO box mAP of a set of images, by pycocotools' ``COCOeval``.

    Parameters
    ----------
    true_boxes : sequence of array_like, one (g_i, 4) per image
        Ground-truth boxes of image i, (x1, y1, x2, y2) in pixels (``box_format="corners"``)
        or (x_c, y_c, w, h) (``"center"``); (0, 4) or ``[]`` for an image without objects.
    true_classes : sequence of array_like of int, one (g_i,) per image
    pred_boxes : sequence of array_like, one (d_i, 4) per image
        Detections, in the format of ``true_boxes``.
    pred_classes : sequence of array_like of int, one (d_i,) per image
    pred_scores : sequence of array_like of float, one (d_i,) per image
        Confidence of each detection (only its order within a class matters).
    box_format : {"corners", "center"}
    max_detections : int
        COCO's maxDets: at most this many detections per image and class, the best scored.

    Returns
    -------
    dict
        ``map_50_95`` (COCO's AP), ``map_50``, ``map_75`` (AP at IoU 0.5 and 0.75),
        ``mar`` (average recall at ``max_detections``), all floats in [0, 1] (NaN without
        ground truth); ``per_class_ap_50`` and ``per_class_ap_50_95``: ``{class: AP}`` for
        every class with ground truth, in class order.

    Raises
    ------
    ShapeError
        Lists of different lengths, or an image whose arrays have the wrong shapes.
    InputValueError
        Non-finite or inverted boxes (x2 < x1 or y2 < y1), non-finite scores, non-integer
        classes, or ``max_detections`` < 1.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if box_format not in BOX_FORMATS:
        raise unknown_name("box_format", box_format, BOX_FORMATS)
    if int(max_detections) < 1:
        raise InputValueError(f"max_detections: expected an int >= 1, got {max_detections}")
    lists = {
        "true_boxes": true_boxes,
        "true_classes": true_classes,
        "pred_boxes": pred_boxes,
        "pred_classes": pred_classes,
        "pred_scores": pred_scores,
    }
    lengths = {name: len(value) for name, value in lists.items()}
    if len(set(lengths.values())) != 1:
        raise ShapeError(
            "coco_map: expected one entry per image in every list, got lengths "
            + ", ".join(f"{name}={n}" for name, n in lengths.items())
        )

    truths, detections, classes = [], [], set()
    for i in range(lengths["true_boxes"]):
        t_boxes, t_classes = _image_boxes(true_boxes[i], true_classes[i], "true", i, box_format)
        p_boxes, p_classes = _image_boxes(pred_boxes[i], pred_classes[i], "pred", i, box_format)
        scores = np.asarray(pred_scores[i], dtype=np.float64).reshape(-1)
        if scores.shape != (len(p_boxes),):
            raise ShapeError(
                f"pred_scores[{i}]: expected shape ({len(p_boxes)},) for {len(p_boxes)} "
                f"boxes, got {scores.shape}"
            )
        if not np.isfinite(scores).all():
            raise InputValueError(f"pred_scores[{i}]: scores must be finite")
        truths += _annotations(i + 1, t_boxes, t_classes, len(truths))
        detections += _annotations(i + 1, p_boxes, p_classes, len(detections), scores)
        classes.update(t_classes.tolist(), p_classes.tolist())

    images = [{"id": i + 1} for i in range(lengths["true_boxes"])]
    categories = [{"id": c, "name": str(c)} for c in sorted(classes)]
    with contextlib.redirect_stdout(io.StringIO()):  # COCO and COCOeval print progress
        coco_true = _coco(COCO, images, categories, truths)
        coco_pred = _coco(COCO, images, categories, detections)
        evaluation = COCOeval(coco_true, coco_pred, iouType="bbox")
        evaluation.params.maxDets = [1, 10, int(max_detections)]
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()

    stats = evaluation.stats
    # precision[T, R, K, A, M]: IoU thresholds, recall levels, classes, area ranges ("all"
    # first), maxDets (ours last); -1 where a class has no ground truth
    precision = evaluation.eval["precision"][:, :, :, 0, -1]
    at_50 = int(np.flatnonzero(np.isclose(evaluation.params.iouThrs, 0.5))[0])
    per_class_50, per_class_50_95 = {}, {}
    for k, c in enumerate(evaluation.params.catIds):
        ap_50, ap_50_95 = _mean_defined(precision[at_50, :, k]), _mean_defined(precision[:, :, k])
        if not np.isnan(ap_50_95):
            per_class_50[int(c)] = ap_50
            per_class_50_95[int(c)] = ap_50_95
    return {
        "map_50_95": _defined(stats[0]),
        "map_50": _defined(stats[1]),
        "map_75": _defined(stats[2]),
        "mar": _defined(stats[8]),
        "per_class_ap_50": per_class_50,
        "per_class_ap_50_95": per_class_50_95,
    }


def _image_boxes(boxes, classes, kind: str, i: int, box_format: str):
    """One image's boxes as float64 corners (n, 4) and its classes as int (n,)."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        b = b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ShapeError(f"{kind}_boxes[{i}]: expected shape (n, 4), got {b.shape}")
    if box_format == "center":
        b = to_corners(b)
    if not np.isfinite(b).all():
        raise InputValueError(f"{kind}_boxes[{i}]: boxes must be finite")
    if (b[:, 2:] < b[:, :2]).any():
        raise InputValueError(
            f"{kind}_boxes[{i}]: corner boxes need x1 <= x2 and y1 <= y2 "
            "((x1, y1, x2, y2), not the YOLO lab's (y1, x1, y2, x2) swapped or (x, y, w, h))"
        )
    c = np.asarray(classes).reshape(-1)
    if c.shape != (len(b),):
        raise ShapeError(
            f"{kind}_classes[{i}]: expected shape ({len(b)},) for {len(b)} boxes, got {c.shape}"
        )
    if c.size and not (np.issubdtype(c.dtype, np.integer) or np.array_equal(c, np.round(c))):
        raise InputValueError(f"{kind}_classes[{i}]: expected integer class ids, got {c.dtype}")
    return b, c.astype(np.int64)


def _annotations(image_id: int, boxes, classes, first: int, scores=None) -> list[dict]:
    """COCO annotations ([x, y, w, h] boxes) of one image; ids count from ``first + 1``
    (pycocotools reads an id of 0 as "unmatched")."""
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    areas = (xywh[:, 2] * xywh[:, 3]).tolist()
    out = [
        {
            "id": first + j + 1,
            "image_id": image_id,
            "category_id": c,
            "bbox": box,
            "area": a,
            "iscrowd": 0,
        }
        for j, (c, box, a) in enumerate(zip(classes.tolist(), xywh.tolist(), areas, strict=True))
    ]
    if scores is not None:
        for annotation, score in zip(out, scores.tolist(), strict=True):
            annotation["score"] = score
    return out


def _coco(coco_class, images, categories, annotations):
    """A pycocotools COCO object from in-memory lists (what ``COCO(file)`` would load)."""
    coco = coco_class()
    coco.dataset = {"images": images, "categories": categories, "annotations": annotations}
    coco.createIndex()
    return coco


def _mean_defined(precision) -> float:
    """Mean of COCO's precision entries that are defined (> -1), NaN if none is."""
    defined = precision[precision > -1]
    return float(defined.mean()) if defined.size else float("nan")


def _defined(value) -> float:
    """COCO's -1 ("no ground truth") as NaN."""
    return float("nan") if value == -1 else float(value)
