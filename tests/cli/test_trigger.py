"""nnlab trigger train / clip / detect: a run folder with the model, its learning curves,
the dev clips' precision and recall and a figure; a clip written, chimed and plotted."""

from __future__ import annotations

import json

import numpy as np

from nnlab.cli.main import main
from nnlab.data.speech import SAMPLE_RATE, read_wav
from nnlab.saving.model_file import load_checkpoint

TINY = ["--clips", "4", "--dev-clips", "3", "--batch-size", "4"]


def test_train_resume_then_detect(tmp_path, capsys):
    run = tmp_path / "trigger"
    assert main(["trigger", "train", *TINY, "--epochs", "1", "--out", str(run)]) == 0
    assert "precision" in capsys.readouterr().out
    assert main(["trigger", "train", "--resume", "--epochs", "2", "--out", str(run)]) == 0
    files = {p.name for p in run.iterdir()}
    assert files >= {"model.safetensors", "learning_curves.png", "metrics.json", "dev_clip.png"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["dev_clips"] == 3 and 0 <= metrics["dev_recall"] <= 1
    assert json.loads((run / "settings.json").read_text())["clips"] == 4  # kept for resume
    _, extra, _ = load_checkpoint(run / "checkpoint.safetensors")
    assert extra["epoch"] == 2 and [row["epoch"] for row in extra["log"]["rows"]] == [1, 2]

    assert main(["trigger", "evaluate", str(run), "--clips", "2", "--seed", "4"]) == 0
    assert "2 clips of held-out voices and speeds (seed 4): precision" in capsys.readouterr().out

    clip = tmp_path / "clip.wav"
    assert main(["trigger", "clip", "--out", str(clip), "--seed", "1"]) == 0
    assert "'activate' ends at" in capsys.readouterr().out
    audio, rate = read_wav(clip)
    assert rate == SAMPLE_RATE and audio.shape == (10 * SAMPLE_RATE,)

    chimed, plot = tmp_path / "chimed.wav", tmp_path / "clip.png"
    # threshold 0: the untrained model fires from the first step, so a chime is written
    args = ["trigger", "detect", str(run), str(clip), "--out", str(chimed), "--plot", str(plot)]
    assert main([*args, "--threshold", "0"]) == 0
    assert "'activate' heard at: 0.00 s" in capsys.readouterr().out
    out, _ = read_wav(chimed)
    assert plot.stat().st_size > 10_000
    assert np.abs(out[:1000] - audio[:1000]).max() > 0.01  # the chime at 0 s


def test_resume_needs_a_run_and_a_run_is_not_overwritten(tmp_path, capsys):
    assert main(["trigger", "train", "--resume", "--out", str(tmp_path / "none")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
