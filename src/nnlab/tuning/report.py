"""What a study leaves behind: the ranked table, ``best_config.toml`` and Optuna's plots.

Files in ``<out>``: ``trials.csv`` (the ranked table: objective value, ``feasible``, the
constrained metrics, dev accuracy, the searched fields), ``best_config.toml`` (a plain run
config: ``nnlab train --config`` reproduces the best feasible trial),
``optimization_history.png``, ``param_importances.png`` and ``slice.png``. Trials are ranked
by the objective over their results: feasible complete trials first, then infeasible ones,
then those the pruner stopped, then failed or running ones.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from ..runs.config import RunConfig
from ..training.metrics import Objective
from .objective import DEFAULT_METRIC, default_objective, describe, metric_label
from .space import SearchSpace

TABLE_ROWS = 20


@dataclass
class TuneResult:
    """A finished study and what was written about it.

    Attributes
    ----------
    study : optuna.Study
    base : RunConfig
        The config every trial starts from.
    space : SearchSpace
    objective : Objective
        What ranks the trials.
    out_dir : Path
    storage : str
        The storage URL (a rerun with it continues the study).
    n_trials : int
    rows : list of dict
        The ranked table (as in trials.csv).
    best_config : RunConfig or None
        The best feasible trial's config (None when no trial completed feasible).
    notes : list of str
        Outputs that were skipped, pruning turned off, and why.
    """

    study: optuna.Study
    base: RunConfig
    space: SearchSpace
    objective: Objective
    out_dir: Path
    storage: str
    n_trials: int
    rows: list
    best_config: RunConfig | None
    notes: list

    @property
    def best_trial(self):
        """The best feasible trial (a FrozenTrial), or None."""
        return best_trial(self.study, self.objective)

    @property
    def best_value(self) -> float | None:
        best = self.best_trial
        return None if best is None else best.value


def write_results(
    study,
    base: RunConfig,
    space: SearchSpace,
    objective: Objective,
    out_dir: Path,
    storage: str,
    n_trials: int,
    notes=(),
) -> TuneResult:
    """Write trials.csv, best_config.toml and the plots; return the TuneResult."""
    rows = trial_rows(study, space, objective)
    write_trials_csv(rows, out_dir / "trials.csv")
    notes = list(notes)
    best = write_best_config(study, out_dir / "best_config.toml", objective)
    if best is None:
        infeasible = any(row["state"] == "infeasible" for row in rows)
        why = "no trial met the [objective] constraints" if infeasible else "no trial completed"
        notes.append(f"best_config.toml not written: {why}")
    notes += write_plots(study, out_dir, objective)
    return TuneResult(study, base, space, objective, out_dir, storage, n_trials, rows, best, notes)


def trial_rows(study, space: SearchSpace, objective: Objective) -> list[dict]:
    """One dict per trial, best first.

    The trials trained to the end are ranked by ``objective.rank`` over their results:
    complete (feasible) ones best first, then the infeasible ones; then the trials stopped by
    the pruner (or diverged), ranked the same way on their results; then failed or running
    ones. Columns: number, state (``infeasible`` for a trial pruned for a violated
    constraint), the optimized metric, ``feasible``, the constrained metrics, dev accuracy,
    epochs, seconds, the searched fields, and ``violations`` when there are constraints.
    """
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    trained = [t for t in trials if t.state == TrialState.COMPLETE or _infeasible(t)]
    stopped = [t for t in trials if t.state == TrialState.PRUNED and not _infeasible(t)]
    placed = {t.number for t in trained + stopped}
    others = [t for t in trials if t.number not in placed]
    ordered = rank_trials(trained, objective) + rank_trials(stopped, objective) + others
    return [trial_row(t, objective, space.fields) for t in ordered]


def rank_trials(trials, objective: Objective) -> list:
    """The trials ordered by ``objective.rank`` over their results (ties: given order)."""
    results = [trial_results_of(t, objective) for t in trials]
    by_id = {id(r): t for r, t in zip(results, trials, strict=True)}
    return [by_id[id(r)] for r in objective.rank(results)]


def best_trial(study, objective: Objective):
    """The best complete trial by the objective (every complete trial is feasible), or None."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    ranked = rank_trials(complete, objective)
    return ranked[0] if ranked else None


def trial_results_of(trial, objective: Objective) -> dict:
    """A trial's results (user attribute ``results``), with NaN for what it did not measure.

    Every trained trial has results (pruned ones too); a failed or running one has none. A
    NaN optimized or constrained metric makes the trial infeasible in a ranking.
    """
    results = dict(trial.user_attrs.get("results", {}))
    for name in (objective.optimize, *objective.constraints):
        results.setdefault(name, math.nan)
    return results


def _infeasible(trial) -> bool:
    return trial.state == TrialState.PRUNED and bool(trial.user_attrs.get("violations"))


def metric_column(metric: str) -> str:
    """A metric's column in trials.csv: ``dev.f1`` -> ``dev_f1``."""
    return metric.replace(".", "_")


