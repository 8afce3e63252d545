"""Run folders are safe (issue 9, item 1): one writer at a time, a folder holding a run is
never silently reused, a run that fails early leaves nothing, dataset paths are absolute."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnlab
from nnlab.cli.evaluate import format_metrics
from nnlab.cli.main import main
from nnlab.runs.config import RunConfig
from nnlab.runs.folder import RunFolder, RunFolderError

SRC = str(Path(nnlab.__file__).resolve().parents[1])


def write_blobs(path, m=240, seed=0) -> Path:
    """A tiny 3-class .npz in the Keras layout: Gaussian blobs in 4 dimensions."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=m)
    x = (rng.normal(size=(m, 4)) + 2.0 * np.eye(3, 4)[y]).astype(np.float32)
    np.savez(path, x_train=x[:200], y_train=y[:200], x_test=x[200:], y_test=y[200:])
    return path


def nnlab_process(*args, cwd=None) -> subprocess.Popen:
    """``python -m nnlab.cli ARGS`` as a child process (this checkout's nnlab)."""
    env = {**os.environ, "PYTHONPATH": SRC, "MPLBACKEND": "Agg"}
    return subprocess.Popen(
        [sys.executable, "-m", "nnlab.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def quick_run(data, out, *extra):
    return ["train", "--dataset", str(data), "--layers", "8", "--epochs", "2", "--quiet",
            "--out", str(out), *extra]  # fmt: skip


def test_a_second_writer_is_refused_naming_the_folder_and_the_holder(tmp_path):
    folder = RunFolder(tmp_path / "run")
    with folder.claim():
        assert (tmp_path / "run" / ".lock").read_text().strip() == str(os.getpid())
        with pytest.raises(RunFolderError) as caught:
            with RunFolder(tmp_path / "run").claim():
                pass
    message = str(caught.value)
    assert f"run folder {tmp_path / 'run'} is being written by another run" in message
    assert f"pid {os.getpid()}" in message and "\n" not in message
    assert not (tmp_path / "run" / ".lock").exists()  # released


def test_the_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text(f"{dead.pid}\n")
    assert main(quick_run(write_blobs(tmp_path / "blobs.npz"), run)) == 0
    assert (run / "model.safetensors").exists() and not (run / ".lock").exists()


def test_a_folder_holding_a_run_needs_overwrite(tmp_path, capsys):
    data, run = write_blobs(tmp_path / "blobs.npz"), tmp_path / "run"
    assert main(quick_run(data, run)) == 0
    before = (run / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert main(quick_run(data, run, "--seed", "1")) == 2
    err = capsys.readouterr().err
    assert f"run folder {run} is not empty" in err and "--overwrite" in err
    assert (run / "model.safetensors").read_bytes() == before  # untouched
    assert main(quick_run(data, run, "--seed", "1", "--overwrite")) == 0
    assert RunConfig.from_toml(run / "config.toml").seed == 1
    assert (run / "model.safetensors").read_bytes() != before


def test_overwrite_never_empties_a_folder_that_holds_no_run(tmp_path, capsys):
    data, out = write_blobs(tmp_path / "blobs.npz"), tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(quick_run(data, out, "--overwrite")) == 2
    assert "holds no config.toml" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"


def test_a_run_that_fails_before_training_leaves_no_folder(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(quick_run(tmp_path / "missing.npz", run)) == 2
    assert "missing.npz" in capsys.readouterr().err
    assert not run.exists()
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((10, 2)), y_train=np.zeros(10, int))  # no test part
    assert main(quick_run(bad, run)) == 2
    assert not run.exists()


def test_dataset_paths_are_absolute_so_other_commands_work_anywhere(tmp_path, monkeypatch, capsys):
    (tmp_path / "work").mkdir()
    write_blobs(tmp_path / "work" / "blobs.npz")
    monkeypatch.chdir(tmp_path / "work")
    assert main(quick_run("blobs.npz", "run")) == 0
    saved = RunConfig.from_toml(tmp_path / "work" / "run" / "config.toml").dataset
    assert saved == str(tmp_path / "work" / "blobs.npz")
    metrics = json.loads((tmp_path / "work" / "run" / "metrics.json").read_text())
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "work" / "run")]) == 0
    assert capsys.readouterr().out.rstrip("\n") == format_metrics(metrics)


def test_two_trainings_on_one_folder_at_once(tmp_path, capsys):
    """One succeeds; the other fails with one clear line; evaluate reproduces the metrics."""
    data, run = write_blobs(tmp_path / "blobs.npz", m=2000), tmp_path / "run"
    args = ["train", "--dataset", str(data), "--layers", "32", "--epochs", "6", "--quiet",
            "--batch-size", "16", "--out", str(run)]  # fmt: skip
    first = nnlab_process(*args, "--seed", "1")
    second = nnlab_process(*args, "--seed", "2")
    results = [(p.wait(timeout=120), *p.communicate()) for p in (first, second)]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    winner_seed, winner = next((k + 1, r) for k, r in enumerate(results) if r[0] == 0)
    loser = next(r for r in results if r[0] == 2)
    error = [line for line in loser[2].splitlines() if line.startswith("nnlab: error:")]
    assert len(error) == 1 and f"run folder {run}" in error[0], loser[2]
    assert "Traceback" not in loser[2]
    assert RunConfig.from_toml(run / "config.toml").seed == winner_seed
    metrics = json.loads((run / "metrics.json").read_text())
    assert format_metrics(metrics) in winner[1]  # the folder is the winner's run
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    assert capsys.readouterr().out.rstrip("\n") == format_metrics(metrics)
