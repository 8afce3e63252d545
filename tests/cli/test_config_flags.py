"""`nnlab train`'s flags come from the run config's fields: names, types, choices, defaults."""

import argparse
import dataclasses
from pathlib import Path

import pytest

from nnlab.cli.config_flags import add_config_flags, given_config_flags
from nnlab.cli.main import build_parser, main
from nnlab.runs.config import RECIPES, RunConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


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


class _Stop(Exception):
    """Raised by a stand-in for the runner once it has the config the command built."""


def config_of(monkeypatch, tmp_path, *argv) -> RunConfig:
    """The RunConfig that ``nnlab train *argv`` would train (the runner is stubbed)."""
    seen = []

    def runner(config, *args, **kwargs):
        seen.append(config)
        raise _Stop

    monkeypatch.setattr("nnlab.cli.train.train", runner)
    with pytest.raises(_Stop):
        main(["train", *argv, "--out", str(tmp_path / "run"), "--quiet"])
    return seen[0]


@pytest.mark.parametrize("model", ["cnn", "resnet"])
def test_model_alone_trains_with_the_models_documented_recipe(monkeypatch, tmp_path, model):
    """``--model cnn`` used to keep the mlp's learning rate, batch and epochs (98.94% on
    MNIST); alone it now resolves to examples/mnist_<model>.toml (99.32% for the CNN)."""
    config = config_of(monkeypatch, tmp_path, "--model", model)
    assert config == RunConfig.from_toml(EXAMPLES / f"mnist_{model}.toml")
    assert {k: getattr(config, k) for k in RECIPES[model]} == RECIPES[model]
    helps = train_parser()._option_string_actions
    for name, value in RECIPES[model].items():
        shown = {True: "on", False: "off"}[value] if isinstance(value, bool) else value
        assert f"{model} {shown}" in helps["--" + name.replace("_", "-")].help


def test_a_value_the_user_gives_wins_over_the_models_recipe(monkeypatch, tmp_path):
    toml = tmp_path / "cnn.toml"
    toml.write_text('model = "cnn"\nlearning_rate = 0.01\n')
    config = config_of(monkeypatch, tmp_path, "--config", str(toml), "--epochs", "2")
    assert (config.learning_rate, config.epochs) == (0.01, 2)
    assert (config.batch_size, config.decay) == (64, "exponential")  # the rest: the recipe
    mlp = config_of(monkeypatch, tmp_path, "--epochs", "3")
    assert (mlp.epochs, mlp.learning_rate, mlp.batch_size, mlp.decay) == (3, 0.001, 128, "none")
