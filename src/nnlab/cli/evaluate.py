"""nnlab evaluate MODEL: loss and accuracy of a saved model on a dataset's parts.

    nnlab evaluate runs/deep --dataset mnist --split test

MODEL is a run folder (its final model) or a model file; the data is loaded and split as
the run's config says (the defaults where there is none), on ``--dataset`` if given.
"""

from __future__ import annotations

import argparse

from ..runs.config import RunConfig
from ..runs.folder import RunFolder
from ..runs.runner import load_data
from ..saving.model_file import load_model
from .parser import command_parser

SPLITS = ("train", "dev", "test", "all")


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab evaluate MODEL [--dataset D] [--split S]``."""
    parser = command_parser(subparsers, "evaluate", "evaluate a saved model on a dataset", __doc__)
    parser.add_argument("model", metavar="MODEL", help="a model file or a run folder")
    parser.add_argument(
        "--dataset",
        default=None,
        help="a known dataset's name or a .npz path (default: the run's dataset)",
    )
    parser.add_argument(
        "--split", choices=SPLITS, default="all", help="data part(s) to evaluate (default: all)"
    )
    parser.set_defaults(handler=cmd_evaluate)
    return parser


def cmd_evaluate(args) -> int:
    """Print the loss and accuracy of each chosen part."""
    folder, model_path = RunFolder.for_model(args.model)
    model = load_model(model_path)
    config = folder.config_or(RunConfig()).updated(dataset=args.dataset)
    parts = load_data(config).parts()
    if args.split != "all":
        parts = {args.split: parts[args.split]}
    metrics = {part: model.evaluate(x, y, verbose=1) for part, (x, y) in parts.items()}
    print(format_metrics(metrics))
    return 0


def format_metrics(metrics: dict) -> str:
    """A small table: one row per data part, loss and accuracy."""
    lines = [f"{'':<7}{'loss':>10}{'accuracy':>11}"]
    for part in ("train", "dev", "test"):
        if part in metrics:
            m = metrics[part]
            lines.append(f"{part:<7}{m['loss']:>10.4f}{m.get('accuracy', float('nan')):>11.2%}")
    return "\n".join(lines)
