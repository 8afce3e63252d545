"""What a study leaves behind: the ranked trials.csv, best_config.toml and the plots."""

from __future__ import annotations

import csv

from searches import finished

from nnlab import tuning
from nnlab.runs.config import RunConfig
from nnlab.runs.runner import train


def test_tune_writes_the_ranked_table_best_config_and_plots(coarse):
    out = coarse.out_dir
    assert len(finished(coarse.study)) == 4 and len(coarse.study.trials) == 4
    with (out / "trials.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    assert {"number", "state", "dev_accuracy", "learning_rate", "beta", "layers"} <= set(rows[0])
    scores = [float(r["dev_accuracy"]) for r in rows if r["state"] == "complete"]
    assert scores == sorted(scores, reverse=True)
    assert float(rows[0]["dev_accuracy"]) == coarse.best_value == coarse.study.best_value
    assert int(rows[0]["number"]) == coarse.study.best_trial.number
    best = RunConfig.from_toml(out / "best_config.toml")  # a plain run config
    assert best == coarse.best_config and best.dataset == "moons"
    assert best.learning_rate == coarse.study.best_trial.params["learning_rate"]
    assert best.batch_size == 2 ** coarse.study.best_trial.params["log2_batch_size"]
    for name in ("optimization_history", "param_importances", "slice"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", coarse.notes
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0", "1", "2", "3"]
    assert (out / "trials" / "0" / "model.safetensors").exists()
    assert not (out / "trials" / "0" / "checkpoint.safetensors").exists()
    table = tuning.format_table(coarse.rows)
    assert table.splitlines()[0].split()[:4] == ["rank", "number", "state", "dev"]


def test_the_best_config_reproduces_its_score(coarse, tmp_path):
    config = RunConfig.from_toml(coarse.out_dir / "best_config.toml")
    result = train(config, tmp_path / "again", verbose=0)
    assert result.metrics["dev"]["accuracy"] == coarse.study.best_value
