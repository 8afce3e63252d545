"""`nnlab train`'s flags come from the run config's fields: names, types, choices, defaults."""

import argparse
import dataclasses

import pytest

from nnlab.cli.config_flags import add_config_flags, given_config_flags
from nnlab.cli.main import build_parser
from nnlab.runs.config import RunConfig


def train_parser() -> argparse.ArgumentParser:
    subparsers = build_parser()._subparsers._group_actions[0]
    return subparsers.choices["train"]


def test_every_config_field_is_a_train_flag_with_its_default_in_the_help():
    actions = {action.dest: action for action in train_parser()._actions}
    defaults = RunConfig()
    for spec in dataclasses.fields(RunConfig):
        action = actions[spec.name]
        assert action.option_strings[0] == "--" + spec.name.replace("_", "-")
        assert action.default is None  # not given: the config file's value stays
        assert spec.metadata["help"] in action.help
        shown = getattr(defaults, spec.name)
        if isinstance(shown, list):
            shown = ",".join(map(str, shown))
        elif isinstance(shown, bool):
            shown = "on" if shown else "off"
        assert action.help.endswith(f"(default: {shown})"), spec.name


def test_every_train_option_has_help_that_gives_its_default():
    for action in train_parser()._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and "(default: " in action.help, action.dest


def test_flags_parse_to_the_field_values():
    args = train_parser().parse_args(
        ["--layers", "6,4", "--dev-size", "60", "--no-batch-norm", "--learning-rate", "0.5"]
    )
    given = given_config_flags(args)
    assert given["layers"] == [6, 4] and given["dev_size"] == 60
    assert given["batch_norm"] is False and given["learning_rate"] == 0.5
    assert given["epochs"] is None and given["augment"] is None
    config = RunConfig(epochs=3).updated(**given)
    assert (config.epochs, config.layers, config.dev_size) == (3, [6, 4], 60)


def test_choices_come_from_the_field():
    with pytest.raises(SystemExit):
        train_parser().parse_args(["--decay", "linear"])
    assert train_parser().parse_args(["--model", "resnet"]).model == "resnet"


def test_a_subset_of_fields_with_other_defaults_shown():
    parser = argparse.ArgumentParser()
    add_config_flags(parser, RunConfig(activation="tanh"), ("activation", "l2"))
    helps = {action.dest: action.help for action in parser._actions}
    assert set(helps) == {"help", "activation", "l2"}
    assert helps["activation"].endswith("(default: tanh)")
    assert given_config_flags(parser.parse_args(["--l2", "0.1"]), ("activation", "l2")) == {
        "activation": None,
        "l2": 0.1,
    }
