"""Hyperparameter search (course 2, week 3): random search, coarse to fine, Optuna studies.

``tune(config)`` runs a study whose trials are ordinary training runs: a search config
(:mod:`nnlab.tuning.config`) gives the base run config, the ranges to sample
(:mod:`nnlab.tuning.space`) and the objective that scores each trial
(:mod:`nnlab.tuning.objective`); each trial trains into ``<out>/trials/<number>/``.

Trials are drawn at random by default (the course's advice: in high dimensions random points
beat a grid, because few hyperparameters matter and a grid wastes trials on the others), or
by TPE on request (``sampler="tpe"``). A trial that violates a constraint of the objective is
*infeasible*: it ends pruned (user attribute ``violations``), so it is never the best.

A MedianPruner stops a trial whose dev accuracy after an epoch trails the median of earlier
trials at that epoch (:class:`PruningCallback`); it is off when the objective optimizes
another metric.

Studies live in an Optuna storage (default ``sqlite:///<out>/study.db``): rerunning the same
command continues the study until it has ``n_trials`` finished (complete or pruned) trials, and
``workers`` processes share one study. A running trial records a heartbeat every
``HEARTBEAT_SECONDS``; one silent for ``STALE_AFTER_SECONDS`` (its process was killed) is marked
failed and its slot is trained again.

``tune_refine`` is the coarse-to-fine step: a second study on ranges narrowed to the best
trials' values (the top ``max(3, 20%)`` complete trials, widened a little, in log10 space for
log ranges). It writes ``refined_search.toml`` and runs into ``<out>/refined/``.

Besides the trials, ``<out>`` holds ``search.toml`` (the search that ran, with its
``[objective]``) and the report (:mod:`nnlab.tuning.report`).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from ..exceptions import ConfigError, NNLabError
from ..runs.config import RunConfig
from ..training.callbacks import MonitorCallback
from ..training.metrics import DIRECTIONS, Objective, metric_mode
from .config import load_tune_config, search_config_toml, search_name
from .objective import describe, format_metric, metric_label, trial_results
from .report import TuneResult, metric_column, trial_row, write_results
from .space import SearchSpace

try:
    import fcntl
except ImportError:  # not POSIX: workers may overshoot n_trials by a trial or two
    fcntl = None

SAMPLERS = ("random", "tpe")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
HEARTBEAT_SECONDS = 5  # a running trial writes a heartbeat this often ...
STALE_AFTER_SECONDS = 30  # ... and is failed (its slot retried) after this long without one
WAIT_SECONDS = 1.0  # poll interval while other processes finish the last trials
PRUNE_AFTER_TRIALS = 5  # MedianPruner: no pruning until this many trials have finished ...
PRUNE_AFTER_EPOCHS = 1  # ... nor in a trial's first epoch (step 0)
PRUNED_METRICS = {"dev.accuracy": "val_accuracy"}  # optimized metric -> the epoch log to prune on
TOP_FRACTION, MIN_TOP = 0.2, 3  # refine around the best max(3, 20%) complete trials


class TuningError(NNLabError, RuntimeError):
    """A search could not run: a worker process failed or the storage could not be opened."""


class NoFeasibleTrialError(TuningError):
    """Every trained trial violates a constraint of the ``[objective]``: there is no best.

    ``result`` is the :class:`TuneResult` (trials.csv was written); the message names the
    constraints and how the first trials violate them.
    """

    def __init__(self, message: str, result):
        super().__init__(message)
        self.result = result


# ================================================================= pruning
def prunable(objective: Objective) -> bool:
    """Whether the pruner can watch the optimized metric: it has an epoch log
    (``PRUNED_METRICS``) that improves the way the study goes (its :func:`metric_mode`)."""
    monitor = PRUNED_METRICS.get(objective.optimize)
    return monitor is not None and DIRECTIONS[metric_mode(monitor)] == objective.direction


class PruningCallback(MonitorCallback):
    """Report each epoch's ``monitor`` to an Optuna trial; stop when it should be pruned.

    The callback only sets ``model.stop_training`` (training ends after the epoch and the run
    folder is still written); call :meth:`raise_if_pruned` after fit to end the trial as
    PRUNED. Its ``mode`` is the monitor's (:class:`MonitorCallback`, the rule EarlyStopping and
    ModelCheckpoint use): a trial of a study that goes the other way is refused, since the
    pruner would then stop the best trials.

    Parameters
    ----------
    trial : optuna.Trial
        Anything with ``report(value, step)`` and ``should_prune()`` (and optionally
        ``study``, whose direction is checked when training begins).
    monitor : str
        The log key to report (the step is the 0-based epoch).
    """

    def __init__(self, trial, monitor: str = "val_accuracy"):
        super().__init__(monitor)
        self.trial = trial
        self.pruned_epoch: int | None = None
        self.last_value: float | None = None

    def on_train_begin(self):
        study = getattr(self.trial, "study", None)
        direction = study.direction.name.lower() if study is not None else None
        if direction not in (None, DIRECTIONS[self.mode]):
            raise ConfigError(
                f"PruningCallback: monitor {self.monitor!r} improves as it gets "
                f"{'larger' if self.mode == 'max' else 'smaller'} (mode {self.mode!r}), "
                f"but study {study.study_name!r} is set to {direction}"
            )

    def on_epoch_end(self, epoch, logs):
        self.last_value = self._monitored(logs)
        self.trial.report(self.last_value, epoch)
        if self.trial.should_prune():
            self.pruned_epoch = epoch
            self.model.stop_training = True

    def raise_if_pruned(self) -> None:
        """Raise ``optuna.TrialPruned`` if training was stopped by the pruner."""
        if self.pruned_epoch is not None:
            raise optuna.TrialPruned(
                f"{self.monitor} {self.last_value:.4f} after epoch {self.pruned_epoch + 1} "
                "trails the median of earlier trials"
            )


# ==================================================================== studies
def default_storage(out_dir) -> str:
    """``sqlite:///<absolute out_dir>/study.db``."""
    return f"sqlite:///{(Path(out_dir) / 'study.db').resolve()}"


