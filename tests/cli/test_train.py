"""`nnlab train`: run folders, config files and flags, resume, bad options, MNIST accuracy,
the image models."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from nnlab import load_model
from nnlab.cli.main import main
from nnlab.data import find_mnist
from nnlab.exceptions import ConfigError
from nnlab.runs.config import RunConfig

PLANAR = ["--dataset", "planar", "--layers", "8", "--activation", "tanh", "--quiet"]


def _has_mnist() -> bool:
    try:
        find_mnist()
    except Exception:
        return False
    return True


def read_metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


def test_train_writes_a_complete_run_folder(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", *PLANAR, "--epochs", "60", "--learning-rate", "0.02", "--out", str(run)])
    assert code == 0
    expected = {
        "config.toml",
        "model.safetensors",
        "model.json",
        "checkpoint.safetensors",
        "metrics.json",
        "history.csv",
        "learning_curves.png",
        "decision_boundary.png",
    }
    assert expected <= {p.name for p in run.iterdir()}
    metrics = read_metrics(run)
    assert set(metrics) >= {"train", "dev", "test"}
    assert metrics["test"]["accuracy"] > 0.8  # the flower is learnable by 8 tanh units
    with (run / "history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 60 and {"loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(
        rows[0]
    )
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert (run / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "test" in out and f"{metrics['test']['accuracy']:.2%}" in out


def test_config_file_and_flags(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('dataset = "moons"\nlayers = [6, 4]\nepochs = 3\nl2 = 0.01\ndropout = 0.1\n')
    run = tmp_path / "run"
    assert (
        main(["train", "--config", str(config), "--epochs", "4", "--quiet", "--out", str(run)]) == 0
    )
    saved = RunConfig.from_toml(run / "config.toml")
    assert saved.dataset == "moons" and saved.layers == [6, 4] and saved.l2 == 0.01
    assert saved.epochs == 4  # the flag overrides the file
    model = load_model(run / "model.safetensors")
    assert [layer.name for layer in model.layers][:2] == ["dense_1", "dropout_1"]


def test_resume_continues_from_checkpoint(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *PLANAR, "--epochs", "3", "--out", str(run)]) == 0
    assert load_model(run / "checkpoint.safetensors").initial_epoch == 3
    assert main(["train", "--resume", str(run), "--epochs", "5", "--quiet"]) == 0
    with (run / "history.csv").open() as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == [1, 2, 3, 4, 5]
    assert load_model(run / "checkpoint.safetensors").initial_epoch == 5


def test_resume_equals_uninterrupted_run(tmp_path):
    """Train 2 + 2 epochs with a resume in between == 4 epochs straight (same seed)."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", *PLANAR, "--epochs", "4", "--out", str(a)]) == 0
    assert main(["train", *PLANAR, "--epochs", "2", "--out", str(b)]) == 0
    assert main(["train", "--resume", str(b), "--epochs", "4", "--quiet"]) == 0
    wa = load_model(a / "model.safetensors").get_weights()
    wb = load_model(b / "model.safetensors").get_weights()
    assert wa.keys() == wb.keys()
    for name in wa:  # optimizer state, epoch count and the shuffle generator carry over
        np.testing.assert_array_equal(wa[name], wb[name], err_msg=name)


def test_bad_options_give_clear_errors(tmp_path, capsys):
    assert main(["train", "--dataset", "nosuch", "--quiet", "--out", str(tmp_path / "r")]) == 2
    assert "unknown dataset 'nosuch'" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--optimizer",
                "adamax",
                "--dataset",
                "planar",
                "--quiet",
                "--out",
                str(tmp_path / "r2"),
            ]
        )
        == 2
    )
    assert "unknown optimizer 'adamax'" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("layerz = [3]\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "unknown keys layerz" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="dropout must be in \\[0, 1\\), got 1.5"):
        RunConfig(dropout=1.5)


def test_nan_loss_stops_cleanly(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "--dataset",
            "planar",
            "--layers",
            "32,32",
            "--activation",
            "relu",
            "--optimizer",
            "sgd",
            "--learning-rate",
            "1e30",
            "--epochs",
            "5",
            "--quiet",
            "--out",
            str(run),
        ]
    )
    assert code == 1
    out = capsys.readouterr()
    assert "training stopped" in out.out + out.err
    assert "stop_reason" in read_metrics(run)


@pytest.mark.slow
@pytest.mark.skipif(not _has_mnist(), reason="MNIST not found")
def test_default_mnist_run_reaches_97_5_percent(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--quiet", "--out", str(run)]) == 0
    metrics = read_metrics(run)
    assert metrics["test"]["accuracy"] >= 0.975
    assert np.isfinite(metrics["dev"]["loss"])


@pytest.mark.slow
@pytest.mark.skipif(not _has_mnist(), reason="MNIST not found")
def test_mnist_cnn_example_reaches_99_percent(tmp_path):
    """examples/mnist_cnn.toml: the LeNet-style CNN (about 2 minutes on 2 cores)."""
    run = tmp_path / "run"
    config = Path(__file__).resolve().parents[2] / "examples" / "mnist_cnn.toml"
    assert main(["train", "--config", str(config), "--quiet", "--out", str(run)]) == 0
    assert read_metrics(run)["test"]["accuracy"] >= 0.990


def image_npz(path, rng, m=240):
    """16x16 images of 3 classes: a bright row band whose position is the class."""

    def part(n):
        y = rng.integers(0, 3, n)
        x = rng.integers(0, 60, (n, 16, 16)).astype(np.uint8)
        for k in range(3):
            x[y == k, 4 * k + 2 : 4 * k + 5] += 180
        return x, y

    (xa, ya), (xb, yb) = part(m), part(m // 3)
    np.savez(path, x_train=xa, y_train=ya, x_test=xb, y_test=yb)
    return path


@pytest.mark.parametrize("model", ["cnn", "resnet"])
def test_cli_trains_the_image_models(tmp_path, model):
    data = image_npz(tmp_path / "bands.npz", np.random.default_rng(0))
    run = tmp_path / model
    code = main(
        [
            "train",
            "--model",
            model,
            "--dataset",
            str(data),
            "--epochs",
            "10",
            "--batch-size",
            "32",
            "--learning-rate",
            "0.003",
            "--decay",  # a constant rate and no shifts: the MNIST recipes' decay and
            "none",  # 2-pixel shifts (resnet) do not suit 10 epochs of 3-row bands
            "--no-augment",
            "--quiet",
            "--out",
            str(run),
        ]
    )
    assert code == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.9
    arch = json.loads((run / "model.json").read_text())
    assert arch["class"] == ("Sequential" if model == "cnn" else "Model")
