"""The nnlab command: train, evaluate, gradcheck, diagnose, errors, tune, charlm, trigger, dates,
search, qa, ner, detect, faces, stylize.

    nnlab train --config run.toml --epochs 20 --out runs/deep
    nnlab evaluate runs/deep --dataset mnist
    nnlab diagnose runs/deep --human-error 0.002
    nnlab --help                         the commands; nnlab COMMAND --help: its options

Each command is one module of this package with ``add_command(subparsers)``, which
registers its parser and sets ``handler``; this module only holds the top-level parser,
the list of commands and the dispatch.  A command module with a ``DEFAULT_ACTION`` (and
its ``COMMAND`` and ``ACTIONS``) may be called without the action: ``nnlab ner RUN "text"``
is ``nnlab ner tag RUN "text"``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings

from tqdm import tqdm

from .. import __version__
from ..exceptions import NNLabError
from . import (
    charlm,
    dates,
    detect,
    diagnose,
    errors,
    evaluate,
    faces,
    gradcheck,
    ner,
    qa,
    search,
    stylize,
    train,
    trigger,
    tune,
)

#: The command modules, in the order ``nnlab --help`` lists them.
COMMANDS = (train, evaluate, gradcheck, diagnose, errors, tune, charlm, trigger, dates, search, qa, ner, detect, faces, stylize)  # fmt: skip


def main(argv=None) -> int:
    """Run the command of ``argv``; its exit status (2 for an nnlab error, printed).

    Errors and warnings reach the terminal as one line each, ``nnlab: error: ...`` and
    ``nnlab: warning: ...``, without Python's source path and code line.
    """
    argv = with_default_action(sys.argv[1:] if argv is None else list(argv))
    args = build_parser().parse_args(argv)
    with one_line_warnings():
        try:
            return args.handler(args)
        except NNLabError as err:
            print(f"nnlab: error: {err}", file=sys.stderr)
            return 2


def with_default_action(argv: list[str]) -> list[str]:
    """``argv`` with a command's ``DEFAULT_ACTION`` put in when the word after the command
    is neither one of its ``ACTIONS`` nor an option (``ner RUN TEXT`` -> ``ner tag RUN
    TEXT``)."""
    for module in COMMANDS:
        default = getattr(module, "DEFAULT_ACTION", None)
        if default is None or argv[:1] != [module.COMMAND] or len(argv) < 2:
            continue
        if argv[1] not in module.ACTIONS and not argv[1].startswith("-"):
            return [argv[0], default, *argv[1:]]
    return argv


@contextlib.contextmanager
def one_line_warnings():
    """Show every warning raised inside as ``nnlab: warning: <message>`` on stderr (above a
    running progress bar); the warning filters and display are restored on leaving."""
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        yield


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` of the CLI: one line; the category is named unless it is a
    plain UserWarning or one of nnlab's own (such as the training monitor's)."""
    text = " ".join(str(message).split())
    if not (category is UserWarning or category.__module__.startswith("nnlab.")):
        text = f"{text} ({category.__name__})"
    tqdm.write(f"nnlab: warning: {text}", file=file or sys.stderr)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, measuring the commands at their indentation: argparse measures
    them one indent short, which pushes the longest one's help line onto a line of its own."""

    def add_argument(self, action):
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction) and action.help != argparse.SUPPRESS:
            self._action_max_length += self._indent_increment


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every command of ``COMMANDS`` registered."""
    parser = argparse.ArgumentParser(
        prog="nnlab", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"nnlab {__version__}")
    subparsers = parser.add_subparsers(
        dest="command",
        required=True,
        title="commands",
        metavar="COMMAND",
        help="nnlab COMMAND --help lists a command's options",
    )
    for command in COMMANDS:
        command.add_command(subparsers)
    return parser


if __name__ == "__main__":
    sys.exit(main())