def open_study(
    storage: str, study_name: str, prune: bool = True, direction: str = "maximize"
) -> optuna.Study:
    """Create the study (maximizing or minimizing), or load it if ``storage`` already holds it.

    A loaded study keeps the direction it was created with (:func:`_claim` checks it).
    Trials write heartbeats, so a trial whose process was killed is later marked failed.
    """
    engine = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            rdb = optuna.storages.RDBStorage(
                storage,
                engine_kwargs=engine,
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=STALE_AFTER_SECONDS,
            )
    except Exception as err:
        raise TuningError(f"tune: cannot open storage {storage!r}: {err}") from err
    pruner = (
        optuna.pruners.MedianPruner(
            n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=PRUNE_AFTER_EPOCHS
        )
        if prune
        else optuna.pruners.NopPruner()
    )
    return optuna.create_study(
        storage=rdb,
        study_name=study_name,
        direction=direction,
        sampler=optuna.samplers.RandomSampler(),
        pruner=pruner,
        load_if_exists=True,
    )


def _claim(study: optuna.Study, base: RunConfig, space: SearchSpace, objective: Objective) -> None:
    """Record the search on a new study; refuse to continue a study of another search.

    The search is its base config, ``[search]`` table and objective, and the study's
    direction must be the objective's.
    """
    expected = json.loads(
        json.dumps(
            {
                "search": space.to_dict(),
                "base_config": base.to_dict(),
                "objective": objective.to_dict(),
            }
        )
    )
    if study.user_attrs.get("search") is None:
        for key, value in expected.items():
            study.set_user_attr(key, value)
    stored = {key: study.user_attrs.get(key) for key in expected}
    differs = [
        {"base_config": "base config", "search": "[search]", "objective": "[objective]"}[key]
        for key in expected
        if stored[key] != expected[key]
    ]
    direction = study.direction.name.lower()
    if direction != objective.direction:
        differs.append(f"direction: the study is set to {direction}")
    if differs:
        raise ConfigError(
            f"tune: study {study.study_name!r} was started with a different base config or "
            f"[search] table or [objective] ({'; '.join(differs)}); choose another "
            "--study-name or --out (or restore the file)"
        )


def make_sampler(kind: str, seed: int, worker: int = 0, n_before: int = 0):
    """A sampler seeded from (seed, worker, number of trials so far).

    A fresh seed per trial makes a resumed study draw what an uninterrupted one would, and
    keeps workers sharing a study from drawing the same points.
    """
    state = int(np.random.SeedSequence([seed, worker, n_before]).generate_state(1)[0])
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=state, multivariate=True, group=True)


