"""Studies: resuming, workers, coarse to fine, pruning, the CLI, objectives that score trials."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import tomllib

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from searches import BASE, FINISHED, SEARCH, finished, write_search
from sklearn.metrics import f1_score, precision_score, recall_score

from nnlab import tuning
from nnlab.cli.main import main
from nnlab.exceptions import ConfigError
from nnlab.runs.config import RunConfig
from nnlab.runs.runner import build_model, load_data
from nnlab.saving import model_file as io
from nnlab.training import metrics
from nnlab.training.callbacks import Callback, EarlyStopping, ModelCheckpoint
from nnlab.tuning import study as tuning_study


# ------------------------------------------------------------------ studies
def test_a_rerun_continues_the_study_and_draws_what_one_run_would(coarse, tmp_path):
    config = write_search(tmp_path / "moons_search.toml")
    first = tuning.tune(config, 2, out_dir=tmp_path / "out", verbose=False)
    assert len(finished(first.study)) == 2
    again = tuning.tune(config, 4, out_dir=tmp_path / "out", verbose=False)
    assert len(finished(again.study)) == 4 and len(again.study.trials) == 4
    reference = {t.number: (t.params, t.value) for t in coarse.study.trials}
    assert {t.number: (t.params, t.value) for t in again.study.trials} == reference
    done = tuning.tune(config, 4, out_dir=tmp_path / "out", verbose=False)  # nothing left
    assert len(done.study.trials) == 4


def test_a_study_of_another_search_is_not_continued(coarse):
    changed = {**SEARCH, "dropout": {"low": 0.0, "high": 0.2}}
    with pytest.raises(ConfigError, match="different base config or \\[search\\] table"):
        tuning.tune(
            (RunConfig.from_dict(BASE), changed),
            8,
            storage=coarse.storage,
            study_name=coarse.study.study_name,
            out_dir=coarse.out_dir,
            verbose=False,
        )


def test_a_killed_worker_is_resumed(tmp_path, monkeypatch):
    config = write_search(tmp_path / "search.toml")
    out, storage = tmp_path / "out", tuning.default_storage(tmp_path / "out")
    out.mkdir()
    tuning.open_study(storage, "s")  # created here, so that polling it races with nothing
    worker = subprocess.Popen(
        [sys.executable, "-m", "nnlab.cli.main", "tune", str(config), "--worker", "0", "--quiet"]
        + ["--trials", "50", "--storage", storage, "--study-name", "s", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: killable(storage, "s"), timeout=60)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    study = optuna.load_study(study_name="s", storage=storage)
    done = len(finished(study))
    running = [t.number for t in study.trials if t.state == TrialState.RUNNING]
    assert done >= 1 and len(running) == 1  # killed in the middle of a trial
    # A killed trial is failed once its heartbeat is STALE_AFTER_SECONDS old; shorten it here.
    monkeypatch.setattr(tuning_study, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(tuning_study, "STALE_AFTER_SECONDS", 1)
    result = tuning.tune(
        config, done + 1, storage=storage, study_name="s", out_dir=out, verbose=False
    )
    assert len(finished(result.study)) == done + 1
    states = {t.number: t.state for t in result.study.trials}
    assert all(states[n] == TrialState.FAIL for n in running)
    assert TrialState.RUNNING not in states.values()


def killable(storage, name):
    """True once the study has a finished trial and a running one."""
    study = optuna.load_study(study_name=name, storage=storage)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return True if TrialState.RUNNING in states and set(FINISHED) & set(states) else None


def wait_for(probe, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := probe()) is not None:
            return value
        time.sleep(0.05)
    raise AssertionError(f"nothing after {timeout} s")


def test_workers_share_one_study(tmp_path):
    config = write_search(tmp_path / "search.toml")
    result = tuning.tune(config, 4, workers=2, out_dir=tmp_path / "out", verbose=False)
    trials = result.study.trials
    assert len(trials) == 4 and len(finished(result.study)) == 4
    assert {t.user_attrs["worker"] for t in trials} == {0, 1}  # both processes trained
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4  # no repeated draws


# ---------------------------------------------------------- coarse to fine
def test_refine_narrows_around_the_best_trials(coarse):
    refined = tuning.refine_space(coarse.study, coarse.space)
    best = coarse.study.best_trial.params
    narrower = 0
    for old, new in zip(coarse.space.ranges, refined.ranges, strict=True):
        if isinstance(new, tuning.Choice):
            assert new == old
            continue
        if isinstance(new, tuning.LayersRange):
            widths = [v for k, v in best.items() if k.startswith("width_")]
            bounds = [
                (
                    (old.count_low, old.count_high),
                    (new.count_low, new.count_high),
                    [best["n_layers"]],
                ),
                ((old.width_low, old.width_high), (new.width_low, new.width_high), widths),
            ]
        else:
            name = getattr(new, "name", new.field)
            bounds = [((old.low, old.high), (new.low, new.high), [best[name]])]
        for (low, high), (new_low, new_high), values in bounds:
            assert low <= new_low <= min(values) and max(values) <= new_high <= high
            narrower += (new_low, new_high) != (low, high)
    assert narrower >= 3


def test_tune_refine_runs_a_second_study_on_the_narrowed_ranges(coarse):
    result = tuning.tune_refine(coarse, 2, verbose=False)
    base, space = tuning.load_search_config(coarse.out_dir / "refined_search.toml")
    assert base == coarse.base and space == tuning.refine_space(coarse.study, coarse.space)
    assert result.study.study_name == coarse.study.study_name + "-refined"
    assert result.out_dir == coarse.out_dir / "refined"
    assert len(finished(result.study)) == 2 and (result.out_dir / "best_config.toml").exists()
    lr = next(r for r in space.ranges if r.field == "learning_rate")
    assert all(lr.low <= t.params["learning_rate"] <= lr.high for t in result.study.trials)


# ------------------------------------------------------------------ pruning
class StubTrial:
    def __init__(self, prune_at):
        self.prune_at, self.reports = prune_at, []

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return self.reports[-1][0] == self.prune_at


def fit_with(callback, epochs=5):
    config = RunConfig.from_dict(BASE)
    data = load_data(config)
    model = build_model(config, data.x_train.shape[1:], data.n_classes)
    return model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        validation_data=(data.x_dev, data.y_dev),
        callbacks=[callback],
        verbose=0,
    )


def test_pruning_callback_reports_each_epoch_and_stops_when_told():
    trial = StubTrial(prune_at=1)
    callback = tuning.PruningCallback(trial)
    history = fit_with(callback)
    assert history.epoch == [0, 1]  # stopped after the second epoch
    assert trial.reports == [(0, history["val_accuracy"][0]), (1, history["val_accuracy"][1])]
    with pytest.raises(optuna.TrialPruned, match="after epoch 2"):
        callback.raise_if_pruned()
    kept = tuning.PruningCallback(StubTrial(prune_at=None))
    assert len(fit_with(kept, epochs=3).epoch) == 3
    kept.raise_if_pruned()  # not pruned: nothing raised


def test_pruning_callback_needs_validation_data():
    callback = tuning.PruningCallback(StubTrial(prune_at=None))
    assert isinstance(callback, Callback)
    with pytest.raises(ConfigError, match="'val_accuracy' is not in the logs"):
        callback.on_epoch_end(0, {"loss": 1.0})


MODES = {  # metric -> the way it improves, for the callbacks, the pruner and the study alike
    "loss": "min",
    "val_loss": "min",
    "accuracy": "max",
    "val_accuracy": "max",
    "acc": "max",
    "val_acc": "max",
    "val_f1": "max",
    "val_precision": "max",
    "val_recall": "max",
    "val_auc": "max",
    "val_mean_squared_error": "min",
    "dev.accuracy": "max",
    "dev.loss": "min",
    "dev.f1": "max",
    "dev.precision": "max",
    "dev.recall": "max",
    "train.accuracy": "max",
    "train.loss": "min",
    "ms_per_example": "min",
    "params": "min",
}


@pytest.mark.parametrize("name, mode", MODES.items())
def test_callbacks_pruner_and_study_agree_on_the_mode_of_every_metric(name, mode, tmp_path):
    modes = {
        "EarlyStopping": EarlyStopping(monitor=name).mode,
        "ModelCheckpoint": ModelCheckpoint(tmp_path / "model.safetensors", monitor=name).mode,
        "PruningCallback": tuning.PruningCallback(StubTrial(prune_at=None), monitor=name).mode,
        "study": {"maximize": "max", "minimize": "min"}[metrics.Objective(name).direction],
    }
    assert modes == dict.fromkeys(modes, mode)


def test_every_metric_a_study_measures_has_its_mode_checked():
    assert set(tuning.RESULT_KEYS) <= set(MODES)


def test_the_pruner_only_runs_where_its_metric_goes_the_study_s_way():
    assert tuning_study.prunable(tuning.default_objective())
    assert not tuning_study.prunable(metrics.Objective("dev.accuracy", "minimize"))
    assert not tuning_study.prunable(metrics.Objective("dev.f1"))  # no epoch log to prune on
    against = optuna.create_study(direction="minimize").ask()
    with pytest.raises(ConfigError, match=r"'val_accuracy' improves as it gets larger .* minimize"):
        tuning.PruningCallback(against).on_train_begin()
    tuning.PruningCallback(optuna.create_study(direction="maximize").ask()).on_train_begin()


def test_the_median_pruner_stops_an_obviously_bad_trial(tmp_path, monkeypatch):
    monkeypatch.setattr(tuning_study, "PRUNE_AFTER_TRIALS", 1)
    base = RunConfig.from_dict({**BASE, "layers": [8], "epochs": 4})
    space = {"learning_rate": {"low": 1e-7, "high": 0.1, "log": True}}
    storage = tuning.default_storage(tmp_path)
    study = tuning.open_study(storage, "p")
    study.enqueue_trial({"learning_rate": 0.05})  # learns
    study.enqueue_trial({"learning_rate": 1e-7})  # cannot learn in 4 epochs
    tuning.run_worker(
        (base, space), 2, storage=storage, study_name="p", out_dir=tmp_path, verbose=False
    )
    good, bad = study.trials
    assert good.state == TrialState.COMPLETE
    assert bad.state == TrialState.PRUNED and bad.user_attrs["epochs"] == 2
    assert max(bad.intermediate_values) == 1  # reported epochs 1 and 2, then stopped


# ---------------------------------------------------------------------- CLI
def test_cli_tune_prints_the_table_and_continues_a_finished_study(coarse, capsys):
    config = coarse.out_dir.parent / "moons_search.toml"
    code = main(["tune", str(config), "--trials", "4", "--out", str(coarse.out_dir), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "study 'tune-moons_search'" in out and "rank  number" in out
    assert f"best dev accuracy {coarse.study.best_value:.2%}" in out
    assert "best_config.toml" in out
    assert (
        len(optuna.load_study(study_name="tune-moons_search", storage=coarse.storage).trials) == 4
    )


def test_cli_tune_reports_a_bad_search_entry(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('dataset = "moons"\n[search]\nlearning_rate = {low = 0.1, high = 0.001}\n')
    assert main(["tune", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "search.learning_rate: expected low <= high" in capsys.readouterr().err


def test_cli_tune_epochs_overrides_the_epochs_of_every_trial(tmp_path, capsys):
    """BASE trains 3 epochs; --epochs 1 makes a quicker search of 1-epoch trials."""
    search = {"learning_rate": SEARCH["learning_rate"]}
    config = write_search(tmp_path / "quick.toml", search=search)
    out = tmp_path / "out"
    args = ["tune", str(config), "--trials", "2", "--epochs", "1", "--out", str(out), "--quiet"]
    assert main(args) == 0
    study = optuna.load_study(study_name="tune-quick", storage=tuning.default_storage(out))
    trials = finished(study)
    assert len(trials) == 2
    assert [t.user_attrs["config"]["epochs"] for t in trials] == [1, 1]
    assert [t.user_attrs["epochs"] for t in trials] == [1, 1]  # epochs actually trained
    assert tomllib.loads((out / "best_config.toml").read_text())["epochs"] == 1


def test_cli_tune_epochs_is_refused_when_the_search_draws_epochs(tmp_path, capsys):
    search = {"epochs": {"low": 1, "high": 3, "int": True}}
    config = write_search(tmp_path / "epochs.toml", search=search)
    assert main(["tune", str(config), "--epochs", "2", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "epochs = 2 (--epochs) conflicts with the [search] table" in err, err
    with pytest.raises(SystemExit):
        main(["tune", str(config), "--epochs", "0"])
    assert "argument --epochs: expected an integer >= 1, got '0'" in capsys.readouterr().err


# ---------------------------------------------------------------- objective
def tune_with(tmp_path, objective, n_trials=2, base=BASE, search=None, **options):
    """tune() on a (base, search, objective) tuple into tmp_path / "out"."""
    search = search or {"learning_rate": SEARCH["learning_rate"]}
    config = (RunConfig.from_dict(base), search, objective)
    return tuning.tune(config, n_trials, out_dir=tmp_path / "out", verbose=False, **options)


def read_rows(out):
    with (out / "trials.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_the_default_objective_is_dev_accuracy_and_every_trial_measures_its_results(coarse):
    assert coarse.objective == metrics.Objective("dev.accuracy", "maximize", {})
    assert coarse.study.direction == optuna.study.StudyDirection.MAXIMIZE
    for trial in coarse.study.trials:
        results = trial.user_attrs["results"]
        assert list(results) == list(tuning.RESULT_KEYS)
        saved = json.loads(
            (coarse.out_dir / "trials" / str(trial.number) / "metrics.json").read_text()
        )
        assert trial.value == results["dev.accuracy"] == saved["dev"]["accuracy"]
        assert results["dev.loss"] == saved["dev"]["loss"]
        assert results["train.accuracy"] == saved["train"]["accuracy"]
        model = io.load_model(coarse.out_dir / "trials" / str(trial.number) / "model.safetensors")
        assert results["params"] == model.count_params() > 0
        assert 0 < results["ms_per_example"] < 1000
    rows = read_rows(coarse.out_dir)
    assert [r["feasible"] for r in rows] == ["yes"] * 4
    assert "violations" not in rows[0]  # no constraints, no violations column
    search = tomllib.loads((coarse.out_dir / "search.toml").read_text())
    assert search["objective"] == {
        "optimize": "dev.accuracy",
        "direction": "maximize",
        "constraints": {},
    }


def blobs_npz(path, seed=0):
    """Three Gaussian blobs in 2-D: a tiny 3-class dataset (360 examples)."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 1.7]])
    y = np.repeat(np.arange(3), 120)
    x = (centers[y] + rng.normal(scale=0.6, size=(360, 2))).astype(np.float32)
    order = rng.permutation(360)
    x, y = x[order], y[order]
    np.savez(path, x_train=x[:300], y_train=y[:300], x_test=x[300:], y_test=y[300:])
    return str(path)


