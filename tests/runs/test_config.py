"""The run config: field declarations, choices, flag-text parsers."""

import argparse
import dataclasses

import pytest

from nnlab.exceptions import ConfigError
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