# ===================================================================== trials
class _Objective:
    """Train one trial's config into ``<out>/trials/<number>/``; return its objective score.

    The trial's metrics (``RESULT_KEYS``) are its user attribute ``results``. A trial that
    violates a constraint ends pruned, with the user attribute ``violations``.
    """

    def __init__(
        self, base, space, objective: Objective, out_dir: Path, prune: bool, worker: int, on_start
    ):
        self.base, self.space, self.objective, self.out_dir = base, space, objective, out_dir
        self.prune, self.worker, self.on_start = prune, worker, on_start
        self._data = {}

    def __call__(self, trial) -> float:
        from ..runs.runner import CHECKPOINT, train

        self.on_start()  # the trial exists in the study now
        config = self.space.suggest(trial, self.base)
        trial.set_user_attr("config", config.to_dict())
        trial.set_user_attr("worker", self.worker)
        monitor = PRUNED_METRICS.get(self.objective.optimize)
        pruning = PruningCallback(trial, monitor) if self.prune and monitor else None
        run_dir = self.out_dir / "trials" / str(trial.number)
        data = self.data(config)
        result = train(
            config,
            run_dir,
            verbose=0,
            data=data,
            extra_callbacks=[pruning] if pruning else [],
        )
        (run_dir / CHECKPOINT).unlink(missing_ok=True)  # the final model stays; saves space
        _record(trial, result)
        results = trial_results(result.model, result.metrics, data)
        trial.set_user_attr("results", results)
        if not math.isfinite(result.metrics["dev"]["loss"]):
            raise optuna.TrialPruned(f"diverged: {result.metrics.get('stop_reason', '')}")
        if pruning:
            pruning.raise_if_pruned()
        score = self.objective.score(results)
        if score is None:
            violations = self.objective.violations(results) or [f"{self.objective.optimize} is NaN"]
            trial.set_user_attr("violations", violations)
            raise optuna.TrialPruned(f"infeasible: {'; '.join(violations)}")
        return score

    def data(self, config: RunConfig):
        """The dataset, loaded once per process (per dataset / image or flat / dev split /
        scaling): the key holds every config field that ``load_data`` reads."""
        from ..runs.runner import load_data

        images = config.model != "mlp"  # load_data keeps images 4-D for CNNs only
        key = (config.dataset, images, config.dev_size, config.seed, config.standardize)
        if key not in self._data:
            self._data[key] = load_data(config)
        return self._data[key]


def _record(trial, result) -> None:
    trial.set_user_attr("epochs", len(result.history.epoch))
    trial.set_user_attr("seconds", round(result.seconds, 2))


class _Progress:
    """Prints one line per finished trial (an Optuna optimize callback)."""

    def __init__(self, n_trials: int, prefix: str, objective: Objective):
        self.n_trials, self.prefix, self.objective = n_trials, prefix, objective

    def __call__(self, study, trial) -> None:
        row = trial_row(trial, self.objective, [])
        done = len(study.get_trials(deepcopy=False, states=FINISHED))
        name = self.objective.optimize
        value = row[metric_column(name)]
        score = "" if value is None else f"{metric_label(name)} {format_metric(name, value)} "
        if trial.user_attrs.get("violations"):
            score += f"({'; '.join(trial.user_attrs['violations'])}) "
        print(
            f"{self.prefix}trial {trial.number:>3} {row['state']:<10} {score}after "
            f"{row['epochs']} epoch(s), {row['seconds']} s [{done}/{self.n_trials}] "
            f"{json.dumps(trial.params)}",
            file=sys.stderr,
            flush=True,
        )


# ==================================================================== workers
def run_worker(
    config,
    n_trials: int,
    *,
    storage: str,
    study_name: str,
    out_dir,
    sampler: str = "random",
    seed: int = 0,
    prune: bool = True,
    worker: int | None = None,
    verbose: bool = True,
) -> optuna.Study:
    """Run trials of a shared study until it has ``n_trials`` finished ones.

    Several processes may run this on one study at the same time (``nnlab tune --workers``),
    each with its own ``worker`` number; each trial is counted once. The study is created if
    ``storage`` does not hold it yet. ``config`` is a search config (see
    :func:`load_tune_config`); its objective scores the trials.

    Returns
    -------
    optuna.Study
    """
    base, space, objective = load_tune_config(config)
    prune = prune and prunable(objective)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    study = open_study(storage, study_name, prune, objective.direction)
    _claim(study, base, space, objective)
    lock = _SlotLock(Path(out_dir) / "study.lock")
    prefix = "" if worker is None else f"[worker {worker}] "
    worker = worker or 0
    train_trial = _Objective(
        base, space, objective, Path(out_dir), prune, worker, on_start=lock.release
    )
    callbacks = [_Progress(n_trials, prefix, objective)] if verbose else []
    while (n_before := _wait_for_slot(study, n_trials, lock, verbose)) is not None:
        try:
            study.sampler = make_sampler(sampler, seed, worker, n_before)
            study.optimize(train_trial, n_trials=1, callbacks=callbacks)
        finally:
            lock.release()
    return study


