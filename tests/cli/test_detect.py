"""nnlab detect train / evaluate / canvas / find: a run folder with the model (and its
anchors), curves, the held-out mAP and a figure; boxes drawn on an image and a video."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from nnlab.cli.main import main
from nnlab.saving.model_file import load_checkpoint

TINY = ["--canvases", "32", "--dev-canvases", "8", "--test-canvases", "8", "--width", "4"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("detect") / "run"
    assert main(["detect", "train", *TINY, "--epochs", "1", "--out", str(folder)]) == 0
    assert main(["detect", "train", "--resume", "--epochs", "2", "--out", str(folder)]) == 0
    return folder


def test_train_and_resume_write_a_run(run):
    files = {p.name for p in run.iterdir()}
    assert files >= {"model.safetensors", "learning_curves.png", "metrics.json", "detections.png"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["canvases"] == 8 and 0 <= metrics["test"]["map_50"] <= 1
    assert [row["epoch"] for row in metrics["epochs"]] == [1, 2]
    _, extra, _ = load_checkpoint(run / "checkpoint.safetensors")
    assert extra["epoch"] == 2 and len(extra["detector"]["anchors"]) == 3
    anchors = np.array(extra["detector"]["anchors"])
    assert (anchors > 8).all() and (anchors < 48).all()  # digit shapes, 16 to 48 px frames
    assert json.loads((run / "settings.json").read_text())["canvases"] == 32


def test_evaluate_canvas_and_find(run, tmp_path, capsys):
    assert main(["detect", "evaluate", str(run), "--canvases", "5"]) == 0
    assert "5 held-out canvases: mAP@0.5" in capsys.readouterr().out

    canvas = tmp_path / "canvas.png"
    assert main(["detect", "canvas", "--out", str(canvas), "--seed", "2", "--size", "96"]) == 0
    digits = capsys.readouterr().out.split("digits ")[1].split()
    assert 1 <= len(digits) <= 6
    assert np.asarray(Image.open(canvas)).shape == (96, 96)

    # threshold 0: the barely trained detector keeps its best 20 boxes, drawn in green
    drawn = tmp_path / "boxes.png"
    assert main(["detect", str(run), str(canvas), "--out", str(drawn), "--threshold", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("digit ") for line in lines) == 20
    picture = np.asarray(Image.open(drawn))
    assert picture.shape == (96, 96, 3)
    green = (picture[..., 1] == 255) & (picture[..., 0] == 0) & (picture[..., 2] == 0)
    assert green.sum() > 50


def test_find_on_a_video(run, tmp_path, capsys):
    from nnlab.data.video import VideoWriter, video_info

    clip, out = tmp_path / "clip.mp4", tmp_path / "boxes.mp4"
    frames = (np.random.default_rng(0).random((6, 72, 100, 3)) * 255).astype(np.uint8)
    with VideoWriter(clip, fps=6, size=(100, 72)) as writer:
        for frame in frames:
            writer.write(frame)
    args = ["detect", str(run), str(clip), "--out", str(out), "--threshold", "0"]
    assert main([*args, "--max-frames", "4"]) == 0
    assert "4 frames, digits found in 4 (100%)" in capsys.readouterr().out
    info = video_info(out)
    assert (info.width, info.height, info.n_frames) == (100, 72, 4)


def test_bad_runs_are_named(tmp_path, capsys):
    assert main(["detect", "evaluate", str(tmp_path)]) == 2
    assert "no model at" in capsys.readouterr().err
    assert main(["detect", "train", "--epochs", "1", "--canvases", "0", "--out", str(tmp_path / "r")]) == 2  # fmt: skip
    assert "--canvases must be at least 1" in capsys.readouterr().err
