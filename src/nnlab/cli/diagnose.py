"""nnlab diagnose RUN_DIR: the bias / variance / data-mismatch diagnosis of a run.

    nnlab diagnose runs/20261124-183000-mnist --human-error 0.002 [--json]

The diagnosis itself is :mod:`nnlab.practice.diagnose`; the run's errors come from its
metrics file (:func:`nnlab.runs.folder.diagnose_run`).
"""

from __future__ import annotations

import argparse
import json

from ..runs.folder import RunFolder, diagnose_run
from .parser import command_parser


def error_fraction(text: str) -> float:
    """argparse type of ``--human-error``: an error rate in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an error rate in [0, 1], got {text!r}"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"expected an error rate (a fraction) in [0, 1], got {text!r}"
        )
    return value


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab diagnose RUN_DIR [--human-error E] [--json]``."""
    parser = command_parser(
        subparsers, "diagnose", "bias / variance / data mismatch diagnosis of a run", __doc__
    )
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help=f"a run folder with {RunFolder.metrics.name}"
    )
    parser.add_argument(
        "--human-error",
        type=error_fraction,
        default=0.0,
        help="human-level error, the proxy for Bayes error, as a fraction (default: 0)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object (default: a text table)"
    )
    parser.set_defaults(handler=cmd_diagnose)
    return parser


def cmd_diagnose(args) -> int:
    """Print the diagnosis of ``args.run_dir`` as text or JSON."""
    diagnosis = diagnose_run(args.run_dir, human_error=args.human_error)
    print(json.dumps(diagnosis.to_dict()) if args.json else diagnosis)
    return 0
