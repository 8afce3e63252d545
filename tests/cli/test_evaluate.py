"""`nnlab evaluate`: the metrics of a saved run."""

import json

from nnlab.cli.main import main

PLANAR = ["--dataset", "planar", "--layers", "8", "--activation", "tanh", "--quiet"]


def read_metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


def test_evaluate_prints_metrics_of_a_run(tmp_path, capsys):
    run = tmp_path / "run"
    main(["train", *PLANAR, "--epochs", "5", "--out", str(run)])
    capsys.readouterr()
    assert main(["evaluate", str(run), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert f"{read_metrics(run)['test']['accuracy']:.2%}" in out