@pytest.mark.parametrize("dataset, average", [("moons", "binary"), ("blobs", "macro")])
def test_an_f1_objective_scores_each_trial_by_the_f1_of_its_model(tmp_path, dataset, average):
    if dataset == "blobs":
        dataset = blobs_npz(tmp_path / "blobs.npz")
    base = {**BASE, "dataset": dataset, "dev_size": 0.2}
    result = tune_with(tmp_path, {"optimize": "dev.f1"}, base=base)
    assert result.study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert any("pruning off" in note for note in result.notes)
    data = load_data(RunConfig.from_dict(base))
    x_dev, y_dev = data.x_dev, data.y_dev
    assert len(np.unique(y_dev)) == (2 if average == "binary" else 3)
    for trial in result.study.trials:
        assert trial.state == TrialState.COMPLETE
        model = io.load_model(result.out_dir / "trials" / str(trial.number) / "model.safetensors")
        y_pred = metrics.predicted_classes(model.predict(x_dev))
        assert trial.value == pytest.approx(f1_score(y_dev, y_pred, average=average), abs=1e-12)
        assert trial.value == metrics.f1(y_dev, y_pred, average)
        results = trial.user_attrs["results"]
        assert results["dev.precision"] == pytest.approx(
            precision_score(y_dev, y_pred, average=average, zero_division=0), abs=1e-12
        )
        assert results["dev.recall"] == pytest.approx(
            recall_score(y_dev, y_pred, average=average, zero_division=0), abs=1e-12
        )
    rows = read_rows(result.out_dir)
    assert list(rows[0])[:6] == ["rank", "number", "state", "dev_f1", "feasible", "dev_accuracy"]
    assert (
        float(rows[0]["dev_f1"]) == result.best_value == max(t.value for t in result.study.trials)
    )
    assert "dev.f1" in (result.out_dir / "best_config.toml").read_text().splitlines()[0]


