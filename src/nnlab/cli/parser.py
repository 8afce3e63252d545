"""The one way a command registers its sub-parser."""

from __future__ import annotations


def command_parser(subparsers, name: str, help: str, doc: str, **options):
    """The parser of ``nnlab <name>``: ``help`` is its line in ``nnlab --help``, the first
    paragraph of the command module's docstring ``doc`` its description."""
    return subparsers.add_parser(name, help=help, description=doc.split("\n\n")[0], **options)


def action_parsers(parser, help: str):
    """The subparsers of a command's actions (``nnlab <command> ACTION ...``); ``help``
    lists them."""
    return parser.add_subparsers(dest="action", required=True, metavar="ACTION", help=help)
