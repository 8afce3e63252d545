"""The search config file: it round-trips through TOML, [objective] included."""

from __future__ import annotations

import tomllib

import pytest
from searches import BASE, SEARCH, write_search

from nnlab import tuning
from nnlab.exceptions import ConfigError
from nnlab.runs.config import RunConfig
from nnlab.training import metrics


def test_search_config_round_trips_through_toml(tmp_path):
    base, space = tuning.load_search_config({**BASE, "search": SEARCH})
    assert base == RunConfig.from_dict(BASE)
    assert [type(r).__name__ for r in space.ranges] == [
        "NumberRange",
        "NumberRange",
        "OneMinusRange",
        "LayersRange",
        "NumberRange",
        "PowerOfTwoRange",
        "Choice",
    ]
    path = write_search(tmp_path / "s.toml")
    assert tomllib.loads(path.read_text())["search"]["beta"] == SEARCH["beta"]
    assert tuning.load_search_config(path) == (base, space)


def test_a_config_without_search_table_is_refused(tmp_path):
    path = tmp_path / "plain.toml"
    path.write_text('dataset = "moons"\n')
    with pytest.raises(ConfigError, match=r"plain: no \[search\] table"):
        tuning.load_search_config(path)


def test_the_objective_round_trips_through_toml(tmp_path):
    path = tmp_path / "search.toml"
    path.write_text(
        tuning.search_config_toml(*tuning.load_search_config({**BASE, "search": SEARCH}))
        + '\n[objective]\noptimize = "dev.f1"\ndirection = "maximize"\n'
        + 'constraints = { ms_per_example = ["<=", 5.0], dev.recall = [">=", 0.5] }\n'
    )
    base, space, objective = tuning.load_tune_config(path)
    assert objective == metrics.Objective(
        "dev.f1", "maximize", {"ms_per_example": ("<=", 5.0), "dev.recall": (">=", 0.5)}
    )
    assert tuning.load_search_config(path) == (base, space)  # the objective left out
    again = tmp_path / "again.toml"
    again.write_text(tuning.search_config_toml(base, space, objective))
    assert tuning.load_tune_config(again) == (base, space, objective)
    assert tuning.load_tune_config({**BASE, "search": SEARCH})[2] == tuning.default_objective()
