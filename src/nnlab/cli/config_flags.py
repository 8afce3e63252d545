"""Command-line flags derived from the run config's fields (:mod:`nnlab.runs.config`).

Each field of :class:`RunConfig`, declared once with :func:`nnlab.runs.config.option`,
makes one flag: ``--`` + its name with ``-`` for ``_`` (or its ``flag``), its ``type`` (or
the default's type; a bool field becomes a ``--name`` / ``--no-name`` switch), its
``choices``, and its ``help`` sentence with the default appended.  A flag's parsed value
is None when it is not given, so that only given flags override a config file.
"""

from __future__ import annotations

import argparse
import dataclasses

from ..runs.config import RunConfig


def add_config_flags(parser, shown: RunConfig, names=None) -> None:
    """Add the flag of every field of ``RunConfig`` (or of the fields in ``names``).

    Args:
        parser: the command's ``argparse`` parser.
        shown: the config whose values the help gives as the defaults.
        names: field names; default every field, in declaration order.
    """
    for spec in _fields(names):
        default = getattr(shown, spec.name)
        text = f"{spec.metadata['help']} (default: {_show(default)})".replace("%", "%%")
        parser.add_argument(
            spec.metadata["flag"] or "--" + spec.name.replace("_", "-"),
            dest=spec.name,
            default=None,
            help=text,
            **_parsing(spec, default),
        )


def given_config_flags(args, names=None) -> dict:
    """``{field: value}`` of the fields' flags in ``args``; None where a flag was not given
    (``RunConfig.updated`` skips those)."""
    return {spec.name: getattr(args, spec.name) for spec in _fields(names)}


def _fields(names=None) -> list[dataclasses.Field]:
    fields = dataclasses.fields(RunConfig)
    if names is None:
        return list(fields)
    by_name = {spec.name: spec for spec in fields}
    return [by_name[name] for name in names]


def _parsing(spec: dataclasses.Field, default) -> dict:
    """The ``add_argument`` options that turn the flag's text into the field's value."""
    if isinstance(default, bool):
        return {"action": argparse.BooleanOptionalAction}
    options = {"type": spec.metadata["type"] or type(default)}
    if spec.metadata["choices"]:
        options["choices"] = spec.metadata["choices"]
    return options


def _show(value) -> str:
    """A default as the user would type it: 256,128 for a list, on / off for a switch."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)
