"""nnlab dates train / translate / evaluate with a tiny run: the run folder (model with its
vocabulary, settings, checkpoint, metrics, curves, attention map), --resume, translations
printed one ISO-shaped line each, and a run loaded without unpickling anything."""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pytest

from nnlab.cli.main import main
from nnlab.saving.model_file import load_checkpoint

pytest.importorskip("faker")
pytest.importorskip("sacrebleu")

TINY = ["--dates", "200", "--test-dates", "20", "--units", "8", "--batch-size", "50"]
ISO_SHAPED = re.compile(r"^[-0-9]{10}$")  # 10 machine characters (a 1-epoch model's guess)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dates") / "run"
    assert main(["dates", "train", *TINY, "--epochs", "1", "--out", str(folder)]) == 0
    assert main(["dates", "train", "--resume", "--epochs", "2", "--out", str(folder)]) == 0
    return folder


def test_train_writes_the_run_folder_and_resumes(run, capsys):
    files = {p.name for p in run.iterdir()}
    assert files >= {
        "model.safetensors",
        "checkpoint.safetensors",
        "settings.json",
        "metrics.json",
        "learning_curves.png",
        "attention_map.png",
    }
    settings = json.loads((run / "settings.json").read_text())
    assert settings["dates"] == 200 and settings["model"] == "feed-previous"  # for --resume
    _, extra, _ = load_checkpoint(run / "checkpoint.safetensors")
    assert extra["epoch"] == 2 and [row["epoch"] for row in extra["log"]["rows"]] == [1, 2]
    assert 0 <= extra["log"]["rows"][-1]["val_exact_match"] <= 1
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("new_dates_k1", "new_dates_k3", "held_out_k1", "held_out_k3"):
        assert metrics[key]["dates"] == 20
        assert 0 <= metrics[key]["exact_match"] <= 1 and 0 <= metrics[key]["bleu"] <= 100
    assert ISO_SHAPED.match(metrics["example"]["saturday 9 may 2018"])
    assert (run / "attention_map.png").stat().st_size > 5_000


def test_translate_prints_one_iso_line_per_date_and_loads_no_pickle(
    run, tmp_path, monkeypatch, capsys
):
    def forbidden(*args, **kwargs):
        raise AssertionError("loading a dates run must not unpickle or use np.load")

    for obj, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (np, "load")]:
        monkeypatch.setattr(obj, name, forbidden)
    plot = tmp_path / "map.png"
    args = ["dates", "translate", str(run), "Saturday 9 May 2018", "3 mars 2001"]
    assert main([*args, "--beam", "3", "--plot", str(plot)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(ISO_SHAPED.match(line) for line in lines[:2])
    assert lines[2] == f"wrote {plot}" and plot.stat().st_size > 5_000
    # the model file alone is a run too, and greedy is beam search of width 1
    assert main(["dates", "translate", str(run / "model.safetensors"), "Saturday 9 May 2018"]) == 0
    greedy = capsys.readouterr().out.splitlines()
    assert main([*args[:4], "--beam", "1"]) == 0
    assert capsys.readouterr().out.splitlines() == greedy


def test_evaluate_reports_exact_match_and_bleu(run, capsys):
    assert main(["dates", "evaluate", str(run), "--dates", "15", "--locale", "nl_NL"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"15 new dates in nl_NL \(seed \d+\), greedy decoding: exact match", out)
    assert "BLEU" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--model", "seq2seq"], "--model must be feed-previous or course, got 'seq2seq'"),
        (["translate", "RUN", "9 may 2018", "--beam", "0"], "--beam must be at least 1, got 0"),
        (["evaluate", "NOWHERE"], "no model at NOWHERE"),
    ],
)
def test_bad_arguments_are_named(run, tmp_path, capsys, args, message):
    args = [str(run) if a == "RUN" else a for a in args]
    if args[0] == "train":
        args += ["--out", str(tmp_path / "x")]
    assert main(["dates", *args]) == 2
    assert message in capsys.readouterr().err
