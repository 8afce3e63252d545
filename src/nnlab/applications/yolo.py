"""YOLO (Course 4, week 3: "Car detection with YOLO"): a detector trained in nnlab, and
the lab's post-processing, which turns its outputs into boxes (``detect``).

The detector
------------
``yolo_detector`` (Redmon and Farhadi 2017's YOLOv2, small): a grid of S x S cells over the
image, A anchor boxes per cell, and for each cell and anchor one prediction of 5 + C numbers:

    t_x, t_y, t_w, t_h, t_o, c_1 .. c_C        (the network's raw output)
    box center  b_x = (g_x + sigmoid(t_x)) * stride,   b_y = (g_y + sigmoid(t_y)) * stride
    box size    b_w = anchor_w * exp(t_w),             b_h = anchor_h * exp(t_h)
    objectness  p_o = sigmoid(t_o)                     (the course's box_confidence)
    classes     p_c = softmax(c)                       (the course's box_class_probs)

with (g_x, g_y) the cell's column and row and ``stride`` the image pixels per cell.

Targets.  Each true box is assigned to the cell holding its center and to the anchor whose
shape fits it best (IoU of the two shapes sharing a center); that prediction is
"responsible" for it and gets the targets x* = c_x / stride - g_x, y* likewise,
t_w* = log(w / anchor_w), t_h* = log(h / anchor_h), its class, objectness 1.  ``encode_targets``
writes them as an array (m, S, S, A, 6): [responsible, x*, y*, t_w*, t_h*, class].

The loss (``YoloLoss``), summed over cells and anchors and averaged over the m images:

    J = lambda_box sum_resp s (sigmoid(t_x) - x*)^2 + (sigmoid(t_y) - y*)^2
                             + (t_w - t_w*)^2 + (t_h - t_h*)^2        s = 2 - w h / image area
      + sum_resp BCE(p_o, 1) + lambda_noobj sum_other [IoU_best <= ignore] BCE(p_o, 0)
      + sum_resp CE(softmax(c), class)

where IoU_best is the best IoU of a prediction's decoded box with the image's true boxes: a
prediction that already covers an object well but is not the responsible one is neither
pushed towards nor away from objectness (YOLOv2/v3's ignore threshold).  Its gradient with
respect to the raw outputs, written out in ``YoloLoss.value_and_grad``:

    dt_x = lambda_box s 2 (sigmoid(t_x) - x*) sigmoid(t_x) (1 - sigmoid(t_x))     (and t_y)
    dt_w = lambda_box s 2 (t_w - t_w*)                                              (and t_h)
    dt_o = weight (p_o - responsible),   dc = responsible (softmax(c) - onehot(class))

all divided by m.

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

import weakref

import numpy as np

from .. import backend, registry
from ..exceptions import ConfigError, InputValueError, ShapeError
from ..layers import BatchNormalization, Input, LeakyReLU
from ..layers.convolutional import Conv2D
from ..layers.pooling import MaxPool2D
from ..ops.boxes import iou, nms, shape_iou, to_corners
from ..training.losses import Loss
from ..training.model import Sequential

STRIDE = 8  # image pixels per grid cell: three 2 x 2 poolings
TARGET_FIELDS = 6  # responsible, x*, y*, t_w*, t_h*, class
OBJECTNESS_PRIOR = 0.01
MAX_LOG_SCALE = 8.0  # t_w, t_h clipped here when decoding (exp overflow)


# ================================================================ the detector


def yolo_detector(
    n_classes: int = 10,
    n_anchors: int = 3,
    input_shape=(128, 128, 1),
    width: int = 16,
    seed=None,
) -> Sequential:
    """A small Darknet-style backbone and a 1x1 convolution head, stride 8 (a 128 x 128
    image gives a 16 x 16 grid):

        [CONV 3x3 -> BN -> LeakyReLU(0.1) -> MAXPOOL 2] x 3    width, 2 width, 4 width
        CONV 3x3 8 width -> CONV 1x1 4 width -> CONV 3x3 8 width   (each BN + LeakyReLU)
        CONV 1x1 A (5 + C)                                     the raw predictions

    Output (m, S, S, A (5 + C)); ``decode_predictions`` reads it.
    """
    blocks = [Input(tuple(input_shape))]

    def conv(filters, size, name):
        blocks.extend(
            [
                Conv2D(filters, size, padding="same", use_bias=False, name=name),
                BatchNormalization(0.9, name=f"{name}_bn"),
                LeakyReLU(0.1, name=f"{name}_leaky"),
            ]
        )

    for k, filters in enumerate((width, 2 * width, 4 * width), start=1):
        conv(filters, 3, f"conv{k}")
        blocks.append(MaxPool2D(2, name=f"pool{k}"))
    conv(8 * width, 3, "conv4")
    conv(4 * width, 1, "conv5")
    conv(8 * width, 3, "conv6")
    head = Conv2D(n_anchors * (5 + n_classes), 1, name="predictions")
    model = Sequential([*blocks, head], seed=seed, name="yolo")
    model.build()
    # objectness starts at p_o = 0.01 (b = -log(99)), as most cells hold no object: the
    # first steps then need not push hundreds of predictions down (Lin et al. 2017's prior)
    bias = head.params["b"].reshape(n_anchors, 5 + n_classes)
    bias[:, 4] = -np.log((1 - OBJECTNESS_PRIOR) / OBJECTNESS_PRIOR)
    return model


# ========================================================= targets and the loss


def grid_shape(input_shape, stride: int) -> tuple[int, int]:
    """(S_rows, S_cols) of an image (H, W, ...) at this stride."""
    if input_shape[0] % stride or input_shape[1] % stride:
        raise ShapeError(f"yolo: image {input_shape[:2]} is not a multiple of stride {stride}")
    return input_shape[0] // stride, input_shape[1] // stride


def best_anchors(wh: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(n,) the anchor whose shape fits each (w, h) best: IoU of boxes sharing a center."""
    return np.argmax(shape_iou(wh, anchors), axis=1)


