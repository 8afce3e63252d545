"""nnlab train: train a deep net and write a run folder.

    nnlab train                               the default deep net on MNIST
    nnlab train --config run.toml --epochs 20 --out runs/deep
    nnlab train --resume runs/deep            continue from the last checkpoint

Every field of the run config (:mod:`nnlab.runs.config`) is a flag, derived from its
declaration; flags override the ``--config`` file.  At the end the run's metrics and its
bias / variance diagnosis are printed.

``--resume`` continues a run exactly as its config.toml says: a flag that would change it
is refused, except ``--epochs``, which extends the run (and is recorded in config.toml).
A finished run (all its epochs done, or stopped early) is left as it is, with a note.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from ..exceptions import ConfigError
from ..runs.config import RunConfig
from ..runs.folder import RunFolder, diagnose_run
from ..runs.runner import read_progress, train, with_absolute_paths
from .config_flags import add_config_flags, given_config_flags
from .diagnose import error_fraction
from .evaluate import format_metrics
from .parser import command_parser


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab train [--config FILE] [field flags] [--out DIR | --resume RUN_DIR]``."""
    parser = command_parser(
        subparsers,
        "train",
        "train a deep net and write a run folder",
        __doc__,
        epilog=f"a run folder holds:\n{RunFolder.listing()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="a run config (TOML); flags override it (default: the defaults below)",
    )
    add_config_flags(parser, RunConfig())
    parser.add_argument("--out", metavar="DIR", help="run folder (default: a new one under runs/)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run that --out holds (default: off; a non-empty --out is refused)",
    )
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a run from its checkpoint; of the flags only --epochs may be given "
        "(it extends the run) (default: a new run)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar (default: off)")
    parser.add_argument(
        "--human-error",
        type=error_fraction,
        default=0.0,
        help="human-level error for the diagnosis, as a fraction (default: 0)",
    )
    parser.set_defaults(handler=cmd_train)
    return parser


def cmd_train(args) -> int:
    """Train, print the metrics and the diagnosis; 1 when the loss diverged, 130 on Ctrl-C."""
    config, folder = _config_and_folder(args)
    finished = _finished(config, folder) if args.resume else None
    if finished:
        print(finished)
        return 0
    print(f"nnlab: training on {config.dataset} -> {folder.path}", file=sys.stderr)
    try:
        result = train(
            config,
            folder,
            verbose=0 if args.quiet else 1,
            resume=bool(args.resume),
            overwrite=args.overwrite,
        )
    except KeyboardInterrupt:
        _print_interrupted(folder)
        return 130
    print(format_metrics(result.metrics))
    print(f"\n{diagnose_run(folder.path, human_error=args.human_error)}")
    print(f"trained in {result.seconds:.1f} s; run folder: {folder.path}")
    return _stop_status(result.metrics)


def _config_and_folder(args) -> tuple[RunConfig, RunFolder]:
    """The run's config and folder: a resumed run's own (with --epochs), else the --config
    file (or the defaults) overridden by the flags given, into --out or a new folder."""
    if args.resume:
        folder = RunFolder(args.resume)
        saved = folder.read_config()
        _refuse_changes(args, saved, folder)
        return saved.updated(epochs=args.epochs), folder
    config = RunConfig.from_toml(args.config) if args.config else RunConfig()
    config = config.updated(**given_config_flags(args))
    return config, RunFolder(args.out) if args.out else RunFolder.new(config.dataset)


def _refuse_changes(args, saved: RunConfig, folder: RunFolder) -> None:
    """Raise ConfigError naming every flag given with --resume that would change the run
    (a field flag whose value differs from config.toml's; --config, --out, --overwrite)."""
    changes = []
    for name, value in given_config_flags(args).items():
        if value is None or name == "epochs":
            continue
        if name == "dataset":  # config.toml holds a dataset file's absolute path
            value = with_absolute_paths(saved.updated(dataset=value)).dataset
        if value != getattr(saved, name):
            changes.append(f"{_given(name, value)} (the run has {_shown(getattr(saved, name))})")
    given = {"--config": args.config, "--out": args.out, "--overwrite": args.overwrite}
    changes += [flag for flag, value in given.items() if value]
    if changes:
        raise ConfigError(
            f"--resume {folder.path} continues the run as its {folder.config.name} says, "
            f"and these flags would change it: {'; '.join(changes)}. With --resume only "
            "--epochs may be given (it extends the run); start a new run to change the others"
        )


def _given(name: str, value) -> str:
    """The config field ``name``'s flag as given: ``--layers 8,4``, ``--no-batch-norm``."""
    spec = next(spec for spec in dataclasses.fields(RunConfig) if spec.name == name)
    flag = spec.metadata["flag"] or "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else "--no-" + flag[2:]
    return f"{flag} {_shown(value)}"


def _shown(value) -> str:
    """A config value as a flag takes it: ``8,4`` for a list, on / off for a switch."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _finished(config: RunConfig, folder: RunFolder) -> str | None:
    """The note for a resumed run that has nothing left to do (None when it has).

    A run is finished when its checkpoint says early stopping ended it, or that it did
    ``config.epochs`` epochs, and its final files were written (metrics.json).

    Raises:
        ConfigError: ``--epochs`` is below the epochs the checkpoint has done.
    """
    progress = read_progress(folder)
    if progress is None:
        return None
    if progress.epochs > config.epochs:
        raise ConfigError(
            f"--epochs {config.epochs} is below the {progress.epochs} epochs that "
            f"{folder.path} has trained; give more to extend the run"
        )
    if not folder.metrics.exists():
        return None  # the final files are missing: the resume writes them
    if progress.stopped:
        return (
            f"nnlab: {folder.path} is finished: early stopping ended it after epoch "
            f"{progress.stopped_epoch}; nothing was changed"
        )
    if progress.epochs == config.epochs:
        return (
            f"nnlab: {folder.path} is finished: it trained all its {config.epochs} epochs; "
            f"nothing was changed (--epochs N above {config.epochs} trains on)"
        )
    return None


def _print_interrupted(folder: RunFolder) -> None:
    """Say where an interrupted run can be resumed from, or that nothing was kept."""
    if folder.checkpoint.exists():
        print(
            f"\nnnlab: interrupted. The last checkpoint is {folder.checkpoint};"
            f" resume with: nnlab train --resume {folder.path}",
            file=sys.stderr,
        )
    else:
        print("\nnnlab: interrupted before the first checkpoint; nothing kept", file=sys.stderr)


def _stop_status(metrics: dict) -> int:
    """Print why training stopped early, if it did; 1 when the loss became NaN or inf."""
    reason = metrics.get("stop_reason")
    if reason is None:
        return 0
    print(f"note: {reason}")
    return 1 if "nan" in reason or "inf" in reason else 0
