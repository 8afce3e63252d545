"""nnlab train: train a deep net and write a run folder.

    nnlab train                               the default deep net on MNIST
    nnlab train --config run.toml --epochs 20 --out runs/deep
    nnlab train --resume runs/deep            continue from the last checkpoint

Every field of the run config (:mod:`nnlab.runs.config`) is a flag, derived from its
declaration; flags override the ``--config`` file.  At the end the run's metrics and its
bias / variance diagnosis are printed.
"""

from __future__ import annotations

import argparse
import sys

from ..runs.config import RunConfig
from ..runs.folder import RunFolder, diagnose_run
from ..runs.runner import train
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
        help="continue a run from its checkpoint; of the flags only --epochs applies "
        "(default: a new run)",
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
        return folder.read_config().updated(epochs=args.epochs), folder
    config = RunConfig.from_toml(args.config) if args.config else RunConfig()
    config = config.updated(**given_config_flags(args))
    return config, RunFolder(args.out) if args.out else RunFolder.new(config.dataset)


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