def trial_row(trial, objective: Objective, fields) -> dict:
    """One row of the ranked table (see :func:`trial_rows` for the columns)."""
    results = trial_results_of(trial, objective)
    metrics = [objective.optimize, *(c for c in objective.constraints if c != objective.optimize)]
    if DEFAULT_METRIC not in metrics:
        metrics.append(DEFAULT_METRIC)
    values = {metric_column(m): _finite_or_none(results.get(m)) for m in metrics}
    if trial.state == TrialState.COMPLETE:
        values[metric_column(objective.optimize)] = trial.value
    infeasible = _infeasible(trial)
    feasible = "yes" if trial.state == TrialState.COMPLETE else "no" if infeasible else None
    config = trial.user_attrs.get("config", {})
    row = {
        "number": trial.number,
        "state": "infeasible" if infeasible else trial.state.name.lower(),
        metric_column(objective.optimize): values.pop(metric_column(objective.optimize)),
        "feasible": feasible,
        **values,
        "epochs": trial.user_attrs.get("epochs"),
        "seconds": trial.user_attrs.get("seconds"),
        **{field: config.get(field) for field in fields},
    }
    if objective.constraints:
        row["violations"] = "; ".join(trial.user_attrs.get("violations", [])) or None
    return row


def _finite_or_none(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def write_trials_csv(rows: list[dict], path) -> Path:
    """The ranked table as CSV (a ``rank`` column first)."""
    path = Path(path)
    with path.open("w", newline="") as handle:
        fields = ["rank", *rows[0]] if rows else ["rank", "number", "state", "dev_accuracy"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows({"rank": i + 1, **row} for i, row in enumerate(rows))
    return path


def format_table(rows: list[dict], limit: int | None = TABLE_ROWS, hide=("violations",)) -> str:
    """The ranked table as aligned text (the first ``limit`` rows, without ``hide`` columns)."""
    if not rows:
        return "(no trials)"
    keys = [k for k in rows[0] if k not in hide]
    header = ["rank", *(k.replace("_", " ") for k in keys)]
    cells = [[str(i + 1), *(_cell(row[k]) for k in keys)] for i, row in enumerate(rows)]
    shown = cells[:limit] if limit else cells
    widths = [max(len(line[j]) for line in [header, *shown]) for j in range(len(header))]
    lines = [
        "  ".join(text.rjust(w) for text, w in zip(line, widths, strict=True))
        for line in [header, *shown]
    ]
    if len(shown) < len(cells):
        lines.append(f"... {len(cells) - len(shown)} more in trials.csv")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "-".join(str(v) for v in value) or "[]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_best_config(study, path, objective: Objective) -> RunConfig | None:
    """The best feasible trial's config as a plain run config file; None if there is none."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    path = Path(path)
    best = best_trial(study, objective)
    if best is None:
        path.unlink(missing_ok=True)  # never leave the best of an older study behind
        return None
    config = RunConfig.from_dict(best.user_attrs["config"])
    kind = "feasible" if objective.constraints else "complete"
    custom = "" if objective == default_objective() else f"; {describe(objective)}"
    path.write_text(
        f"# Best of study {study.study_name!r}: trial {best.number}, "
        f"{metric_label(objective.optimize)} {best.value:.4f} ({len(complete)} {kind} "
        f"trials{custom}).\n"
        f"# Reproduce it: nnlab train --config {path}\n" + config.to_toml()
    )
    return config


PLOTS = (
    ("optimization_history", "plot_optimization_history", 1),
    ("param_importances", "plot_param_importances", 2),
    ("slice", "plot_slice", 1),
)


def write_plots(study, out_dir, objective: Objective) -> list[str]:
    """optimization_history.png, param_importances.png and slice.png; notes on skipped ones.

    The value axis is named after the optimized metric; the optimization history's title
    gives the whole objective (infeasible trials, pruned, are not plotted).
    """
    n_complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    notes = []
    for name, function, needed in PLOTS:
        path = Path(out_dir) / f"{name}.png"
        path.unlink(missing_ok=True)
        if n_complete < needed:
            notes.append(f"{path.name} skipped: needs {needed} complete trials, have {n_complete}")
            continue
        try:
            _save_plot(study, function, objective, path)
        except Exception as err:  # a plot is a nicety: never lose the study over it
            notes.append(f"{path.name} skipped: {type(err).__name__}: {err}")
    return notes


def _save_plot(study, function: str, objective: Objective, path: Path) -> None:
    """Draw Optuna's matplotlib plot ``function`` of the study into the PNG file ``path``."""
    import matplotlib.pyplot as plt  # here, not at import: pyplot only once a study plots
    import optuna.visualization.matplotlib as vis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        axes = getattr(vis, function)(study, target_name=objective.optimize)
    first = np.ravel(axes)[0]
    if function == "plot_optimization_history":
        first.set_title(f"{first.get_title()}: {describe(objective)}")
    first.figure.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(first.figure)
