"""The run config: field declarations, choices, flag-text parsers."""

import argparse
import dataclasses
import re

import numpy as np
import pytest

from nnlab.cli.main import main
from nnlab.exceptions import ConfigError, InputValueError
from nnlab.runs import runner
from nnlab.runs.config import DECAYS, MODELS, RunConfig, fraction_or_count, int_list


def test_every_field_declares_a_help_sentence():
    for spec in dataclasses.fields(RunConfig):
        assert spec.metadata["help"].strip(), spec.name


def test_list_defaults_are_not_shared_between_configs():
    a, b = RunConfig(), RunConfig()
    a.layers.append(7)
    assert b.layers == [256, 128]


@pytest.mark.parametrize(("name", "choices"), [("model", MODELS), ("decay", DECAYS)])
def test_declared_choices_are_checked_with_the_key_expected_and_actual_value(name, choices):
    fields = {spec.name: spec for spec in dataclasses.fields(RunConfig)}
    assert fields[name].metadata["choices"] == choices
    expected = f"config: {name} must be one of {', '.join(choices)}, got 'x'"
    with pytest.raises(ConfigError, match=expected):
        RunConfig(**{name: "x"})


def test_int_list_parses_widths_and_names_bad_text():
    assert int_list("256, 128") == [256, 128]
    assert int_list("4") == [4]
    with pytest.raises(argparse.ArgumentTypeError, match="integers separated by commas, got '4,a'"):
        int_list("4,a")


def test_fraction_or_count():
    assert fraction_or_count("0.25") == 0.25
    assert fraction_or_count("60") == 60 and isinstance(fraction_or_count("60"), int)
    with pytest.raises(argparse.ArgumentTypeError, match="got 'ten'"):
        fraction_or_count("ten")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('batch_norm = "false"', "batch_norm must be true or false, got 'false' (str)"),
        ('epochs = "1"', "epochs must be an integer, got '1' (str)"),
        ("epochs = 1.5", "epochs must be an integer, got 1.5 (float)"),
        ('learning_rate = "0.01"', "learning_rate must be a finite number, got '0.01' (str)"),
        ("layers = 16", "layers must be a list of integers, got 16 (int)"),
        ("layers = [16, true]", "layers must be a list of integers, got [16, True] (list)"),
        ("dropout = true", "dropout must be a finite number, got True (bool)"),
        ("dataset = 3", "dataset must be a string, got 3 (int)"),
        ('dev_size = "x"', "dev_size must be an integer or a finite number, got 'x' (str)"),
        ("dev_size = 500.0", "dev_size must be a fraction in (0, 1) or a count >= 1, got 500.0"),
        ("seed = -1", "seed must be in [0, 2**32 - 1 = 4294967295], got -1"),
    ],
)
def test_every_value_is_type_checked_naming_the_key_the_type_and_the_value(tmp_path, toml, message):
    """A TOML value of the wrong type is a ConfigError, never a traceback or a silent
    misreading (a non-empty string "false" is truthy: batch norm would be on)."""
    path = tmp_path / "run.toml"
    path.write_text(toml + "\n")
    with pytest.raises(ConfigError, match=re.escape(f"config: {message}")):
        RunConfig.from_toml(path)


def test_an_integer_for_a_float_field_becomes_a_float():
    config = RunConfig.from_dict({"learning_rate": 1, "layers": (8, 4), "dev_size": 60})
    assert isinstance(config.learning_rate, float) and config.learning_rate == 1.0
    assert config.layers == [8, 4] and config.dev_size == 60


def test_a_negative_seed_flag_is_refused_in_one_line(capsys):
    """``--seed -1`` used to reach NumPy and end in its traceback."""
    assert main(["train", "--dataset", "planar", "--seed", "-1", "--quiet"]) != 0
    err = capsys.readouterr().err
    assert "seed must be in [0, 2**32 - 1" in err and "Traceback" not in err


def test_a_dev_size_that_leaves_too_few_examples_is_refused():
    for size in (2, 398):  # of planar's 400 training examples: 2 in dev, or 2 left to train
        with pytest.raises(InputValueError, match=f"dev_size={size}.*at least {runner.MIN_PART}"):
            runner.load_data(RunConfig(dataset="planar", dev_size=size))


def test_an_empty_x_train_or_x_test_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    for empty in ("train", "test"):
        parts = {f"x_{p}": rng.random((0 if p == empty else 20, 3)) for p in ("train", "test")}
        labels = {f"y_{p}": np.zeros(len(parts[f"x_{p}"]), int) for p in ("train", "test")}
        path = tmp_path / f"no_{empty}.npz"
        np.savez(path, **parts, **labels)
        with pytest.raises(InputValueError, match=f"x_{empty} is empty"):
            runner.load_data(RunConfig(dataset=str(path)))
