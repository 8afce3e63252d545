"""The nnlab command: train, evaluate, gradcheck, diagnose, errors, tune.

    nnlab train --config run.toml --epochs 20 --out runs/deep
    nnlab evaluate runs/deep --dataset mnist
    nnlab diagnose runs/deep --human-error 0.002
    nnlab --help                         the commands; nnlab COMMAND --help: its options

Each command is one module of this package with ``add_command(subparsers)``, which
registers its parser and sets ``handler``; this module only holds the top-level parser,
the list of commands and the dispatch.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..exceptions import NNLabError
from . import diagnose, errors, evaluate, gradcheck, train, tune

#: The command modules, in the order ``nnlab --help`` lists them.
COMMANDS = (train, evaluate, gradcheck, diagnose, errors, tune)


def main(argv=None) -> int:
    """Run the command of ``argv``; its exit status (2 for an nnlab error, printed)."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except NNLabError as err:
        print(f"nnlab: error: {err}", file=sys.stderr)
        return 2


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
