"""Search hyperparameters (course 2, week 3): random search, coarse to fine, Optuna studies.

nnlab tune search.toml --trials 30                 a study of 30 trials into runs/tune-search
nnlab tune search.toml --workers 2 --refine        two processes, then a narrowed second study
nnlab tune search.toml --trials 50                 rerun: continues the same study to 50 trials
nnlab tune search.toml --epochs 2                  a quick search: every trial trains 2 epochs

The file is a run config plus a ``[search]`` table and optionally an ``[objective]`` table
(see :mod:`nnlab.tuning`). The command prints the ranked table of trials and the command that
trains the best one; an interrupted search continues when run again.
"""

from __future__ import annotations

import argparse
import sys

import optuna

from ..exceptions import ConfigError
from ..tuning.objective import describe, format_metric, metric_label
from ..tuning.report import TuneResult, format_table
from ..tuning.study import SAMPLERS, NoFeasibleTrialError, run_worker, tune, tune_refine
from .parser import command_parser


def add_command(subparsers) -> None:
    """Register ``nnlab tune`` on the CLI's subparsers."""
    tune_parser = command_parser(
        subparsers, "tune", "search hyperparameters with random search or TPE", __doc__
    )
    tune_parser.add_argument(
        "config",
        metavar="SEARCH_FILE",
        help="a run config with a [search] table and optionally an [objective] table (TOML)",
    )
    tune_parser.add_argument(
        "--trials",
        type=int,
        default=30,
        help="finished trials the study should hold; a rerun continues up to it (default: 30)",
    )
    tune_parser.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="train every trial for this many epochs (default: the search file's epochs)",
    )
    tune_parser.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default="random",
        help="random search (the course's advice) or Optuna's TPE (default: random)",
    )
    tune_parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes that share the study, each training its own trials (default: 1)",
    )
    tune_parser.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage URL of the study (default: sqlite:///OUT/study.db)",
    )
    tune_parser.add_argument(
        "--study-name",
        metavar="NAME",
        help="name of the study in the storage (default: tune-<search file stem>)",
    )
    tune_parser.add_argument(
        "--out",
        metavar="DIR",
        help="folder of the trials, tables and plots (default: runs/tune-<search file stem>)",
    )
    tune_parser.add_argument(
        "--refine",
        action="store_true",
        help="then a second study on ranges narrowed around the best trials (default: off)",
    )
    tune_parser.add_argument(
        "--no-prune",
        dest="prune",
        action="store_false",
        help="train every trial to the end, without stopping those that trail the median "
        "(default: prune)",
    )
    tune_parser.add_argument(
        "--seed", type=int, default=0, help="seed of the sampler's draws (default: 0)"
    )
    tune_parser.add_argument(
        "--quiet", action="store_true", help="no line per finished trial (default: off)"
    )
    tune_parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    tune_parser.set_defaults(handler=cmd_tune)


def positive_int(text: str) -> int:
    """argparse type of ``--epochs``: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def cmd_tune(args) -> int:
    """``nnlab tune``: run the search (and the refined one), print the ranked tables."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.worker is not None:
        return _cmd_worker(args)
    options = dict(sampler=args.sampler, workers=args.workers, seed=args.seed, prune=args.prune)
    options.update(verbose=not args.quiet, epochs=args.epochs)
    try:
        result = _printed(
            tune,
            args.config,
            args.trials,
            storage=args.storage,
            study_name=args.study_name,
            out_dir=args.out,
            **options,
        )
        if args.refine:
            _printed(tune_refine, result, args.trials, **options)
    except KeyboardInterrupt:
        print("\nnnlab: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    return 0


def _printed(search, *args, **kwargs) -> TuneResult:
    """Run ``search`` (tune or tune_refine) and print its result, also when none is feasible."""
    try:
        result = search(*args, **kwargs)
    except NoFeasibleTrialError as err:
        print_result(err.result)  # the table of infeasible trials, then the error
        raise
    print_result(result)
    return result


def _cmd_worker(args) -> int:
    if not (args.storage and args.study_name and args.out) or args.worker < 0:
        raise ConfigError(
            "tune --worker K (K >= 0) needs --storage, --study-name and --out, "
            f"got worker {args.worker}, {args.storage!r}, {args.study_name!r}, {args.out!r}"
        )
    run_worker(
        args.config,
        args.trials,
        storage=args.storage,
        study_name=args.study_name,
        out_dir=args.out,
        sampler=args.sampler,
        seed=args.seed,
        prune=args.prune,
        worker=args.worker,
        verbose=not args.quiet,
    )
    return 0


def print_result(result: TuneResult) -> None:
    """The study's summary, ranked table, best config path and notes, on stdout."""
    states = [row["state"] for row in result.rows]
    counts = {state: states.count(state) for state in ("complete", "infeasible", "pruned")}
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n or state != "infeasible")
    print(
        f"\nstudy {result.study.study_name!r} ({describe(result.objective)}): {summary}, "
        f"{len(states) - sum(counts.values())} other trials -> {result.out_dir}"
    )
    print(format_table(result.rows))
    best = result.best_trial
    if result.best_config is not None and best is not None:
        name = result.objective.optimize
        print(
            f"best {metric_label(name)} {format_metric(name, best.value)} (trial {best.number}): "
            f"nnlab train --config {result.out_dir / 'best_config.toml'}"
        )
    for note in result.notes:
        print(f"note: {note}")