def encode_targets(boxes, classes, anchors, grid, stride: int) -> np.ndarray:
    """Targets (m, S, S, A, 6) from per-image corner boxes (k_i, 4) and classes (k_i,)
    (module docstring).  Two boxes given the same cell and anchor: the later one is kept."""
    anchors = np.asarray(anchors, dtype=np.float64)
    targets = np.zeros((len(boxes), *grid, len(anchors), TARGET_FIELDS), dtype=np.float32)
    counts = [len(b) for b in boxes]
    if not sum(counts):
        return targets
    image = np.repeat(np.arange(len(boxes)), counts)
    corners = np.concatenate([np.asarray(b, np.float64).reshape(-1, 4) for b in boxes])
    labels = np.concatenate([np.asarray(c).reshape(-1) for c in classes])
    wh = corners[:, 2:] - corners[:, :2]
    center = (corners[:, :2] + corners[:, 2:]) / 2 / stride  # in cells
    cell = np.minimum(np.floor(center).astype(np.int64), np.array(grid[::-1]) - 1)
    anchor = best_anchors(wh, anchors)
    fields = np.column_stack(
        [np.ones(len(image)), center - cell, np.log(wh / anchors[anchor]), labels]
    )
    targets[image, cell[:, 1], cell[:, 0], anchor] = fields
    return targets


# ================================================ raw outputs -> the lab's tensors


def yolo_head(outputs, anchors, stride: int, n_classes: int):
    """The network's raw outputs (m, S, S, A (5 + C)) as the lab's four tensors:
    box_xy and box_wh (m, S, S, A, 2), centers and sizes as fractions of the image's
    width and height; box_confidence (m, S, S, A, 1); box_class_probs (m, S, S, A, C)."""
    p = _split_anchors(np.asarray(outputs, dtype=np.float32), len(anchors), n_classes)
    image_wh = np.array([p.shape[2], p.shape[1]], dtype=np.float32) * stride
    boxes = _decode_boxes(p, np.asarray(anchors, np.float32), stride) / np.tile(image_wh, 2)
    logits = p[..., 5:]
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return boxes[..., :2], boxes[..., 2:], _sigmoid(p[..., 4:5]), e / e.sum(-1, keepdims=True)


def _split_anchors(a, n_anchors: int, n_classes: int):
    """(m, S, S, A (5 + C)) -> a view (m, S, S, A, 5 + C)."""
    m, rows, cols, channels = a.shape
    if channels != n_anchors * (5 + n_classes):
        raise ShapeError(
            f"yolo: the output has {channels} channels per cell, expected anchors x (5 + "
            f"classes) = {n_anchors} x {5 + n_classes} = {n_anchors * (5 + n_classes)}"
        )
    return a.reshape(m, rows, cols, n_anchors, 5 + n_classes)