def test_a_constraint_no_trial_meets_leaves_no_best(tmp_path, capsys):
    objective = {"constraints": {"ms_per_example": ["<=", 0.0]}, "optimize": "dev.accuracy"}
    with pytest.raises(tuning.NoFeasibleTrialError, match="no feasible trial") as err:
        tune_with(tmp_path, objective)
    assert "ms_per_example <= 0" in str(err.value) and "trial 0: ms_per_example = " in str(
        err.value
    )
    result = err.value.result
    assert result.best_config is None and result.best_trial is None and result.best_value is None
    assert not (result.out_dir / "best_config.toml").exists()
    assert "no trial met the [objective] constraints" in " ".join(result.notes)
    for trial in result.study.trials:
        assert trial.state == TrialState.PRUNED  # infeasible: never the study's best
        assert trial.user_attrs["violations"][0].startswith("ms_per_example = ")
    rows = read_rows(result.out_dir)
    assert [(r["state"], r["feasible"]) for r in rows] == [("infeasible", "no")] * 2
    assert all(r["violations"].endswith("not <= 0") for r in rows)
    # The CLI (continuing the finished study) prints the table, then the error.
    config = tmp_path / "search.toml"
    config.write_text((result.out_dir / "search.toml").read_text())
    code = main(["tune", str(config), "--trials", "2", "--out", str(result.out_dir), "--quiet"])
    out, errors = capsys.readouterr()
    assert code == 2 and "infeasible" in out and "best " not in out
    assert "no feasible trial" in errors and "ms_per_example <= 0" in errors


