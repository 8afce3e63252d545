"""Hyperparameter search with Optuna (course 2, week 3), one concept a module.

- :mod:`~nnlab.tuning.space`: the ranges of the ``[search]`` table and their course scales.
- :mod:`~nnlab.tuning.objective`: the ``[objective]`` table and what every trial measures.
- :mod:`~nnlab.tuning.config`: the search config file (run config + both tables) as TOML.
- :mod:`~nnlab.tuning.study`: Optuna studies, trials, worker processes, pruning, refining.
- :mod:`~nnlab.tuning.report`: the ranked table, ``best_config.toml`` and Optuna's plots.

The ``nnlab tune`` command is :mod:`nnlab.cli.tune`. Import the public names from here.
"""

from .config import load_search_config, load_tune_config, search_config_toml
from .objective import RESULT_KEYS, default_objective, parse_objective, trial_results
from .report import (
    TuneResult,
    best_trial,
    format_table,
    trial_rows,
    write_best_config,
    write_plots,
    write_results,
    write_trials_csv,
)
from .space import (
    Choice,
    LayersRange,
    NumberRange,
    OneMinusRange,
    PowerOfTwoRange,
    SearchSpace,
    narrow,
)
from .study import (
    NoFeasibleTrialError,
    PruningCallback,
    TuningError,
    default_storage,
    make_sampler,
    open_study,
    refine_space,
    run_worker,
    tune,
    tune_refine,
)

__all__ = [
    "RESULT_KEYS",
    "Choice",
    "LayersRange",
    "NoFeasibleTrialError",
    "NumberRange",
    "OneMinusRange",
    "PowerOfTwoRange",
    "PruningCallback",
    "SearchSpace",
    "TuneResult",
    "TuningError",
    "best_trial",
    "default_objective",
    "default_storage",
    "format_table",
    "load_search_config",
    "load_tune_config",
    "make_sampler",
    "narrow",
    "open_study",
    "parse_objective",
    "refine_space",
    "run_worker",
    "search_config_toml",
    "trial_results",
    "trial_rows",
    "tune",
    "tune_refine",
    "write_best_config",
    "write_plots",
    "write_results",
    "write_trials_csv",
]
