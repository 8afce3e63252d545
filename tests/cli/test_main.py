"""The `nnlab` command as a whole: its help, and how warnings and errors reach the terminal."""

import argparse
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from nnlab.cli import diagnose
from nnlab.cli.main import COMMANDS, build_parser, main

SRC = Path(__file__).resolve().parents[2] / "src"


def subparsers_action(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    """The action that holds the commands' parsers."""
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    """``{command: its parser}`` of every command of ``nnlab``."""
    return dict(subparsers_action(build_parser()).choices)


def test_help_names_every_command_on_one_line_each(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps at the terminal's width
    parser = build_parser()
    lines = parser.format_help().splitlines()
    helps = {a.dest: a.help for a in subparsers_action(parser)._choices_actions}
    assert sorted(helps) == sorted(command_parsers()) and len(helps) == len(COMMANDS)
    for name, text in helps.items():
        assert len(text.split()) >= 3, f"{name}: {text!r} is not a sentence"
        matching = [line.split(None, 1) for line in lines if line.split()[:1] == [name]]
        assert matching == [[name, text]], "\n".join(lines)


def option_actions():
    """(command, action) of every option and argument users see (-h and --version aside)."""
    for command, parser in command_parsers().items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._VersionAction):
                continue
            if action.help != argparse.SUPPRESS:  # hidden ones (tune's --worker) say nothing
                yield command, action


@pytest.mark.parametrize(
    "command, action", list(option_actions()), ids=lambda v: getattr(v, "dest", v)
)
def test_every_option_has_a_sentence_of_help_and_shows_its_default(command, action):
    name = "/".join(action.option_strings) or action.dest
    text = action.help or ""
    words = [w for w in text.replace("(", " ").split() if any(c.isalpha() for c in w)]
    assert len(words) >= 3, f"nnlab {command} {name}: help {text!r} is not a sentence"
    if action.option_strings:  # every flag has a default, if only "none" or "off"
        assert "(default: " in text, f"nnlab {command} {name}: help {text!r} shows no default"


# ------------------------------------------------------------- warnings on the terminal
def test_training_diagnostics_print_as_one_line_warnings(tmp_path):
    """Zero weights: vanishing gradients and dead ReLUs, which the training monitor reports
    with warnings.warn.  The terminal gets one line each, no source path or code line."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "nnlab.cli", "train", "--dataset", "planar"]
    command += [
        "--initializer",
        "zeros",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        str(tmp_path / "run"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    warned = [line for line in lines if "warning" in line.lower()]
    assert any("dead ReLUs in layer dense_1" in line for line in warned), done.stderr
    assert all(line.startswith("nnlab: warning: ") for line in warned), done.stderr
    assert "monitor.py" not in done.stderr and "self.log" not in done.stderr, done.stderr


def test_a_foreign_warning_is_one_line_naming_its_category(monkeypatch, capsys):
    def warns(args):
        warnings.warn("overflow encountered\nin exp", RuntimeWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(diagnose, "cmd_diagnose", warns)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["diagnose", "some-run"]) == 0
    assert (
        capsys.readouterr().err == "nnlab: warning: overflow encountered in exp (RuntimeWarning)\n"
    )
