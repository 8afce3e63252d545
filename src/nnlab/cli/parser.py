"""The one way a command registers its sub-parser."""

from __future__ import annotations


def command_parser(subparsers, name: str, help: str, doc: str, **options):
    """The parser of ``nnlab <name>``: ``help`` is its line in ``nnlab --help``, the first
    paragraph of the command module's docstring ``doc`` its description."""
    return subparsers.add_parser(name, help=help, description=doc.split("\n\n")[0], **options)
