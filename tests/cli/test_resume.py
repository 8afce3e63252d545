"""Resume continues exactly, diagnostics included (issue 9, item 2): history.csv,
layer_stats.json and its warnings cover every epoch; early stopping's state is in the
checkpoint; a finished run is left alone; flags that would change a run are refused."""

import csv
import json
import signal
import time

import numpy as np
import pytest

from nnlab.cli.main import main
from nnlab.runs.config import RunConfig
from nnlab.runs.runner import train
from nnlab.saving.model_file import load_checkpoint, read_model_file, save_model
from nnlab.training.callbacks import Callback

from .test_run_folders import nnlab_process


def write_noisy_blobs(path, m=3000, noise=0.3, seed=0):
    """A 3-class .npz whose labels are ``noise`` random: a net overfits it within a few
    epochs, so early stopping ends the run."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=m)
    x = (rng.normal(size=(m, 20)) + 1.5 * np.eye(3, 20)[y]).astype(np.float32)
    flip = rng.random(m) < noise
    y[flip] = rng.integers(0, 3, size=flip.sum())
    cut = m * 5 // 6
    np.savez(path, x_train=x[:cut], y_train=y[:cut], x_test=x[cut:], y_test=y[cut:])
    return path


def stopping_run(data, out):
    return ["train", "--dataset", str(data), "--layers", "128,128", "--epochs", "40",
            "--batch-size", "8", "--learning-rate", "0.003", "--early-stopping", "2",
            "--dev-size", "0.3", "--quiet", "--out", str(out)]  # fmt: skip


def checkpoint_epoch(run) -> int:
    """The epochs done by the run folder's checkpoint (0 while it has none)."""
    path = run / "checkpoint.safetensors"
    return json.loads(read_model_file(path)[1]["extra"])["epoch"] if path.exists() else 0


def tensors(path) -> dict:
    return read_model_file(path)[0]


def assert_same_run(a, b):
    """The same final weights (bit for bit), history.csv, layer statistics and stop."""
    wa, wb = tensors(a / "model.safetensors"), tensors(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for name in wa:
        np.testing.assert_array_equal(wa[name], wb[name], err_msg=name)
    assert (a / "history.csv").read_text() == (b / "history.csv").read_text()
    stats_a = json.loads((a / "layer_stats.json").read_text())
    stats_b = json.loads((b / "layer_stats.json").read_text())
    assert stats_a == stats_b
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert ma.get("stop_reason") == mb.get("stop_reason")
    assert {k: v for k, v in ma.items() if k != "train_seconds"} == {
        k: v for k, v in mb.items() if k != "train_seconds"
    }


def test_a_killed_early_stopping_run_resumes_to_the_uninterrupted_result(tmp_path):
    data = write_noisy_blobs(tmp_path / "noisy.npz")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert main(stopping_run(data, whole)) == 0
    stop = json.loads((whole / "metrics.json").read_text())["stop_reason"]
    assert stop.startswith("early stopping")
    epochs = len((whole / "history.csv").read_text().splitlines()) - 1
    assert 3 <= epochs < 40

    with (whole / "history.csv").open() as handle:
        losses = [float(row["val_loss"]) for row in csv.DictReader(handle)]
    best = 1 + losses.index(min(losses))  # the epoch whose weights the run ends with
    assert best < epochs

    # killed once the best epoch's checkpoint is written: the best weights are only there
    process = nnlab_process(*stopping_run(data, killed))
    deadline = time.monotonic() + 60
    while checkpoint_epoch(killed) < best and process.poll() is None:
        assert time.monotonic() < deadline, f"no checkpoint of epoch {best} after 60 s"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL, "the run ended before it was killed"
    assert best <= checkpoint_epoch(killed) < epochs  # killed mid-run
    assert not (killed / "metrics.json").exists()

    assert main(["train", "--resume", str(killed), "--quiet"]) == 0
    assert_same_run(whole, killed)


class Interrupt(Callback):
    """Ctrl-C at the end of epoch ``at`` (1-based), before that epoch's checkpoint."""

    def __init__(self, at):
        self.at = at

    def on_epoch_end(self, epoch, logs):
        if epoch + 1 == self.at:
            raise KeyboardInterrupt


def test_resumed_diagnostics_cover_every_epoch_with_their_numbers(tmp_path):
    """history.csv, layer_stats.json, its warnings and the plots of an interrupted and
    resumed run are those of the uninterrupted run (epochs 1..5, not 3..5)."""
    config = RunConfig(dataset="planar", layers=[6, 6], initializer="zeros", epochs=5, seed=3)
    train(config, tmp_path / "whole", verbose=0)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "cut", verbose=0, extra_callbacks=[Interrupt(3)])
    assert not (tmp_path / "cut" / "history.csv").exists()  # killed before the end
    assert main(["train", "--resume", str(tmp_path / "cut"), "--quiet"]) == 0
    stats = json.loads((tmp_path / "cut" / "layer_stats.json").read_text())
    assert stats["history"]["epoch"] == [1, 2, 3, 4, 5]
    assert stats["warnings"] and "at epoch 1:" in stats["warnings"][0]
    assert_same_run(tmp_path / "whole", tmp_path / "cut")
    for plot in ("learning_curves.png", "gradient_norms.png", "activations.png"):
        assert (tmp_path / "cut" / plot).exists(), plot


