"""The search configs the tuning tests share: a tiny moons search, written as TOML."""

from __future__ import annotations

from optuna.trial import TrialState

from nnlab import tuning

BASE = {"dataset": "moons", "layers": [6], "epochs": 3, "batch_size": 32, "seed": 0}
SEARCH = {
    "learning_rate": {"low": 1e-3, "high": 1e-1, "log": True},
    "l2": {"low": 1e-6, "high": 1e-2, "log": True},
    "beta": {"one_minus_low": 1e-3, "one_minus_high": 1e-1},
    "layers": {"count": [1, 2], "width": [4, 16], "log": True},
    "dropout": {"low": 0.0, "high": 0.3},
    "batch_size": {"powers_of_two": [4, 6]},
    "activation": {"choices": ["relu", "tanh"]},
}
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def write_search(path, base=BASE, search=SEARCH):
    path.write_text(
        tuning.search_config_toml(*tuning.load_search_config({**base, "search": search}))
    )
    return path


def finished(study):
    return study.get_trials(deepcopy=False, states=FINISHED)