class _SlotLock:
    """An exclusive lock on a file, shared by the worker processes of one output folder.

    A worker holds it from counting the study's trials until its new trial exists, so two
    workers never both take the last free slot. (Workers on other machines, sharing only the
    storage, can overshoot ``n_trials`` by a trial or two.) Without ``fcntl`` it does nothing.
    """

    def __init__(self, path: Path):
        self.path = path
        self._handle = None

    def acquire(self) -> None:
        if fcntl is not None and self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a")
            fcntl.flock(self._handle, fcntl.LOCK_EX)

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _wait_for_slot(study, n_trials: int, lock: _SlotLock, verbose: bool) -> int | None:
    """The number of trials so far when one more may start (``lock`` held); None when done.

    While the running trials of other processes would complete the study, wait: if one of
    them was killed, it goes stale and is failed, and its slot becomes free again.
    """
    since, told = time.monotonic(), False
    while True:
        lock.acquire()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state in FINISHED for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if finished + running < n_trials:
            return len(trials)
        lock.release()
        if finished >= n_trials:
            return None
        if verbose and not told and time.monotonic() - since > 2 * HEARTBEAT_SECONDS:
            print(
                f"waiting for {running} running trial(s) of other processes (a trial whose "
                f"process died is failed {STALE_AFTER_SECONDS} s after its last heartbeat)",
                file=sys.stderr,
            )
            told = True
        time.sleep(WAIT_SECONDS)


def _spawn_workers(search_file: Path, n_trials: int, workers: int, options: dict) -> None:
    """Run ``workers`` worker processes on the study and wait for all of them."""
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, threads)  # share the cores instead of oversubscribing them
    procs = [
        subprocess.Popen(_worker_command(search_file, n_trials, k, options), env=env)
        for k in range(workers)
    ]
    try:
        codes = [proc.wait() for proc in procs]
    except BaseException:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()
        raise
    failed = {k: code for k, code in enumerate(codes) if code != 0}
    if failed:
        raise TuningError(f"tune: worker process(es) failed (worker: exit code) {failed}")


def _worker_command(search_file: Path, n_trials: int, worker: int, options: dict) -> list[str]:
    command = [sys.executable, "-m", "nnlab.cli", "tune", str(search_file), "--worker", str(worker)]
    command += ["--trials", str(n_trials), "--sampler", options["sampler"]]
    command += ["--storage", options["storage"], "--study-name", options["study_name"]]
    command += ["--out", str(options["out_dir"]), "--seed", str(options["seed"])]
    command += [] if options["prune"] else ["--no-prune"]
    return command + ([] if options["verbose"] else ["--quiet"])


# ===================================================================== search
def tune(
    config,
    n_trials: int = 30,
    *,
    sampler: str = "random",
    storage: str | None = None,
    study_name: str | None = None,
    workers: int = 1,
    seed: int = 0,
    prune: bool = True,
    out_dir=None,
    verbose: bool = True,
    epochs: int | None = None,
) -> TuneResult:
    """Search hyperparameters: run (or continue) a study of ``n_trials`` finished trials.

    Parameters
    ----------
    config : str, Path, dict or tuple
        A search config (see :func:`load_search_config`).
    n_trials : int
        Finished (complete or pruned) trials the study should hold; those of an earlier run
        with the same storage and study name count.
    sampler : {"random", "tpe"}
        Random search (the course's advice) or Optuna's TPE.
    storage : str, optional
        An Optuna RDB URL; default ``sqlite:///<out_dir>/study.db``.
    study_name : str, optional
        Default ``tune-<config file stem>``.
    workers : int
        With more than 1, that many worker processes share the study.
    seed : int
        The sampler seed (each trial trains with the config's own ``seed``).
    prune : bool
        Stop trials whose dev accuracy trails the median (MedianPruner); only when the
        objective maximizes dev accuracy (a note says when it is turned off).
    out_dir : str or Path, optional
        Default ``runs/tune-<config file stem>``.
    verbose : bool
        Print a line per finished trial on stderr.
    epochs : int, optional
        Train every trial for this many epochs instead of the base config's (a study run
        with other epochs is another search, which is not continued).

    Returns
    -------
    TuneResult
        Also written to ``out_dir``: trials.csv, best_config.toml and the plots.

    Raises
    ------
    NoFeasibleTrialError
        Trials were trained but none meets the objective's constraints (the files are
        written; the error's ``result`` is the TuneResult).
    """
    _check_options(n_trials, sampler, workers, seed)
    base, space, objective = load_tune_config(config)
    base = with_epochs(base, space, epochs)
    notes = []
    if prune and not prunable(objective):
        prune = False
        notes.append(
            f"pruning off: the pruner compares {', '.join(PRUNED_METRICS)} after each epoch, "
            f"the objective is to {describe(objective)}"
        )
        if verbose:
            print(f"note: {notes[-1]}", file=sys.stderr)
    default_name = f"tune-{search_name(config)}"
    out_dir = Path(out_dir) if out_dir is not None else Path("runs") / default_name
    out_dir.mkdir(parents=True, exist_ok=True)
    storage = storage or default_storage(out_dir)
    study = open_study(storage, study_name or default_name, prune, objective.direction)
    _claim(study, base, space, objective)
    search_file = out_dir / "search.toml"
    search_file.write_text(search_config_toml(base, space, objective))
    options = dict(storage=storage, study_name=study.study_name, out_dir=out_dir)
    options.update(sampler=sampler, seed=seed, prune=prune, verbose=verbose)
    if workers == 1:
        run_worker((base, space, objective), n_trials, **options)
    else:
        _spawn_workers(search_file, n_trials, workers, options)
    result = write_results(study, base, space, objective, out_dir, storage, n_trials, notes)
    _check_feasible(result)
    return result


