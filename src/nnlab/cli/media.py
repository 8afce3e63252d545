"""Pictures and videos on the command line (``nnlab faces``, ``nnlab detect``): reading and
writing pictures by Pillow, and running a detector over a video's frames."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..data.video import WRITE_SUFFIXES, read_video
from ..exceptions import ConfigError, InputValueError
from ..saving.container import atomic_write_bytes


def read_image(path: Path) -> np.ndarray | None:
    """The picture at ``path`` as (H, W, 3) uint8 RGB, or None when Pillow does not
    recognize it as a picture (then it is tried as a video)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            picture = ImageOps.exif_transpose(picture)
            return np.asarray(picture.convert("RGB"))
    except UnidentifiedImageError:
        return None
    except OSError as err:  # a truncated or damaged picture
        raise InputValueError(f"{str(path)!r} cannot be read as a picture: {err}") from None


def fit_picture(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` (H, W, 3) uint8 cut to the aspect ratio width : height (the middle part is
    kept) and resized to (height, width, 3) with Pillow's Lanczos filter."""
    from PIL import Image

    h, w = image.shape[:2]
    if w * height > h * width:  # too wide: keep the middle columns
        keep = max(1, round(h * width / height))
        image = image[:, (w - keep) // 2 : (w - keep) // 2 + keep]
    elif w * height < h * width:  # too tall: keep the middle rows
        keep = max(1, round(w * height / width))
        image = image[(h - keep) // 2 : (h - keep) // 2 + keep]
    picture = Image.fromarray(np.ascontiguousarray(image))
    return np.asarray(picture.resize((width, height), Image.Resampling.LANCZOS))


def picture_format(path) -> str:
    """Pillow's name of the picture format ``path``'s suffix names ("PNG", "JPEG", ...)."""
    from PIL import Image

    path = Path(path)
    format_ = Image.registered_extensions().get(path.suffix.lower())
    if path.suffix.lower() in WRITE_SUFFIXES or format_ is None or format_ not in Image.SAVE:
        raise ConfigError(
            f"the input is a picture, so --out must name a picture (.png, .jpg); "
            f"cannot write {str(path)!r} as one"
        )
    return format_


def write_image(path, image: np.ndarray) -> None:
    """Write ``image`` in the format its suffix names (PNG, JPEG, ...), atomically."""
    from PIL import Image

    format_ = picture_format(path)
    buffer = io.BytesIO()
    options = {"quality": 95} if format_ == "JPEG" else {}
    Image.fromarray(image).save(buffer, format=format_, **options)
    atomic_write_bytes(path, buffer.getvalue())


def run_on_video(path: Path, total, writer, max_frames, find: Callable, draw: Callable) -> dict:
    """``found = find(frame)`` on each frame of the video at ``path`` (a progress bar over
    ``total`` frames, None if unknown), ``draw(frame, found)`` written to ``writer`` (a
    VideoWriter, which makes its file only when complete, or None).  Returns the counts and
    times: frames, the ``found`` of each frame, seconds in ``find``, seconds in all."""
    results, finding = [], 0.0
    with writer or contextlib.nullcontext():
        start = time.perf_counter()
        reader = read_video(path, max_frames=max_frames)
        for frame in tqdm(reader, total=total, unit="frame", desc=path.name, leave=False):
            tick = time.perf_counter()
            found = find(frame)
            finding += time.perf_counter() - tick
            results.append(found)
            if writer is not None:
                writer.write(draw(frame, found))
        loop = time.perf_counter() - start
    if not results:
        raise InputValueError(f"{str(path)!r} has no frames")
    return {"frames": len(results), "found": results, "find_seconds": finding, "seconds": loop}