def _decode_boxes(p, anchors, stride):
    """(b_x, b_y, b_w, b_h) in pixels (m, S, S, A, 4) from raw predictions p (..., 5 + C)."""
    xp = backend.xp
    rows, cols = p.shape[1], p.shape[2]
    gx = xp.arange(cols, dtype=p.dtype)[None, None, :, None]
    gy = xp.arange(rows, dtype=p.dtype)[None, :, None, None]
    bx = (gx + _sigmoid(p[..., 0])) * stride
    by = (gy + _sigmoid(p[..., 1])) * stride
    wh = anchors * xp.exp(xp.minimum(p[..., 2:4], MAX_LOG_SCALE))
    return xp.concatenate([bx[..., None], by[..., None], wh], axis=-1)


def _sigmoid(z):
    xp = backend.xp
    return 0.5 * (1.0 + xp.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), without overflow


@registry.register("loss")
class YoloLoss(Loss):
    """The YOLO loss (module docstring) of raw outputs (m, S, S, A (5 + C)) against targets
    from ``encode_targets`` (m, S, S, A, 6).

    Args:
        anchors: (A, 2) anchor widths and heights in pixels.
        stride: image pixels per grid cell.
        n_classes: C.
        lambda_box, lambda_noobj: the weights of the box terms and of the objectness of
            predictions responsible for no object.
        ignore_threshold: a prediction whose box overlaps a true box by more than this
            IoU gets no objectness loss unless it is responsible for it.
    """

    name = "yolo_loss"

    def __init__(
        self,
        anchors,
        stride: int = 8,
        n_classes: int = 10,
        lambda_box: float = 1.0,
        lambda_noobj: float = 1.0,
        ignore_threshold: float = 0.5,
    ):
        self.anchors = np.asarray(anchors, dtype=np.float32).reshape(-1, 2)
        if not (self.anchors > 0).all():
            raise ConfigError(f"YoloLoss: anchors must be positive (w, h), got {anchors!r}")
        self.stride, self.n_classes = int(stride), int(n_classes)
        self.lambda_box, self.lambda_noobj = float(lambda_box), float(lambda_noobj)
        self.ignore_threshold = float(ignore_threshold)
        self.last_terms: dict = {}

    def prepare(self, y, output_shape):
        expected = (*output_shape[:2], len(self.anchors), TARGET_FIELDS)
        if tuple(y.shape[1:]) != expected:
            raise ShapeError(
                f"YoloLoss: targets must be (m, {', '.join(map(str, expected))}) (from "
                f"encode_targets), got {tuple(y.shape)}"
            )
        return y

    def value_and_grad(self, y, a):
        xp = backend.xp
        m = a.shape[0]
        p = _split_anchors(a, len(self.anchors), self.n_classes)
        responsible = y[..., 0]  # (m, S, S, A)
        grad = xp.zeros_like(p)

        # boxes: the responsible predictions only
        scale = self.lambda_box * responsible * self._box_scale(y)
        sxy = _sigmoid(p[..., 0:2])
        dxy = sxy - y[..., 1:3]
        dwh = p[..., 2:4] - y[..., 3:5]
        box = (scale * ((dxy**2).sum(-1) + (dwh**2).sum(-1))).sum()
        grad[..., 0:2] = (2 * scale)[..., None] * dxy * sxy * (1 - sxy)
        grad[..., 2:4] = (2 * scale)[..., None] * dwh

        # objectness: responsible -> 1, the rest -> 0 unless ignored
        weight = responsible + self.lambda_noobj * (1 - responsible) * self._not_ignored(p, y)
        logit = p[..., 4]
        po = _sigmoid(logit)
        bce = xp.maximum(logit, 0) - logit * responsible + xp.log1p(xp.exp(-xp.abs(logit)))
        objectness = (weight * bce).sum()
        grad[..., 4] = weight * (po - responsible)

        # classes: softmax cross-entropy at the responsible predictions
        logits = p[..., 5:]
        shifted = logits - logits.max(axis=-1, keepdims=True)
        e = xp.exp(shifted)
        total = e.sum(axis=-1, keepdims=True)
        labels = y[..., 5].astype(np.int64)[..., None]
        log_prob = np.take_along_axis(shifted, labels, axis=-1)[..., 0] - xp.log(total[..., 0])
        classes = -(responsible * log_prob).sum()
        probs = e / total
        onehot = xp.zeros_like(probs)
        np.put_along_axis(onehot, labels, 1.0, axis=-1)
        grad[..., 5:] = responsible[..., None] * (probs - onehot)

        self.last_terms = {
            "box": float(box) / m,
            "objectness": float(objectness) / m,
            "class": float(classes) / m,
        }
        grad /= m
        return (box + objectness + classes) / m, grad.reshape(a.shape)

    def _box_scale(self, y):
        """s = 2 - w h / image area: small boxes weigh more (YOLOv3)."""
        rows, cols = y.shape[1], y.shape[2]
        wh = self.anchors * np.exp(y[..., 3:5])  # (m, S, S, A, 2) the true sizes
        return 2.0 - wh.prod(-1) / (rows * cols * self.stride**2)

    def _not_ignored(self, p, y):
        """(m, S, S, A) 1 where a prediction's best IoU with the image's true boxes is at
        most ignore_threshold, else 0."""
        predicted = to_corners(_decode_boxes(p, self.anchors, self.stride))
        true = to_corners(_decode_boxes(_logit_targets(y), self.anchors, self.stride))
        keep = np.ones(y.shape[:4], dtype=p.dtype)
        for i in range(len(y)):  # the images of the batch: a few true boxes each
            found = y[i, ..., 0] > 0
            if found.any():
                best = iou(predicted[i].reshape(-1, 4), true[i][found]).max(axis=1)
                keep[i] = (best <= self.ignore_threshold).reshape(keep.shape[1:])
        return keep

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "anchors": self.anchors.tolist(),
            "stride": self.stride,
            "n_classes": self.n_classes,
            "lambda_box": self.lambda_box,
            "lambda_noobj": self.lambda_noobj,
            "ignore_threshold": self.ignore_threshold,
        }


