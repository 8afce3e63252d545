"""A detection and segmentation set made from real images (Course 4, week 3): MNIST digits
at random scales and positions, 1 to 6 on each 128 x 128 canvas (or H x W: smaller ones
train a U-Net in minutes), over textures cropped from scikit-image's pictures.  Every
digit's box and class is recorded, and on request a per-pixel class mask.

    canvas = background (1 - a) + ink a        a: the resized digit's intensity in [0, 1]

* Digits: the 28 x 28 MNIST image resized to s x s, s uniform in [``min_size``,
  ``max_size``] (bilinear, anti-aliased), at a uniform position on the canvas; a digit whose
  box would overlap a placed one by IoU > ``max_overlap`` is drawn elsewhere (up to 20
  tries, then left out).  Its box is the tight box of its ink (a > 0.2), corners (x1, y1,
  x2, y2) in pixels, x2 and y2 one past the last inked pixel (so a box covers whole pixels).
* Backgrounds: crops of seven grayscale pictures (grass, gravel, brick, camera, moon, cell,
  coins), flipped at random, contrast c in [0.25, 0.6] and offset in [0, 0.3]; the ink's
  level is in [0.75, 1].
* Splits: the training canvases use MNIST's 60,000 training digits and the left part of
  each picture; the test canvases MNIST's 10,000 test digits and each picture's right-most
  ``HELD_OUT_WIDTH`` columns, so held-out canvases share neither digits nor background
  pixels with training.  The same (split, seed) gives the same canvases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import ConfigError
from .datasets import load_mnist

TEXTURES = ("grass", "gravel", "brick", "camera", "moon", "cell", "coins")
HELD_OUT_WIDTH = 160  # each picture's right-most columns: the test canvases' backgrounds
INK_THRESHOLD = 0.2  # a digit pixel above this intensity is ink (it sets the box)
PLACEMENT_TRIES = 20
#: the classes of a mask pixel: 0 background, 1 + d the ink of digit d
MASK_CLASSES = ("background", *(str(d) for d in range(10)))


@dataclass
class DetectionSet:
    """Canvases and their objects.

    images: (n, H, W, 1) float32 in [0, 1].
    boxes: n arrays (k_i, 4) float32, corners (x1, y1, x2, y2) in pixels.
    classes: n arrays (k_i,) int64, the digits.
    masks: (n, H, W) uint8 class of every pixel (0 background, 1 + digit on its ink; see
        ``MASK_CLASSES``), or None when not asked for.
    """

    images: np.ndarray
    boxes: list
    classes: list
    masks: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)


class CanvasMaker:
    """Makes detection canvases (module docstring) for one split, "train" or "test".

    Args:
        split: "train" (MNIST's training digits, the pictures' left parts) or "test".
        size: the canvas' side in pixels, or (H, W); W at most ``HELD_OUT_WIDTH``.
        min_digits, max_digits: digits per canvas, uniform between them.
        min_size, max_size: a digit's side in pixels (its 28 x 28 frame resized), at most
            min(H, W).
        max_overlap: the largest IoU allowed between two digits' boxes.

    Attributes:
        shape: (H, W), the canvas' rows and columns.
    """

    def __init__(
        self,
        split: str = "train",
        size: int = 128,
        min_digits: int = 1,
        max_digits: int = 6,
        min_size: int = 16,
        max_size: int = 48,
        max_overlap: float = 0.1,
    ):
        if split not in ("train", "test"):
            raise ConfigError(f"CanvasMaker: split must be 'train' or 'test', got {split!r}")
        if not 1 <= min_digits <= max_digits:
            raise ConfigError(
                f"CanvasMaker: need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}"
            )
        shape = _canvas_shape(size)
        if not 8 <= min_size <= max_size <= min(shape):
            raise ConfigError(
                f"CanvasMaker: need 8 <= min_size <= max_size <= size, got {min_size}, "
                f"{max_size}, {size}"
            )
        if shape[1] > HELD_OUT_WIDTH:
            raise ConfigError(f"CanvasMaker: size must be <= {HELD_OUT_WIDTH} wide, got {size}")
        self.split, self.size, self.shape = split, size, shape
        self.min_digits, self.max_digits = min_digits, max_digits
        self.min_size, self.max_size, self.max_overlap = min_size, max_size, max_overlap
        (x_train, y_train), (x_test, y_test) = load_mnist(flatten=False, normalize=True)
        self.digits, self.labels = (x_train, y_train) if split == "train" else (x_test, y_test)
        self.pictures = [_picture_region(name, split, shape) for name in TEXTURES]

    def make(self, n: int, seed: int = 0, masks: bool = False) -> DetectionSet:
        """n canvases; the same seed gives the same canvases.  ``masks=True`` also fills
        ``DetectionSet.masks`` (n, H, W) (the module docstring)."""
        rng = np.random.default_rng([seed, 0 if self.split == "train" else 1])
        images = np.empty((n, *self.shape, 1), dtype=np.float32)
        mask_array = np.zeros((n, *self.shape), dtype=np.uint8) if masks else None
        boxes, classes = [], []
        for i in range(n):
            images[i, :, :, 0] = self._background(rng)
            k = int(rng.integers(self.min_digits, self.max_digits + 1))
            mask = None if mask_array is None else mask_array[i]
            placed = self._place_digits(images[i, :, :, 0], k, rng, mask)
            boxes.append(np.array([b for b, _ in placed], dtype=np.float32).reshape(-1, 4))
            classes.append(np.array([c for _, c in placed], dtype=np.int64))
        return DetectionSet(images, boxes, classes, mask_array)

    def _background(self, rng) -> np.ndarray:
        picture = self.pictures[int(rng.integers(len(self.pictures)))]
        height, width = self.shape
        y = int(rng.integers(picture.shape[0] - height + 1))
        x = int(rng.integers(picture.shape[1] - width + 1))
        crop = picture[y : y + height, x : x + width]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if rng.random() < 0.5:
            crop = crop[::-1]
        return crop * rng.uniform(0.25, 0.6) + rng.uniform(0.0, 0.3)

    def _place_digits(self, canvas, k: int, rng, mask=None) -> list:
        """Draws k digits into canvas (in place), and their ink's classes into mask (H, W)
        unless it is None; returns [(box, class)]."""
        from skimage.transform import resize

        placed = []
        for _ in range(k):
            index = int(rng.integers(len(self.digits)))
            s = int(rng.integers(self.min_size, self.max_size + 1))
            digit = resize(self.digits[index, :, :, 0], (s, s), order=1, anti_aliasing=True)
            digit = np.clip(digit, 0.0, 1.0).astype(np.float32)
            rows, cols = np.nonzero(digit > INK_THRESHOLD)
            if rows.size == 0:
                continue
            ink = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)  # in the frame
            height, width = self.shape
            for _ in range(PLACEMENT_TRIES):
                x0 = int(rng.integers(width - s + 1))
                y0 = int(rng.integers(height - s + 1))
                box = np.array([x0 + ink[0], y0 + ink[1], x0 + ink[2], y0 + ink[3]], np.float32)
                if all(_pair_iou(box, other) <= self.max_overlap for other, _ in placed):
                    break
            else:
                continue
            level = rng.uniform(0.75, 1.0)
            region = canvas[y0 : y0 + s, x0 : x0 + s]
            region *= 1.0 - digit
            region += level * digit
            label = int(self.labels[index])
            if mask is not None:
                mask[y0 : y0 + s, x0 : x0 + s][digit > INK_THRESHOLD] = 1 + label
            placed.append((box, label))
        return placed


def _pair_iou(a, b) -> float:
    """IoU of two corner boxes (x1, y1, x2, y2)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _canvas_shape(size) -> tuple[int, int]:
    """(H, W) from a side or a pair."""
    pair = (size, size) if isinstance(size, int | np.integer) else size
    if (
        not isinstance(pair, tuple | list)
        or len(pair) != 2
        or not all(isinstance(v, int | np.integer) and v > 0 for v in pair)
    ):
        raise ConfigError(f"CanvasMaker: size must be an int or a pair (H, W), got {size!r}")
    return int(pair[0]), int(pair[1])


def _picture_region(name: str, split: str, shape: tuple[int, int]) -> np.ndarray:
    """The part of scikit-image's picture ``name`` (gray, [0, 1]) a split crops from:
    its right-most HELD_OUT_WIDTH columns for "test", the columns left of them for "train"
    (at least H x W)."""
    import skimage.data

    picture = getattr(skimage.data, name)().astype(np.float32) / 255.0
    cut = picture.shape[1] - HELD_OUT_WIDTH
    region = picture[:, cut:] if split == "test" else picture[:, :cut]
    if region.shape[0] < shape[0] or region.shape[1] < shape[1]:
        raise ConfigError(
            f"CanvasMaker: picture {name!r} is too small for {shape[0]} x {shape[1]} crops"
        )
    return region
