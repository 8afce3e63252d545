"""nnlab charlm train / sample on real surnames: a run folder with the model, its
vocabulary, the learning curves and the dev perplexity; names sampled from it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnlab.cli.main import main

pytest.importorskip("names")


def test_train_then_sample(tmp_path, capsys):
    run = tmp_path / "surnames"
    args = ["charlm", "train", "--limit", "1500", "--epochs", "4", "--units", "24"]
    assert main([*args, "--out", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "dev perplexity" in printed and "samples:" in printed
    assert {p.name for p in run.iterdir()} >= {
        "model.safetensors",
        "learning_curves.png",
        "metrics.json",
    }
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train_names"] == 1350 and metrics["dev_names"] == 150
    assert 1.0 < metrics["dev_perplexity"] < 20.0  # below the ~19 of letter frequencies

    assert main(["charlm", "sample", str(run), "-n", "4", "--seed", "3"]) == 0
    names = capsys.readouterr().out.split()
    assert len(names) == 4 and all(name.isalpha() and name.islower() for name in names)
    assert main(["charlm", "sample", str(run / "model.safetensors"), "-n", "4", "--seed", "3"]) == 0
    assert capsys.readouterr().out.split() == names  # the same seed, the same names


def test_a_text_file_of_names_and_a_bad_data_argument(tmp_path, capsys):
    names = tmp_path / "dinos.txt"
    names.write_text("\n".join(["aachenosaurus", "aardonyx", "abelisaurus", "abrictosaurus"] * 5))
    out = tmp_path / "dinos"
    assert main(["charlm", "train", "--data", str(names), "--epochs", "1", "--out", str(out)]) == 0
    assert (out / "model.safetensors").exists()
    capsys.readouterr()
    assert main(["charlm", "train", "--data", "dinosaurs", "--out", str(tmp_path / "x")]) == 2
    assert "--data must be one of surnames, female, male or a text file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--optimizer", "rmsprop"], "--optimizer must be adam or sgd"),
        (["--cell", "gru2"], "cell must be one of"),
    ],
)
def test_bad_choices_are_named(tmp_path, capsys, flags, message):
    assert main(["charlm", "train", "--limit", "50", *flags, "--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err


def test_resume_continues_the_run_exactly(tmp_path, capsys):
    """Two epochs, then --resume to four, give the same model and learning curve as four
    epochs in one go (same split, optimizer state and epoch numbers); --resume without a
    checkpoint, and a second run into the same folder, are refused."""
    flags = ["--limit", "400", "--units", "12", "--seed", "5"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert main(["charlm", "train", *flags, "--epochs", "4", "--out", str(whole)]) == 0
    assert main(["charlm", "train", *flags, "--epochs", "2", "--out", str(split)]) == 0
    assert main(["charlm", "train", "--resume", "--epochs", "4", "--out", str(split)]) == 0
    capsys.readouterr()
    from nnlab.saving.model_file import load_model

    a, b = load_model(whole / "model.safetensors"), load_model(split / "model.safetensors")
    for la, lb in zip(a.layers, b.layers, strict=True):
        for key in la.params:
            np.testing.assert_allclose(la.params[key], lb.params[key], rtol=1e-6, atol=1e-7)
    assert json.loads((split / "metrics.json").read_text())["dev_perplexity"] == pytest.approx(
        json.loads((whole / "metrics.json").read_text())["dev_perplexity"], rel=1e-5
    )
    assert main(["charlm", "train", "--resume", "--out", str(tmp_path / "none")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["charlm", "train", *flags, "--out", str(whole)]) == 2
    assert "holds a run; --resume continues it" in capsys.readouterr().err