def with_epochs(base: RunConfig, space: SearchSpace, epochs: int | None) -> RunConfig:
    """``base`` training ``epochs`` epochs (unchanged for None); ConfigError when the
    ``[search]`` table draws the epochs itself."""
    if epochs is None:
        return base
    if "epochs" in space.fields:
        raise ConfigError(
            f"tune: epochs = {epochs} (--epochs) conflicts with the [search] table, which "
            "draws epochs for every trial; drop one of them"
        )
    return base.updated(epochs=epochs)


def _check_options(n_trials, sampler, workers, seed) -> None:
    for name, value, minimum in (
        ("n_trials", n_trials, 1),
        ("workers", workers, 1),
        ("seed", seed, 0),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ConfigError(f"tune: {name} must be an integer >= {minimum}, got {value!r}")
    if sampler not in SAMPLERS:
        raise ConfigError(f"tune: sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")


def _check_feasible(result: TuneResult) -> None:
    """Raise NoFeasibleTrialError when trials were infeasible and none completed."""
    infeasible = [row for row in result.rows if row["state"] == "infeasible"]
    if result.best_config is not None or not infeasible:
        return
    rules = describe(result.objective).partition(" subject to ")[2]
    examples = "; ".join(f"trial {row['number']}: {row['violations']}" for row in infeasible[:3])
    more = f"; ... ({len(infeasible) - 3} more)" if len(infeasible) > 3 else ""
    raise NoFeasibleTrialError(
        f"tune: no feasible trial in study {result.study.study_name!r}: every trained trial "
        f"violates the [objective] constraints {rules} ({examples}{more}); relax the "
        f"constraints or change the [search] ranges (the trials are in "
        f"{result.out_dir / 'trials.csv'})",
        result,
    )


# =========================================================== coarse to fine
def refine_space(study, space: SearchSpace, top_fraction: float = TOP_FRACTION) -> SearchSpace:
    """The search space narrowed around the best ``max(3, top_fraction)`` complete trials.

    Raises
    ------
    ConfigError
        The study has no complete trial.
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise ConfigError(f"refine: study {study.study_name!r} has no complete trial to refine")
    sign = 1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1.0
    ranked = sorted(complete, key=lambda t: (sign * t.value, t.number))
    k = min(len(ranked), max(MIN_TOP, math.ceil(top_fraction * len(ranked))))
    return space.narrowed([t.params for t in ranked[:k]])


def tune_refine(result: TuneResult, n_trials: int | None = None, **options) -> TuneResult:
    """Coarse to fine: a second study on the ranges narrowed around ``result``'s best trials.

    The narrowed search (with the same objective) is written to
    ``<out>/refined_search.toml``; the study (named
    ``<study>-refined``, in the same storage) runs into ``<out>/refined/``.

    Parameters
    ----------
    result : TuneResult
        The coarse search.
    n_trials : int, optional
        Default: the coarse search's.
    **options
        ``sampler``, ``workers``, ``seed``, ``prune``, ``verbose``, ``epochs`` as for
        :func:`tune`.
    """
    space = refine_space(result.study, result.space)
    path = result.out_dir / "refined_search.toml"
    path.write_text(search_config_toml(result.base, space, result.objective))
    return tune(
        path,
        n_trials or result.n_trials,
        storage=result.storage,
        study_name=f"{result.study.study_name}-refined",
        out_dir=result.out_dir / "refined",
        **options,
    )