def test_a_constraint_every_trial_meets_changes_nothing(coarse, tmp_path):
    objective = {
        "optimize": "dev.accuracy",
        "constraints": {"ms_per_example": ["<=", 1e6], "params": ["<=", 1e9]},
    }
    config = (RunConfig.from_dict(BASE), SEARCH, objective)
    result = tuning.tune(config, 2, out_dir=tmp_path / "out", verbose=False)
    reference = {t.number: (t.params, t.value) for t in coarse.study.trials if t.number < 2}
    assert {t.number: (t.params, t.value) for t in result.study.trials} == reference
    rows = read_rows(result.out_dir)
    assert [r["feasible"] for r in rows] == ["yes", "yes"] and not rows[0]["violations"]
    assert {"ms_per_example", "params", "dev_accuracy"} <= set(rows[0])
    best = max(reference, key=lambda n: (reference[n][1], -n))
    assert result.best_trial.number == best and result.best_value == reference[best][1]


def test_a_params_constraint_excludes_the_big_network(tmp_path):
    search = {
        "layers": {"choices": [[4], [64, 64]]},
        "learning_rate": {"low": 1e-2, "high": 1e-1, "log": True},
    }
    objective = {"optimize": "dev.accuracy", "constraints": {"params": ["<=", 100]}}
    result = tune_with(tmp_path, objective, n_trials=4, search=search)
    rows = read_rows(result.out_dir)
    big = [r for r in rows if r["layers"] == "[64, 64]"]
    small = [r for r in rows if r["layers"] == "[4]"]
    assert big and small, "the sampler should draw both networks"
    assert all(r["state"] == "complete" and r["feasible"] == "yes" for r in small)
    assert all(r["state"] == "infeasible" and r["feasible"] == "no" for r in big)
    assert all(r["violations"] == "params = 4417, not <= 100" for r in big)
    assert rows[: len(small)] == small  # feasible trials first, best first
    assert [float(r["dev_accuracy"]) for r in small] == sorted(
        (float(r["dev_accuracy"]) for r in small), reverse=True
    )
    assert (
        result.best_config.layers == [4] and result.best_trial.user_attrs["results"]["params"] == 17
    )
    assert RunConfig.from_toml(result.out_dir / "best_config.toml").layers == [4]


