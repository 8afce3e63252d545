"""The run folder: its file names, new folders, model files, configs and the diagnosis."""

import json
import re
from types import SimpleNamespace

import pytest

from nnlab.exceptions import ConfigError, InputValueError, ModelFileError
from nnlab.runs import folder as folder_module
from nnlab.runs.config import RunConfig
from nnlab.runs.folder import Entry, RunFolder, diagnose_run
from nnlab.runs.runner import train


def test_entries_are_paths_on_a_folder_and_names_on_the_class(tmp_path):
    folder = RunFolder(tmp_path / "run")
    assert folder.metrics == tmp_path / "run" / "metrics.json"
    assert folder.gallery == tmp_path / "run" / "errors" / "gallery.png"
    assert RunFolder.checkpoint.name == "checkpoint.safetensors"
    assert isinstance(RunFolder.config, Entry)


def test_every_entry_has_its_own_name_and_a_description():
    entries = RunFolder.entries()
    names = [entry.name for entry in entries]
    assert len(names) == len(set(names)) == 15
    assert all(entry.about for entry in entries)
    listing = RunFolder.listing().splitlines()
    assert [line.split()[0] for line in listing] == names


def test_new_folder_is_named_by_time_and_dataset(tmp_path):
    folder = RunFolder.new("data/my_set.npz", root=tmp_path / "runs")
    assert folder.path.is_dir() and folder.path.parent == tmp_path / "runs"
    assert re.fullmatch(r"\d{8}-\d{6}-my_set", folder.path.name)


def test_new_folders_in_the_same_second_are_never_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_module, "time", SimpleNamespace(strftime=lambda _: "20261124-1830"))
    names = [RunFolder.new("mnist", root=tmp_path).path.name for _ in range(3)]
    assert names == ["20261124-1830-mnist", "20261124-1830-mnist-2", "20261124-1830-mnist-3"]


def test_a_run_writes_exactly_the_entries_outside_errors(tmp_path):
    config = RunConfig(dataset="planar", layers=[3], epochs=1, batch_size=64)
    train(config, tmp_path / "run", verbose=0)
    written = {path.name for path in (tmp_path / "run").iterdir()}
    entries = {entry.name for entry in RunFolder.entries() if not entry.name.startswith("errors")}
    assert written == entries


def test_for_model_takes_a_folder_or_a_model_file(tmp_path):
    folder, model = RunFolder.for_model(tmp_path)
    assert folder.path == tmp_path and model == tmp_path / "model.safetensors"
    other = tmp_path / "best.safetensors"
    folder, model = RunFolder.for_model(other)
    assert folder.path == tmp_path and model == other


def test_config_or_reads_the_config_or_falls_back(tmp_path):
    folder = RunFolder(tmp_path)
    fallback = RunConfig(dataset="planar")
    assert folder.config_or(fallback) is fallback
    with pytest.raises(ConfigError, match="config.toml' does not exist"):
        folder.read_config()
    folder.config.write_text(RunConfig(dataset="moons", layers=[3]).to_toml())
    assert folder.config_or(fallback) == RunConfig(dataset="moons", layers=[3])


# ------------------------------------------------------------------ diagnosis
def write_metrics(run_dir, **accuracies):
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics = {part: {"loss": 0.1, "accuracy": acc} for part, acc in accuracies.items()}
    (run_dir / "metrics.json").write_text(json.dumps({**metrics, "train_seconds": 1.0}))


def test_diagnose_run_reads_errors_from_metrics_json(tmp_path):
    write_metrics(tmp_path, train=0.99, train_dev=0.985, dev=0.9, test=0.89)
    d = diagnose_run(tmp_path, human_error=0.005)
    assert d.errors == pytest.approx(
        {"human": 0.005, "train": 0.01, "train_dev": 0.015, "dev": 0.1, "test": 0.11}
    )
    assert d.dominant == "data_mismatch"


def test_diagnose_run_bad_folders(tmp_path):
    with pytest.raises(ModelFileError, match="metrics.json"):
        diagnose_run(tmp_path)
    write_metrics(tmp_path, train=0.9)
    with pytest.raises(InputValueError, match="numeric 'dev' accuracy, got None"):
        diagnose_run(tmp_path)