def test_resuming_a_finished_run_says_so_and_changes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    data = write_noisy_blobs(tmp_path / "noisy.npz", m=600)
    assert (
        main(["train", "--dataset", str(data), "--epochs", "2", "--quiet", "--out", str(run)]) == 0
    )
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.iterdir()}
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"{run} is finished: it trained all its 2 epochs; nothing was changed" in out
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.iterdir()}
    assert after == before


def test_resuming_an_early_stopped_run_says_so_and_changes_nothing(tmp_path, capsys):
    data = write_noisy_blobs(tmp_path / "noisy.npz", m=1200)
    run = tmp_path / "run"
    args = stopping_run(data, run)
    args[args.index("--batch-size") + 1] = "4"
    assert main(args) == 0
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.iterdir()}
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "60", "--quiet"]) == 0
    assert "is finished: early stopping ended it after epoch" in capsys.readouterr().out
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.iterdir()}
    assert after == before


def test_flags_that_would_change_a_resumed_run_are_refused(tmp_path, capsys):
    run = tmp_path / "run"
    data = write_noisy_blobs(tmp_path / "noisy.npz", m=600)
    base = ["train", "--dataset", str(data), "--layers", "8", "--epochs", "2", "--quiet"]
    assert main([*base, "--out", str(run)]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    capsys.readouterr()
    resume = ["train", "--resume", str(run), "--quiet"]
    assert main([*resume, "--learning-rate", "0.1", "--layers", "4", "--epochs", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "would change it" in err
    assert "--learning-rate 0.1 (the run has 0.001)" in err and "--layers 4 (the run has 8)" in err
    assert "--epochs" not in err.split("would change it")[1].split("With --resume")[0]
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    # flags equal to the run's own are no change; --epochs extends the run and is recorded
    assert main([*resume, "--layers", "8", "--dataset", str(data), "--epochs", "3"]) == 0
    assert RunConfig.from_toml(run / "config.toml").epochs == 3
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 3
    assert main([*resume, "--epochs", "2"]) == 2
    assert "--epochs 2 is below the 3 epochs" in capsys.readouterr().err


def test_a_checkpoint_of_an_older_nnlab_resumes_with_the_history_of_its_files(tmp_path):
    """A checkpoint without history or monitor state (nnlab before this change): the epochs
    done come from history.csv and layer_stats.json, so the files still cover every epoch."""
    config = RunConfig(dataset="planar", layers=[6], epochs=3, seed=1)
    train(config, tmp_path / "whole", verbose=0)
    train(config.updated(epochs=2), tmp_path / "old", verbose=0)
    checkpoint = tmp_path / "old" / "checkpoint.safetensors"
    model, extra, _ = load_checkpoint(checkpoint)
    save_model(model, checkpoint, extra_metadata={"epoch": extra["epoch"]})  # the old layout
    assert main(["train", "--resume", str(tmp_path / "old"), "--epochs", "3", "--quiet"]) == 0
    assert_same_run(tmp_path / "whole", tmp_path / "old")
