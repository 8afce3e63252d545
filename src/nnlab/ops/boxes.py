"""Bounding boxes: formats, area, IoU, non-max suppression and YOLOv2's k-means anchors
(Course 4, week 3: object detection).

Formats (continuous coordinates in any unit, pixels or fractions of the image; the last
axis holds the 4 numbers, any leading shape (..., 4))::

    "corners"  (x1, y1, x2, y2)     top-left and bottom-right corners, x1 <= x2, y1 <= y2
    "center"   (x_c, y_c, w, h)     x1 = x_c - w / 2, x2 = x_c + w / 2 (y likewise)

A box's width is x2 - x1 (no "+ 1" of the pixel-count convention), its area
(x2 - x1)(y2 - y1).  For boxes A and B the intersection is the overlap of the two intervals
on each axis::

    I = max(0, min(x2_A, x2_B) - max(x1_A, x1_B)) * max(0, min(y2_A, y2_B) - max(y1_A, y1_B))
    IoU = I / (area_A + area_B - I)           overlap="union"
    IoMin = I / min(area_A, area_B)           overlap="min" (MTCNN's 'Min' mode)

A pair with no intersection (a zero-area box included) scores 0, never 0/0 = NaN: the
value pycocotools' ``mask.iou`` gives.  The swap of x and y leaves every overlap unchanged,
so boxes written (y1, x1, y2, x2), as the course's YOLO lab does, work as they are.

Non-max suppression (:func:`nms`) is greedy: take the boxes in descending score order (ties
in index order); keep a box unless its overlap with an already kept box is
**> iou_threshold** (a box at exactly the threshold is kept), and stop at ``max_boxes``.
That is OpenCV's ``cv2.dnn.NMSBoxes`` rule, whose ``score_threshold`` also keeps only
scores **> score_threshold**.  Each step takes the best remaining box (kept: no kept box
suppressed it) and drops, in one vectorized pass, every remaining box that it suppresses;
the loop runs once per kept box.  With ``classes`` a box is suppressed only by a kept box of
its own class: the step's suppression mask is ANDed with "same class", which is exactly
per-class NMS merged by score (no coordinate offset, so no rounding from shifted
coordinates).

Anchors (:func:`kmeans_anchors`, YOLOv2 "dimension clusters"): k-means on box shapes (w, h)
with the distance d(box, anchor) = 1 - IoU(box, anchor), both boxes placed on a common
center, where IoU depends on the shapes alone::

    IoU((w, h), (w', h')) = min(w, w') min(h, h') / (w h + w' h' - min(w, w') min(h, h'))

:func:`mean_best_iou` is YOLOv2's "Avg IOU": the mean over boxes of the best IoU with any
anchor.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import InputValueError, ShapeError, unknown_name

BOX_FORMATS = ("corners", "center")
OVERLAPS = ("union", "min")


# --------------------------------------------------------------- formats and area
def to_corners(boxes) -> np.ndarray:
    """(x_c, y_c, w, h) -> (x1, y1, x2, y2), any leading shape (..., 4)."""
    b = _boxes(boxes, "boxes")
    half = b[..., 2:] / 2
    return np.concatenate([b[..., :2] - half, b[..., :2] + half], axis=-1)


def to_center(boxes) -> np.ndarray:
    """(x1, y1, x2, y2) -> (x_c, y_c, w, h), any leading shape (..., 4); inverse of
    :func:`to_corners`."""
    b = _boxes(boxes, "boxes")
    return np.concatenate([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]], axis=-1)


def area(boxes) -> np.ndarray:
    """(x2 - x1)(y2 - y1) of corner boxes (..., 4) -> (...); a box with x2 < x1 or y2 < y1
    has area 0."""
    b = _boxes(boxes, "boxes")
    return _area(b)


# --------------------------------------------------------------- overlap
def iou(boxes_a, boxes_b, box_format: str = "corners", overlap: str = "union") -> np.ndarray:
    """Pairwise overlap of every box of ``boxes_a`` with every box of ``boxes_b``.

    Parameters
    ----------
    boxes_a : array_like, shape (n, 4)
    boxes_b : array_like, shape (k, 4)
    box_format : {"corners", "center"}
        (x1, y1, x2, y2) or (x_c, y_c, w, h), for both arguments.
    overlap : {"union", "min"}
        I / (area_a + area_b - I) (IoU) or I / min(area_a, area_b).

    Returns
    -------
    ndarray, shape (n, k)
        In [0, 1]; 0 for pairs that do not intersect (zero-area boxes included).  Float
        inputs keep their precision (float32 stays float32); integers give float64.

    Raises
    ------
    ShapeError
        Arguments that are not (n, 4) and (k, 4).
    ConfigError
        An unknown ``box_format`` or ``overlap``.
    """
    _check_choice("box_format", box_format, BOX_FORMATS)
    _check_choice("overlap", overlap, OVERLAPS)
    a = _boxes(boxes_a, "boxes_a", ndim=2)
    b = _boxes(boxes_b, "boxes_b", ndim=2)
    if box_format == "center":
        a, b = to_corners(a), to_corners(b)
    # (n, 1, 2) against (1, k, 2): the overlap on x and y of every pair
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    side = np.clip(hi - lo, 0, None)  # (n, k, 2)
    inter = side[..., 0] * side[..., 1]  # (n, k)
    return _overlap_ratio(inter, _area(a)[:, None], _area(b)[None, :], overlap)


def _overlap_ratio(inter, area_a, area_b, overlap: str):
    """I / union or I / min, 0 where I = 0 (so 0/0 never happens: I > 0 implies a
    positive denominator)."""
    if overlap == "union":
        denominator = area_a + area_b - inter
    else:
        denominator = np.minimum(area_a, area_b)
    positive = inter > 0
    out = np.zeros(np.broadcast_shapes(inter.shape, denominator.shape), dtype=inter.dtype)
    np.divide(inter, denominator, out=out, where=positive)
    return out


# --------------------------------------------------------------- non-max suppression
def nms(
    boxes,
    scores,
    iou_threshold: float = 0.5,
    max_boxes: int | None = None,
    score_threshold: float | None = None,
    classes=None,
    overlap: str = "union",
) -> np.ndarray:
    """Greedy non-max suppression: the indices of the kept boxes, best score first.

    A box is suppressed when its overlap with a kept, higher-scoring box (of the same class,
    with ``classes``) is > ``iou_threshold``; equal scores go in index order.  The same
    boxes, in the same order, as OpenCV's ``cv2.dnn.NMSBoxes`` (see the module docstring).

    Parameters
    ----------
    boxes : array_like, shape (n, 4)
        Corner boxes (x1, y1, x2, y2) (or (y1, x1, y2, x2): the overlap is the same).
    scores : array_like, shape (n,)
    iou_threshold : float
        Suppress overlaps strictly above this.
    max_boxes : int, optional
        Keep at most this many boxes in all (classes together); default no limit.
    score_threshold : float, optional
        Consider only boxes with score > score_threshold; default all.
    classes : array_like of int, shape (n,), optional
        Class of each box: suppression only within a class (per-class NMS, the boxes of all
        classes merged by score).
    overlap : {"union", "min"}
        IoU, or intersection over the smaller area (MTCNN's 'Min').

    Returns
    -------
    ndarray of intp, shape (n_kept,)
        Indices into ``boxes``, in descending score order.

    Raises
    ------
    ShapeError
        ``boxes`` not (n, 4), or ``scores`` / ``classes`` not (n,).
    InputValueError
        NaN scores, or a negative ``max_boxes``.
    ConfigError
        An unknown ``overlap``.
    """
    _check_choice("overlap", overlap, OVERLAPS)
    b = _boxes(boxes, "boxes", ndim=2)
    n = b.shape[0]
    s = np.asarray(scores)
    if s.shape != (n,):
        raise ShapeError(f"scores: expected shape ({n},) for {n} boxes, got {s.shape}")
    if np.isnan(s).any():
        raise InputValueError("scores: NaN scores cannot be ranked")
    c = None
    if classes is not None:
        c = np.asarray(classes)
        if c.shape != (n,):
            raise ShapeError(f"classes: expected shape ({n},) for {n} boxes, got {c.shape}")
    if max_boxes is not None and max_boxes < 0:
        raise InputValueError(f"max_boxes: expected an int >= 0 or None, got {max_boxes}")
    limit = n if max_boxes is None else min(int(max_boxes), n)

    order = np.argsort(-s, kind="stable")  # best first, ties in index order
    if score_threshold is not None:
        order = order[s[order] > score_threshold]
    if limit == 0 or order.size == 0:
        return np.zeros(0, dtype=np.intp)
    rest = b[order]  # (r, 4) the candidates, best first
    rest_area = _area(rest)
    rest_class = None if c is None else c[order]
    kept = []
    while order.size:
        kept.append(order[0])
        if len(kept) == limit:
            break
        # overlap of the kept box (row 0) with every other candidate, in one pass
        lo = np.maximum(rest[0, :2], rest[1:, :2])  # (r - 1, 2)
        hi = np.minimum(rest[0, 2:], rest[1:, 2:])
        side = np.clip(hi - lo, 0, None)
        inter = side[:, 0] * side[:, 1]
        ratio = _overlap_ratio(inter, rest_area[0], rest_area[1:], overlap)
        survive = ratio <= iou_threshold
        if rest_class is not None:
            survive |= rest_class[1:] != rest_class[0]
            rest_class = rest_class[1:][survive]
        order, rest, rest_area = order[1:][survive], rest[1:][survive], rest_area[1:][survive]
    return np.asarray(kept, dtype=np.intp)


# --------------------------------------------------------------- anchors
def kmeans_anchors(wh, k: int, seed=0, iterations: int = 300) -> np.ndarray:
    """YOLOv2's anchor boxes: k-means of box shapes under the distance 1 - IoU.

    Initialization is k-means++ under the same distance (the first center a random box,
    each next one a box drawn with probability proportional to its distance to the nearest
    center); then Lloyd's iterations: assign each box to the anchor of highest IoU, move
    each anchor to the mean (w, h) of its boxes, until the assignment stops changing or
    after ``iterations``.  An anchor left without boxes is moved to the box farthest from
    its own anchor.

    Parameters
    ----------
    wh : array_like, shape (n, 2)
        Box widths and heights (> 0), in any unit (pixels, grid cells, fractions).
    k : int
        Number of anchors, 1 <= k <= n.
    seed : int or numpy.random.Generator
        The same seed gives the same anchors.
    iterations : int
        At most this many assignment/update rounds.

    Returns
    -------
    ndarray of float64, shape (k, 2)
        Anchor (w, h), sorted by area w h (smallest first).

    Raises
    ------
    ShapeError
        ``wh`` not (n, 2).
    InputValueError
        Shapes that are not finite and positive, or k outside 1..n.
    """
    boxes = _shapes(wh, "wh")
    n = boxes.shape[0]
    if not 1 <= k <= n:
        raise InputValueError(f"k: expected 1 <= k <= {n} (the number of boxes), got {k}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    anchors = np.empty((k, 2))
    anchors[0] = boxes[rng.integers(n)]
    nearest = 1 - shape_iou(boxes, anchors[:1])[:, 0]  # (n,) distance to the nearest center
    for j in range(1, k):  # k-means++: a loop over the k centers, not over boxes
        total = nearest.sum()
        pick = rng.choice(n, p=nearest / total) if total > 0 else rng.integers(n)
        anchors[j] = boxes[pick]
        nearest = np.minimum(nearest, 1 - shape_iou(boxes, anchors[j : j + 1])[:, 0])

    assignment = None
    for _ in range(iterations):
        similarity = shape_iou(boxes, anchors)  # (n, k)
        new = similarity.argmax(axis=1)  # (n,)
        if assignment is not None and np.array_equal(new, assignment):
            break
        assignment = new
        counts = np.bincount(assignment, minlength=k)  # (k,)
        for axis in range(2):
            sums = np.bincount(assignment, weights=boxes[:, axis], minlength=k)
            np.divide(sums, counts, out=anchors[:, axis], where=counts > 0)
        empty = np.flatnonzero(counts == 0)
        if empty.size:  # rare: refill each empty anchor with the worst-fitting boxes
            distance = 1 - similarity[np.arange(n), assignment]
            anchors[empty] = boxes[np.argsort(-distance, kind="stable")[: empty.size]]
            assignment = None  # the assignment must be computed again
    return anchors[np.argsort(anchors[:, 0] * anchors[:, 1], kind="stable")]


def mean_best_iou(wh, anchors) -> float:
    """YOLOv2's "Avg IOU": mean over boxes (n, 2) of the best shape IoU with any anchor
    (k, 2), boxes and anchors sharing a center."""
    boxes = _shapes(wh, "wh")
    return float(shape_iou(boxes, _shapes(anchors, "anchors")).max(axis=1).mean())


def shape_iou(wh_a, wh_b) -> np.ndarray:
    """IoU (n, k) of box shapes (n, 2) and (k, 2) placed on a common center."""
    a = np.asarray(wh_a, dtype=np.float64)
    b = np.asarray(wh_b, dtype=np.float64)
    inter = np.minimum(a[:, None, 0], b[None, :, 0]) * np.minimum(a[:, None, 1], b[None, :, 1])
    area_a = (a[:, 0] * a[:, 1])[:, None]
    area_b = (b[:, 0] * b[:, 1])[None, :]
    return _overlap_ratio(inter, area_a, area_b, "union")


# --------------------------------------------------------------- helpers
def _boxes(boxes, name: str, ndim: int | None = None) -> np.ndarray:
    """``boxes`` as a float array (..., 4) ((n, 4) when ``ndim`` is 2)."""
    b = np.asarray(boxes)
    if not np.issubdtype(b.dtype, np.floating):
        b = b.astype(np.float64)
    if b.ndim == 0 or b.shape[-1] != 4 or (ndim is not None and b.ndim != ndim):
        expected = "(n, 4)" if ndim == 2 else "(..., 4)"
        raise ShapeError(f"{name}: expected shape {expected}, got {b.shape}")
    return b


def _area(b):
    """Area of corner boxes (..., 4) -> (...), 0 for inverted boxes."""
    side = np.clip(b[..., 2:] - b[..., :2], 0, None)
    return side[..., 0] * side[..., 1]


def _shapes(wh, name: str) -> np.ndarray:
    """``wh`` as float64 (n, 2) of finite positive widths and heights."""
    s = np.asarray(wh, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != 2 or s.shape[0] == 0:
        raise ShapeError(f"{name}: expected shape (n, 2) with n >= 1, got {s.shape}")
    if not (np.isfinite(s).all() and (s > 0).all()):
        raise InputValueError(f"{name}: widths and heights must be finite and > 0")
    return s


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise unknown_name(name, value, choices)
