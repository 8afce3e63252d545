"""Draw detections on images: boxes with a label strip, and points (landmarks).

    shown = draw_boxes(image, boxes, labels=["face"], scores=[0.93])   # "face 0.93"
    shown = draw_points(shown, landmarks, color=(0, 255, 0), radius=2)

Both return a new (H, W, 3) uint8 image and leave ``image`` as it was.  Inputs may be
RGB (H, W, 3), RGBA (H, W, 4: the alpha channel is dropped) or grayscale (H, W) /
(H, W, 1), which becomes RGB; uint8 (or any integer type) in [0, 255], or floating point
in [0, 1] (scikit-image's convention, as the detection canvases of
:mod:`nnlab.data.detection` are).

Boxes are corners (x1, y1, x2, y2) in pixels, floats allowed, x2 and y2 one past the last
pixel (pixel i spans [i, i + 1)): a box covers columns round(x1) .. round(x2) - 1 and rows
round(y1) .. round(y2) - 1, clipped to the image, at least one pixel wide.  The outline
is drawn inside that region, ``width`` pixels thick, so the pixels further in are
untouched.  A box's text (``"label 0.93"``, the label alone, or the score alone) is
written in PIL's default font on a strip of the box's colour just above the box (inside
its top edge when there is no room above), in black or white, whichever reads better on
that colour.

Colours are one RGB triple for all, or one per box / point: ``color`` broadcasts against
the boxes' (k,) or the points' leading shape, e.g. (n, 3) colours for (k, n, 2) points
give each of the n landmarks its own colour.

The outlines are NumPy slice assignments (a loop over the boxes, never over pixels); the
points are one scatter of a disc stencil for all points at once; PIL writes the text.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import InputValueError, ShapeError

TEXT_PAD = 1  # pixels between a label's text and its strip's edges


def as_rgb_uint8(image, what: str = "image") -> np.ndarray:
    """A new (H, W, 3) uint8 copy of an RGB, RGBA or grayscale image (see the module)."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        a = a[..., :3] if a.shape[2] != 1 else a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ShapeError(
            f"{what} must be (H, W, 3) RGB, (H, W, 4) RGBA or (H, W) / (H, W, 1) grayscale, "
            f"got shape {a.shape}"
        )
    if a.dtype == np.uint8:
        return a.copy()
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if a.dtype.kind in "iu":
        if a.size and (a.min() < 0 or a.max() > 255):
            raise InputValueError(
                f"{what}: integer pixels must be in [0, 255], got [{a.min()}, {a.max()}]"
            )
        return a.astype(np.uint8)
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise InputValueError(f"{what} holds NaN or infinite pixels")
        if a.size and (a.min() < -1e-3 or a.max() > 1 + 1e-3):
            raise InputValueError(
                f"{what}: floating-point pixels must be in [0, 1], got [{a.min():.4g}, "
                f"{a.max():.4g}]; for pixels in [0, 255] pass image.astype(np.uint8)"
            )
        return np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)
    raise InputValueError(f"{what} must hold numbers, got dtype {a.dtype}")


def _colors(color, shape: tuple, what: str) -> np.ndarray:
    """``color`` broadcast to shape + (3,) uint8 (ShapeError / InputValueError if not)."""
    c = np.asarray(color)
    if c.dtype.kind not in "iuf" or c.ndim == 0 or c.shape[-1] != 3:
        raise ShapeError(
            f"{what}: color must be an RGB triple or an array of them (..., 3), got {color!r}"
        )
    if (c < 0).any() or (c > 255).any():
        raise InputValueError(f"{what}: color values must be in [0, 255], got {color!r}")
    try:
        return np.broadcast_to(np.round(c).astype(np.uint8), (*shape, 3))
    except ValueError:
        raise ShapeError(
            f"{what}: color of shape {c.shape} does not broadcast to one per item, {(*shape, 3)}"
        ) from None