def _logit_targets(y):
    """Targets as raw predictions that decode to the true boxes: t = logit(x*) for the
    center (x* clipped into (0, 1)), the log-scales as they are."""
    xy = np.clip(y[..., 1:3], 1e-6, 1 - 1e-6)
    return np.concatenate([np.log(xy / (1 - xy)), y[..., 3:5]], axis=-1)


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


# ==================================================================== detection


def detect(
    model,
    images,
    anchors,
    stride: int = 8,
    n_classes: int = 10,
    score_threshold: float = 0.5,
    iou_threshold: float = 0.5,
    max_boxes: int = 20,
    batch_size: int = 64,
) -> list:
    """Detections of a trained detector on images (m, H, W, C): for each image a tuple
    (boxes (k, 4) corners (x1, y1, x2, y2) in pixels, scores (k,), classes (k,)), best
    score first: ``yolo_head`` then the lab's ``yolo_eval`` (score threshold, per-class NMS,
    boxes scaled to the image)."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ShapeError(f"detect: images must be (m, H, W, C), got shape {images.shape}")
    box_xy, box_wh, confidence, probs = yolo_head(
        model.predict(images, batch_size=batch_size), anchors, stride, n_classes
    )
    found = []
    for i in range(len(images)):  # one image at a time, as the lab's yolo_eval
        scores, boxes, classes = yolo_eval(
            (box_xy[i], box_wh[i], confidence[i], probs[i]),
            image_shape=images.shape[1:3],
            max_boxes=max_boxes,
            score_threshold=score_threshold,
            iou_threshold=iou_threshold,
        )
        found.append((boxes[:, [1, 0, 3, 2]].astype(np.float32), scores, classes))
    return found


def gray_canvas(frames, stride: int = STRIDE) -> np.ndarray:
    """Frames (m, H, W, 3) RGB or (m, H, W, 1) gray, uint8 or floats in [0, 1], as the
    detector sees images: gray floats (m, H', W', 1) (ITU-R 601 luma), H and W padded with
    black up to multiples of the stride (bottom and right: pixel coordinates unchanged)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3):
        raise ShapeError(f"yolo: frames must be (m, H, W, 3) or (m, H, W, 1), got {frames.shape}")
    x = frames.astype(np.float32) / (255.0 if frames.dtype == np.uint8 else 1.0)
    if x.shape[-1] == 3:
        x = x @ np.array([[0.299], [0.587], [0.114]], dtype=np.float32)
    pad_h, pad_w = -x.shape[1] % stride, -x.shape[2] % stride
    return np.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))


_SIZED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def resized_detector(model, detector: dict, image_shape) -> Sequential:
    """The detector for images of ``image_shape`` (H, W): a model built for that input with
    ``model``'s weights (every layer is a convolution, a pooling or a batch norm, so the
    weights fit any size).  Built once per model and size."""
    shape = (int(image_shape[0]), int(image_shape[1]), int(detector["input_shape"][2]))
    if tuple(model.input_shape) == shape:
        return model
    sized = _SIZED.setdefault(model, {})
    if shape not in sized:
        copy = yolo_detector(
            n_classes=len(detector["classes"]),
            n_anchors=len(detector["anchors"]),
            input_shape=shape,
            width=detector["width"],
        )
        copy.set_weights(model.get_weights())
        sized[shape] = copy
    return sized[shape]