def test_a_minimized_objective_makes_a_minimizing_study(tmp_path):
    result = tune_with(tmp_path, {"optimize": "dev.loss", "direction": "minimize"})
    assert result.study.direction == optuna.study.StudyDirection.MINIMIZE
    losses = [float(r["dev_loss"]) for r in read_rows(result.out_dir)]
    assert losses == sorted(losses) and result.best_value == min(losses)


def test_refine_narrows_around_the_lowest_values_of_a_minimizing_study():
    _, space = tuning.load_search_config(
        {**BASE, "search": {"learning_rate": {"low": 1e-4, "high": 1e-1, "log": True}}}
    )
    study = optuna.create_study(direction="minimize")
    for lr in np.logspace(-4, -1, 10):
        study.add_trial(
            optuna.trial.create_trial(
                params={"learning_rate": lr},
                distributions={
                    "learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
                },
                value=lr,  # the smaller the better
            )
        )
    refined = tuning.refine_space(study, space).ranges[0]
    assert refined.low == 1e-4 and refined.high < 1e-3  # around the three smallest


def test_a_study_is_not_continued_with_another_objective(coarse, tmp_path):
    def resume(objective, storage=coarse.storage, name=coarse.study.study_name):
        config = (RunConfig.from_dict(BASE), SEARCH, objective)
        kwargs = dict(storage=storage, study_name=name, out_dir=tmp_path, verbose=False)
        return tuning.tune(config, 8, **kwargs)

    message = r"different base config or \[search\] table or \[objective\]"
    with pytest.raises(ConfigError, match=message + r" \(\[objective\]; direction"):
        resume({"optimize": "dev.loss", "direction": "minimize"})
    with pytest.raises(ConfigError, match=message + r" \(\[objective\]\)"):
        resume({"optimize": "dev.f1"})
    with pytest.raises(ConfigError, match=message):
        resume({"optimize": "dev.accuracy", "constraints": {"params": ["<=", 1e9]}})
    storage = tuning.default_storage(tmp_path)
    tuning.open_study(storage, "fresh")  # an empty study, created maximizing
    with pytest.raises(ConfigError, match="direction: the study is set to maximize"):
        resume({"optimize": "dev.loss", "direction": "minimize"}, storage, "fresh")
    assert len(coarse.study.trials) == 4


def test_the_data_cache_keeps_images_and_flat_inputs_apart(tmp_path):
    """A search over model = mlp | cnn loads the data once for each input layout."""
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny_images.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 255, (40, 6, 6), dtype=np.uint8),
        y_train=rng.integers(0, 2, 40),
        x_test=rng.integers(0, 255, (10, 6, 6), dtype=np.uint8),
        y_test=rng.integers(0, 2, 10),
    )
    objective = tuning_study._Objective(None, None, None, tmp_path, False, 0, None)
    flat = objective.data(RunConfig(dataset=str(path), model="mlp"))
    images = objective.data(RunConfig(dataset=str(path), model="cnn"))
    assert flat.x_train.shape[1:] == (36,)
    assert images.x_train.shape[1:] == (6, 6, 1)
