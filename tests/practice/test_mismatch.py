"""Mismatched train and dev/test distributions: a train-dev set and the mismatch diagnosis."""

import json

import numpy as np

from nnlab.cli.main import main
from nnlab.runs.folder import diagnose_run


def blobs(rng, m, shift):
    """Three Gaussian classes in 2-D; ``shift`` moves every point (another distribution)."""
    centers = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    y = rng.integers(0, 3, m)
    return centers[y] + rng.normal(0, 0.6, (m, 2)) + shift, y


def test_dev_from_another_distribution_is_diagnosed_as_data_mismatch(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x_train, y_train = blobs(rng, 600, shift=0.0)
    x_dev, y_dev = blobs(rng, 200, shift=1.4)  # the target distribution differs
    x_test, y_test = blobs(rng, 200, shift=1.4)
    path = tmp_path / "shifted.npz"
    np.savez(
        path,
        x_train=x_train,
        y_train=y_train,
        x_dev=x_dev,
        y_dev=y_dev,
        x_test=x_test,
        y_test=y_test,
    )
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--dataset",
                str(path),
                "--layers",
                "16",
                "--epochs",
                "40",
                "--learning-rate",
                "0.01",
                "--batch-size",
                "32",
                "--quiet",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) >= {"train", "train_dev", "dev", "test"}
    assert metrics["train_dev"]["accuracy"] > 0.9  # the held-out slice of the train distribution
    assert metrics["dev"]["accuracy"] < metrics["train_dev"]["accuracy"] - 0.1
    report = diagnose_run(run)
    assert report.dominant == "data_mismatch"
    assert "data mismatch" in capsys.readouterr().out
