"""Small real image sets that ship inside installed packages (no network).

``load_lfw_subset``: scikit-image's ``data.lfw_subset()``, 200 grayscale 25 x 25 crops from
Labeled Faces in the Wild: the first 100 are faces, the last 100 non-faces (patches of the
same photos).  A binary image set small enough for transfer-learning experiments on one
CPU core.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import InputValueError, ShapeError

#: How many images ``lfw_subset`` holds, faces first.
LFW_SUBSET_FACES = 100
LFW_SUBSET_SIZE = 200


def load_lfw_subset(size: int = 25, rgb: bool = True):
    """scikit-image's LFW subset as (x, y): face (1) or not (0).

    Args:
        size: the side of the returned images: 25 keeps the originals; another size
            resizes them with bilinear interpolation (``skimage.transform.resize``,
            order 1), e.g. 64 for VGG16.
        rgb: repeat the gray channel three times (networks pretrained on RGB images);
            False keeps one channel.

    Returns:
        x: float32 (200, size, size, 3 or 1), pixels in [0, 255] (what
        ``preprocess_caffe`` expects); y: int64 (200,), 1 for the first 100 (faces), 0 for
        the last 100.

    Raises:
        ImportError: scikit-image is not installed (``pip install scikit-image``).
    """
    if not isinstance(size, int | np.integer) or size < 1:
        raise InputValueError(f"load_lfw_subset: size must be a positive integer, got {size!r}")
    try:
        from skimage import data
    except ImportError:
        raise ImportError(
            "load_lfw_subset needs scikit-image (it ships the images): pip install scikit-image"
        ) from None
    gray = np.asarray(data.lfw_subset(), dtype=np.float64)  # (200, 25, 25) in [0, 1]
    if gray.shape[0] != LFW_SUBSET_SIZE or gray.ndim != 3:
        raise ShapeError(f"load_lfw_subset: expected 200 gray images, got shape {gray.shape}")
    x = resize_images(gray[..., None], size) if size != gray.shape[1] else gray[..., None]
    x = (np.clip(x, 0.0, 1.0) * 255.0).astype(np.float32)
    if rgb:
        x = np.repeat(x, 3, axis=-1)
    y = (np.arange(LFW_SUBSET_SIZE) < LFW_SUBSET_FACES).astype(np.int64)
    return x, y


def resize_images(images, size) -> np.ndarray:
    """Resize a batch (m, H, W, C) to (m, size, size, C) (or ``size`` = (h, w)) with
    bilinear interpolation (scikit-image's ``resize``, order 1, no anti-aliasing: meant
    for enlarging)."""
    from skimage.transform import resize

    images = np.asarray(images)
    if images.ndim != 4:
        raise ShapeError(f"resize_images: expected (m, H, W, C), got shape {images.shape}")
    h, w = (size, size) if np.isscalar(size) else size
    shape = (images.shape[0], int(h), int(w), images.shape[-1])
    return resize(images, shape, order=1, anti_aliasing=False, preserve_range=True)
