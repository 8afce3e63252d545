"""TEMPORARY STAND-IN, branch ``mtcnn`` only: the real ``nnlab.ops.boxes`` is being written
on branch ``boxes``, and the merge takes that version in place of this file.

Only the two functions MTCNN calls, with exactly that branch's signatures and rules: corner
boxes (x1, y1, x2, y2) in continuous coordinates (width x2 - x1, no "+ 1"); ``nms`` is
greedy (a box is suppressed when its overlap with a kept, higher-scoring box of the same
class is > iou_threshold; equal scores in index order) and returns the kept indices, best
score first.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError


def iou(boxes_a, boxes_b, box_format: str = "corners", overlap: str = "union") -> np.ndarray:
    """(n, k) overlaps of corner boxes (n, 4) and (k, 4): I / union or I / min area."""
    if box_format != "corners" or overlap not in ("union", "min"):
        raise ConfigError(f"iou: stand-in supports corners and union/min, got {box_format!r}")
    a, b = np.asarray(boxes_a), np.asarray(boxes_b)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    side = np.clip(hi - lo, 0, None)
    inter = side[..., 0] * side[..., 1]  # (n, k)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=-1)[:, None]
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=-1)[None, :]
    if overlap == "union":
        denominator = area_a + area_b - inter
    else:
        denominator = np.minimum(area_a, area_b)
    out = np.zeros(inter.shape, dtype=inter.dtype)
    np.divide(inter, denominator, out=out, where=inter > 0)
    return out


def nms(
    boxes,
    scores,
    iou_threshold: float = 0.5,
    max_boxes: int | None = None,
    score_threshold: float | None = None,
    classes=None,
    overlap: str = "union",
) -> np.ndarray:
    """Greedy non-max suppression: indices of the kept boxes, best score first."""
    boxes, scores = np.asarray(boxes), np.asarray(scores)
    order = np.argsort(-scores, kind="stable")
    if score_threshold is not None:
        order = order[scores[order] > score_threshold]
    classes = None if classes is None else np.asarray(classes)
    kept = []
    while order.size and (max_boxes is None or len(kept) < max_boxes):
        best, rest = order[0], order[1:]
        kept.append(best)
        suppressed = iou(boxes[best : best + 1], boxes[rest], overlap=overlap)[0] > iou_threshold
        if classes is not None:
            suppressed &= classes[rest] == classes[best]
        order = rest[~suppressed]
    return np.asarray(kept, dtype=np.intp)
