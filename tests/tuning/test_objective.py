"""The [objective] table: every invalid table is refused with the key that is wrong."""

from __future__ import annotations

import pytest
from searches import BASE, SEARCH

from nnlab import tuning
from nnlab.exceptions import ConfigError


@pytest.mark.parametrize(
    "table, message",
    [
        ({"optimize": "dev.f2"}, "objective.optimize: unknown metric 'dev.f2'; every trial"),
        ({"optimize": "test.accuracy"}, "objective.optimize: unknown metric 'test.accuracy'"),
        (
            {"optimize": "dev.f1", "constraints": {"latency": ["<=", 5]}},
            "objective.constraints.latency: unknown metric 'latency'",
        ),
        ({"optimize": "dev.f1", "direction": "up"}, "objective: unknown direction 'up'"),
        ({"optimize": "dev.f1", "goal": 1}, "objective: unknown keys goal"),
        ({"direction": "maximize"}, "objective: missing key 'optimize'"),
        (
            {"optimize": "dev.f1", "constraints": {"params": ["=<", 5]}},
            "unknown comparison of constraint 'params' '=<'",
        ),
        (
            {"optimize": "dev.f1", "constraints": {"params": ["<=", "5"]}},
            "objective: bound of constraint 'params' must be a finite number",
        ),
        ("dev.f1", "objective: expected a table"),
    ],
)
def test_invalid_objective_tables_are_refused(table, message):
    with pytest.raises(ConfigError) as err:
        tuning.load_tune_config({**BASE, "search": SEARCH, "objective": table})
    assert message in str(err.value)