def _finite(a: np.ndarray, what: str) -> None:
    if a.dtype.kind not in "iuf":
        raise InputValueError(f"{what} must be numbers, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        raise InputValueError(f"{what} hold NaN or infinite values")


# ------------------------------------------------------------------------- boxes
def draw_boxes(
    image,
    boxes,
    labels=None,
    scores=None,
    color=(255, 0, 0),
    width: int = 2,
) -> np.ndarray:
    """A copy of ``image`` (RGB uint8) with ``boxes`` outlined and, given ``labels`` or
    ``scores``, each box's text on a strip above it.

    Args:
        image: (H, W, 3), (H, W, 4), (H, W) or (H, W, 1); uint8, or floats in [0, 1].
        boxes: (k, 4) corners x1, y1, x2, y2 in pixels (a single box (4,) also works).
        labels: None or k strings.
        scores: None or k numbers, written with two decimals ("face 0.93").
        color: an RGB triple, or (k, 3): one per box.
        width: outline thickness in pixels (>= 1), drawn inside the box.

    Returns:
        (H, W, 3) uint8, a new array.
    """
    out = as_rgb_uint8(image, "draw_boxes: image")
    b = np.asarray(boxes)
    if b.ndim == 1 and b.shape == (4,):
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ShapeError(
            f"draw_boxes: boxes must be (k, 4) corners x1, y1, x2, y2, got shape {b.shape}"
        )
    _finite(b, "draw_boxes: boxes")
    k = len(b)
    if isinstance(width, bool) or not isinstance(width, int | np.integer) or width < 1:
        raise InputValueError(f"draw_boxes: width must be an integer >= 1, got {width!r}")
    if labels is not None:
        if isinstance(labels, str) or len(labels) != k:
            raise ShapeError(
                f"draw_boxes: labels must be a list of {k} strings (one per box), got {labels!r}"
            )
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(scores) != k:
            raise ShapeError(
                f"draw_boxes: scores must hold {k} numbers (one per box), got {len(scores)}"
            )
    colors = _colors(color, (k,), "draw_boxes")
    H, W = out.shape[:2]
    corners = _pixel_extents(b, H, W)  # (k, 4) first col, first row, last col, last row
    for (c0, r0, c1, r1), rgb in zip(corners, colors, strict=True):
        if c0 > c1 or r0 > r1:  # wholly outside the image
            continue
        t = width
        out[r0 : min(r0 + t, r1 + 1), c0 : c1 + 1] = rgb  # top
        out[max(r1 - t + 1, r0) : r1 + 1, c0 : c1 + 1] = rgb  # bottom
        out[r0 : r1 + 1, c0 : min(c0 + t, c1 + 1)] = rgb  # left
        out[r0 : r1 + 1, max(c1 - t + 1, c0) : c1 + 1] = rgb  # right
    if labels is None and scores is None:
        return out
    texts = []
    for i in range(k):
        parts = [] if labels is None else [str(labels[i])]
        parts += [] if scores is None else [f"{scores[i]:.2f}"]
        texts.append(" ".join(p for p in parts if p))
    return _draw_texts(out, corners, texts, colors)


def _pixel_extents(boxes: np.ndarray, H: int, W: int) -> np.ndarray:
    """(k, 4) int: first column, first row, last column, last row of each box, clipped
    (first > last where the box misses the image)."""
    b = np.round(boxes.astype(np.float64))
    c0, r0 = b[:, 0], b[:, 1]
    c1 = np.maximum(b[:, 2] - 1, c0)  # at least one pixel
    r1 = np.maximum(b[:, 3] - 1, r0)
    clipped = np.stack(
        [np.maximum(c0, 0), np.maximum(r0, 0), np.minimum(c1, W - 1), np.minimum(r1, H - 1)],
        axis=1,
    )
    return clipped.astype(np.int64)


def _draw_texts(out: np.ndarray, corners, texts, colors) -> np.ndarray:
    """Each text on a strip of its box's colour above the box's top-left corner."""
    from PIL import Image, ImageDraw, ImageFont

    picture = Image.fromarray(out)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    ascent, descent = font.getmetrics()
    strip_h = ascent + descent + 2 * TEXT_PAD
    H, W = out.shape[:2]
    for (c0, r0, c1, r1), text, rgb in zip(corners, texts, colors, strict=True):
        if not text or c0 > c1 or r0 > r1:
            continue
        strip_w = int(np.ceil(draw.textlength(text, font=font))) + 2 * TEXT_PAD
        top = r0 - strip_h if r0 - strip_h >= 0 else r0  # above the box, else inside it
        left = max(0, min(c0, W - strip_w))
        fill = tuple(int(v) for v in rgb)
        draw.rectangle([left, top, left + strip_w - 1, top + strip_h - 1], fill=fill)
        luma = 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2]
        ink = (0, 0, 0) if luma > 140 else (255, 255, 255)
        draw.text((left + TEXT_PAD, top + TEXT_PAD), text, fill=ink, font=font)
    return np.asarray(picture).copy()


# ------------------------------------------------------------------------ points
def draw_points(image, points, color=(0, 255, 0), radius: int = 2) -> np.ndarray:
    """A copy of ``image`` (RGB uint8) with a filled disc of ``radius`` pixels at each
    point: pixels (x + dx, y + dy) with dx^2 + dy^2 <= radius^2, about the point's nearest
    pixel (radius 0: that pixel alone).

    Args:
        image: as :func:`draw_boxes`.
        points: (k, 2) x, y pixel positions, or (k, n, 2): n points (landmarks) each of
            k objects; floats allowed; points off the image draw nothing (or their part
            of the disc that is on it).
        color: an RGB triple, or an array broadcasting to (k, 3) / (k, n, 3), e.g. (n, 3)
            to give each landmark its own colour.
        radius: >= 0 pixels.
    """
    out = as_rgb_uint8(image, "draw_points: image")
    p = np.asarray(points)
    if p.ndim not in (2, 3) or p.shape[-1] != 2:
        raise ShapeError(
            f"draw_points: points must be (k, 2) or (k, n, 2) x, y positions, got shape {p.shape}"
        )
    _finite(p, "draw_points: points")
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer) or radius < 0:
        raise InputValueError(f"draw_points: radius must be an integer >= 0, got {radius!r}")
    colors = _colors(color, p.shape[:-1], "draw_points").reshape(-1, 3)  # (N, 3)
    centers = np.round(p.reshape(-1, 2)).astype(np.int64)  # (N, 2) x, y
    r = int(radius)
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    disc = dx * dx + dy * dy <= r * r
    dx, dy = dx[disc], dy[disc]  # (S,) the stencil's offsets
    xs = centers[:, :1] + dx  # (N, S)
    ys = centers[:, 1:] + dy  # (N, S)
    H, W = out.shape[:2]
    on = (xs >= 0) & (xs < W) & (ys >= 0) & (ys < H)  # (N, S)
    which = np.broadcast_to(np.arange(len(centers))[:, None], on.shape)
    out[ys[on], xs[on]] = colors[which[on]]  # later points drawn over earlier ones
    return out
