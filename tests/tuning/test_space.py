"""The search space: every [search] entry's errors, the course's sampling scales, narrowing."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from searches import BASE, SEARCH

from nnlab import tuning
from nnlab.exceptions import ConfigError


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"learning_rat": {"low": 1e-3, "high": 1.0}}, "search.learning_rat: unknown field"),
        (
            {"learning_rate": {"low": 0.1, "high": 1e-3}},
            "search.learning_rate: expected low <= high",
        ),
        ({"learning_rate": {"low": 0, "high": 0.1, "log": True}}, "needs low > 0, got low=0"),
        ({"learning_rate": {"low": 1e-3, "hi": 0.1}}, "search.learning_rate: unknown key(s) hi"),
        ({"learning_rate": 0.01}, "search.learning_rate: expected a table"),
        ({"learning_rate": {"low": 1e-3, "high": 0.1, "log": "yes"}}, "search.learning_rate.log"),
        ({"dropout": {"low": 0.0, "high": 1.0}}, "search.dropout: dropout must be in [0, 1)"),
        ({"l2": {"low": -1.0, "high": 0.0}}, "search.l2: l2 must be >= 0"),
        ({"beta": {"one_minus_low": 1e-3}}, "search.beta: needs both one_minus_low"),
        ({"beta": {"one_minus_low": 0.1, "one_minus_high": 2.0}}, "one_minus_high must be < 1"),
        ({"batch_size": {"powers_of_two": [9, 5]}}, "search.batch_size.powers_of_two"),
        ({"batch_size": {"powers_of_two": [5.5, 9]}}, "expected an integer, got 5.5"),
        ({"epochs": {"low": 1.5, "high": 3}}, "search.epochs.low: expected an integer"),
        ({"epochs": {"low": 1, "high": 3, "int": False}}, "int must be true"),
        ({"layers": {"count": [0, 2], "width": [8, 16]}}, "search.layers.count: expected min >= 1"),
        ({"layers": {"low": 1, "high": 2}}, "search.layers: a number range does not apply"),
        ({"optimizer": {"low": 1, "high": 2}}, "search.optimizer: a number range does not apply"),
        ({"optimizer": {"choices": []}}, "search.optimizer.choices: expected a non-empty list"),
        ({"l2": {"low": 0.0, "high": 1.0, "choices": [0.0]}}, "exactly one kind of range"),
        ({}, "search: expected a [search] table with at least one entry"),
    ],
)
def test_invalid_search_entries_name_the_key(entry, message):
    with pytest.raises(ConfigError) as err:
        tuning.load_search_config({**BASE, "search": entry})
    assert message in str(err.value)


def sample(space_table, n=300, seed=0):
    base, space = tuning.load_search_config({**BASE, "search": space_table})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [space.suggest(study.ask(), base) for _ in range(n)]


def test_random_samples_follow_the_course_scales():
    configs = sample(
        {
            "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
            "beta": {"one_minus_low": 1e-3, "one_minus_high": 1e-1},
            "layers": {"count": [1, 3], "width": [64, 512], "log": True},
            "batch_size": {"powers_of_two": [5, 9]},
            "dropout": {"low": 0.0, "high": 0.5},
            "optimizer": {"choices": ["adam", "rmsprop", "momentum"]},
        }
    )
    r = np.array([1 - c.beta for c in configs])
    assert r.min() >= 1e-3 - 1e-12 and r.max() <= 1e-1 + 1e-12
    # 1 - beta uniform in log10: beta in [0.99, 0.999] is as likely as beta in [0.9, 0.99]
    # (a uniform beta in [0.9, 0.999] would put 91% of the draws below 0.99).
    assert 0.4 < np.mean(r < 1e-2) < 0.6
    assert abs(np.mean(np.log10(r)) + 2.0) < 0.1
    alpha = np.array([c.learning_rate for c in configs])
    assert alpha.min() >= 1e-4 and alpha.max() <= 1e-1
    assert [np.mean((alpha >= 10.0**k) & (alpha < 10.0 ** (k + 1))) for k in (-4, -3, -2)] == (
        pytest.approx([1 / 3] * 3, abs=0.08)
    )
    sizes = [c.batch_size for c in configs]
    assert set(sizes) == {32, 64, 128, 256, 512}
    assert {len(c.layers) for c in configs} == {1, 2, 3}
    widths = np.array([w for c in configs for w in c.layers])
    assert widths.min() >= 64 and widths.max() <= 512
    assert abs(np.median(np.log2(widths)) - 7.5) < 0.3  # log-uniform: median 2**7.5 ~ 181
    dropout = np.array([c.dropout for c in configs])
    assert 0 <= dropout.min() and dropout.max() <= 0.5 and 0.2 < dropout.mean() < 0.3
    assert {c.optimizer for c in configs} == {"adam", "rmsprop", "momentum"}


def test_sampler_seed_makes_draws_reproducible():
    table = {"learning_rate": {"low": 1e-4, "high": 1e-1, "log": True}}
    assert sample(table, n=5, seed=3) == sample(table, n=5, seed=3)
    assert sample(table, n=5, seed=3) != sample(table, n=5, seed=4)


def test_tpe_sampler_handles_the_conditional_layer_widths():
    base, space = tuning.load_search_config({**BASE, "search": SEARCH})
    study = optuna.create_study(direction="maximize")
    for n in range(14):  # past TPE's 10 random start-up trials
        study.sampler = tuning.make_sampler("tpe", seed=0, n_before=n)
        trial = study.ask()
        config = space.suggest(trial, base)
        study.tell(trial, -abs(math.log10(config.learning_rate) + 2) - len(config.layers))
    assert isinstance(study.sampler, optuna.samplers.TPESampler)
    assert {len(t.params) for t in study.trials} >= {8, 9}  # 1 and 2 layer widths
    later = [t.params["learning_rate"] for t in study.trials[10:]]
    assert all(1e-3 <= lr <= 1e-1 for lr in later)


def test_narrow_stays_inside_the_range_and_around_the_values():
    assert tuning.narrow([0.002, 0.004], 1e-4, 1e-1, log=True) == (0.00141, 0.00566)
    assert tuning.narrow([0.09], 1e-4, 1e-1, log=True)[1] == 1e-1  # clipped to the range
    assert tuning.narrow([3, 3], 1, 8, integer=True) == (2, 4)
    low, high = tuning.narrow([0.123456], 0.0, 0.5)
    assert 0.0 <= low <= 0.123456 <= high <= 0.5 and high - low < 0.1
