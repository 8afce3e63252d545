"""`nnlab diagnose` and the diagnosis `nnlab train` prints; the --human-error type."""

import json

import pytest

from nnlab.cli import diagnose as diagnose_module
from nnlab.cli.main import main
from nnlab.runs.folder import diagnose_run

TINY = ["--dataset", "planar", "--layers", "4", "--epochs", "3", "--quiet"]


def test_train_prints_a_diagnosis_and_diagnose_prints_json(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--human-error", "0.02", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "diagnosis" in out and "human level error" in out and "2.00%" in out
    assert "avoidable bias" in out and "variance" in out
    expected = diagnose_run(run, human_error=0.02)
    assert str(expected) in out

    assert main(["diagnose", str(run), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"errors", "gaps", "problems", "dominant", "recommendations"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert report["errors"]["train"] == pytest.approx(1 - metrics["train"]["accuracy"])
    assert report["errors"]["dev"] == pytest.approx(1 - metrics["dev"]["accuracy"])
    assert report["errors"]["human"] == 0.0
    assert report == diagnose_run(run).to_dict()

    assert main(["diagnose", str(run), "--human-error", "0.3"]) == 0
    text = capsys.readouterr().out
    assert text.strip() == str(diagnose_run(run, human_error=0.3))
    assert "30.00%" in text


def test_diagnose_command_errors(tmp_path, capsys):
    assert main(["diagnose", str(tmp_path / "missing")]) == 2
    assert "metrics.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["diagnose", str(tmp_path), "--human-error", "7.5"])
    assert "--human-error: expected an error rate" in capsys.readouterr().err


def test_error_fraction_argument_type():
    assert diagnose_module.error_fraction("0.075") == 0.075
    for bad in ("-0.1", "1.01", "abc", "nan"):
        with pytest.raises(Exception, match="expected an error rate"):
            diagnose_module.error_fraction(bad)
