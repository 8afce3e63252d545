"""nnlab errors RUN_DIR: error analysis of a run's dev mistakes (Course 3).

    nnlab errors runs/deep                  tables, gallery, confusion matrix, CSV to tag
    nnlab errors runs/deep --count-tags runs/deep/errors/dev_mistakes.csv

Prints the per-class table, the most confused pairs and the worst mistakes, and writes
the run folder's ``errors/`` files (:class:`~nnlab.runs.folder.RunFolder`): the gallery of
the most confident mistakes (image data only), the confusion matrix and the mistakes CSV.
A CSV that already has tags or notes is a person's work and is kept.  The analysis itself
is :mod:`nnlab.practice.error_analysis`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..exceptions import ConfigError, ShapeError
from ..practice.error_analysis import (
    analyze,
    count_tags,
    format_tag_counts,
    has_annotations,
    image_shape_for,
    save_confusion_matrix,
    save_gallery,
    write_mistakes_csv,
)
from ..runs.folder import RunFolder
from ..runs.runner import load_data
from .parser import command_parser


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab errors RUN_DIR [--top N] [--gallery N] [--count-tags FILE]``."""
    parser = command_parser(
        subparsers,
        "errors",
        "error analysis of a run's dev mistakes",
        __doc__,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder from nnlab train")
    parser.add_argument(
        "--top",
        type=int,
        default=10,
        help="confused pairs and worst mistakes to print (default: 10)",
    )
    parser.add_argument(
        "--gallery",
        type=int,
        default=25,
        metavar="N",
        help=f"mistakes in {RunFolder.gallery.name}, 0 for none (default: 25)",
    )
    parser.add_argument(
        "--count-tags",
        metavar="FILE",
        help="instead: count the tags of a filled-in mistakes CSV (default: analyze)",
    )
    parser.set_defaults(handler=cmd_errors)
    return parser


def cmd_errors(args) -> int:
    """Count the tags of ``--count-tags``, or analyze the run's dev mistakes."""
    if args.count_tags:
        print(format_tag_counts(count_tags(args.count_tags)))
        return 0
    if args.top < 0 or args.gallery < 0:
        raise ConfigError(
            f"errors: --top and --gallery must be >= 0, got {args.top} and {args.gallery}"
        )
    folder = _run_folder(args.run_dir)
    model, config = folder.load_model(), folder.read_config()
    data = load_data(config)
    report = analyze(model, data.x_dev, data.y_dev)
    print(report.format(args.top))
    print()
    if args.gallery:
        _gallery_step(report, config, data, folder.gallery, args.gallery)
    _csv_step(report, folder.mistakes_csv)
    print(f"matrix:   {save_confusion_matrix(report, folder.confusion_matrix)}")
    return 0


def _run_folder(run_dir) -> RunFolder:
    """The run folder ``run_dir``; ConfigError when it is not a folder."""
    if not Path(run_dir).is_dir():
        raise ConfigError(f"errors: RUN_DIR must be a run folder, {str(run_dir)!r} is not one")
    return RunFolder(run_dir)


def _gallery_step(report, config, data, path: Path, n: int) -> None:
    """Save the gallery of the ``n`` worst mistakes, or print why there is none."""
    try:
        image_shape_for(data.x_dev)
    except ShapeError as err:
        print(f"note: no gallery ({err})")
        return
    # standardized inputs look wrong; the same split without standardizing shows the pixels
    x_dev = load_data(config.updated(standardize=False)).x_dev if config.standardize else data.x_dev
    print(f"gallery:  {save_gallery(report, x_dev, path, n=n)}")


def _csv_step(report, path: Path) -> None:
    """Write the mistakes CSV, unless the existing one has tags or notes."""
    if path.exists() and has_annotations(path):
        print(
            f"note: kept {path}: it has tags or notes; move it away to write a fresh one",
            file=sys.stderr,
        )
        return
    print(
        f"mistakes: {write_mistakes_csv(report, path)} (fill in 'tags', then run with "
        f"--count-tags {path})"
    )
