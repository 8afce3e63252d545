"""Bias / variance / data-mismatch diagnosis: the course's cases, the gap table, bad inputs."""

import json

import pytest

from nnlab.exceptions import InputValueError
from nnlab.practice.diagnose import GAPS, diagnose


def problems(d):
    return [gap.name for gap in d.problems]


@pytest.mark.parametrize(
    "train, dev, expected, dominant",
    [
        (0.01, 0.11, ["variance"], "variance"),  # high variance
        (0.15, 0.16, ["avoidable_bias"], "avoidable_bias"),  # high bias
        (0.15, 0.30, ["avoidable_bias", "variance"], "avoidable_bias"),  # both, equal gaps
        (0.005, 0.01, [], None),  # low bias, low variance
    ],
)
def test_course_bias_variance_cases(train, dev, expected, dominant):
    d = diagnose(train, dev)
    assert problems(d) == expected
    assert d.dominant == dominant
    gaps = {gap.name: gap.value for gap in d.gaps}
    assert gaps == pytest.approx({"avoidable_bias": train, "variance": dev - train})


def test_equal_gaps_go_to_bias_and_a_larger_variance_wins():
    assert diagnose(0.15, 0.30).dominant == "avoidable_bias"  # table order breaks the tie
    assert diagnose(0.15, 0.31).dominant == "variance"


def test_no_problem_is_reported_as_no_dominant_problem():
    d = diagnose(0.005, 0.01)
    assert "no dominant problem" in str(d)
    assert d.to_dict()["recommendations"] == {}


def test_human_level_flips_the_dominant_problem():
    near_human = diagnose(0.08, 0.10, human_error=0.075)
    assert near_human.dominant == "variance" and problems(near_human) == ["variance"]
    far_from_human = diagnose(0.08, 0.10, human_error=0.005)
    assert far_from_human.dominant == "avoidable_bias"
    gaps = {gap.name: gap.value for gap in far_from_human.gaps}
    assert gaps == pytest.approx({"avoidable_bias": 0.075, "variance": 0.02})


def test_data_mismatch_dominant_with_a_train_dev_set():
    d = diagnose(0.01, 0.10, train_dev_error=0.015)
    gaps = {gap.name: gap for gap in d.gaps}
    assert gaps["variance"].definition == "train_dev - train"
    assert gaps["variance"].value == pytest.approx(0.005)
    assert gaps["data_mismatch"].value == pytest.approx(0.085)
    assert problems(d) == ["data_mismatch"] and d.dominant == "data_mismatch"
    text = str(d)
    assert "dominant problem: data mismatch" in text
    assert "artificial data synthesis" in text and "manual error analysis" in text


def test_variance_without_train_dev_is_dev_minus_train_and_no_mismatch_row():
    d = diagnose(0.01, 0.10)
    assert [gap.name for gap in d.gaps] == ["avoidable_bias", "variance"]
    assert d.gaps[1].definition == "dev - train"


def test_overfitting_to_dev():
    d = diagnose(0.01, 0.02, test_error=0.08)
    assert problems(d) == ["dev_overfitting"] and d.dominant == "dev_overfitting"
    assert d.to_dict()["recommendations"] == {"dev_overfitting": ["get a bigger dev set"]}
    assert problems(diagnose(0.01, 0.02, test_error=0.025)) == []


def test_recommendations_come_from_the_table():
    d = diagnose(0.15, 0.30, human_error=0.0)
    recs = d.to_dict()["recommendations"]
    table = {rule.name: list(rule.remedies) for rule in GAPS}
    assert recs == {"avoidable_bias": table["avoidable_bias"], "variance": table["variance"]}
    assert any("bigger network" in r for r in recs["avoidable_bias"])
    assert any("Adam" in r for r in recs["avoidable_bias"])
    assert any("more training data" in r for r in recs["variance"])
    assert any("dropout" in r for r in recs["variance"])
    text = str(d)
    for remedy in recs["avoidable_bias"] + recs["variance"]:
        assert remedy in text
    assert "15.00%" in text and "30.00%" in text


def test_to_dict_is_json_round_trippable():
    d = diagnose(0.02, 0.09, test_error=0.1, train_dev_error=0.03, human_error=0.01)
    as_dict = d.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert set(as_dict) == {"errors", "gaps", "problems", "dominant", "recommendations"}
    assert as_dict["errors"] == {
        "human": 0.01,
        "train": 0.02,
        "train_dev": 0.03,
        "dev": 0.09,
        "test": 0.1,
    }
    assert list(as_dict["gaps"]) == [
        "avoidable_bias",
        "variance",
        "data_mismatch",
        "dev_overfitting",
    ]
    assert as_dict["dominant"] == "data_mismatch"
    values = {name: gap["value"] for name, gap in as_dict["gaps"].items()}
    expected = {  # by hand from the errors above
        "avoidable_bias": 0.02 - 0.01,
        "variance": 0.03 - 0.02,
        "data_mismatch": 0.09 - 0.03,
        "dev_overfitting": 0.1 - 0.09,
    }
    assert values == pytest.approx(expected)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"train_error": 1.5, "dev_error": 0.1}, "train_error"),
        ({"train_error": 0.1, "dev_error": -0.01}, "dev_error"),
        ({"train_error": 0.1, "dev_error": 0.2, "test_error": 2.0}, "test_error"),
        (
            {"train_error": 0.1, "dev_error": 0.2, "train_dev_error": float("nan")},
            "train_dev_error",
        ),
        ({"train_error": 0.1, "dev_error": 0.2, "human_error": -0.5}, "human_error"),
        ({"train_error": "0.1", "dev_error": 0.2}, "train_error"),
        ({"train_error": None, "dev_error": 0.2}, "train_error"),
    ],
)
def test_bad_error_rates_name_the_argument(kwargs, argument):
    with pytest.raises(InputValueError, match=f"diagnose: {argument} must be an error rate"):
        diagnose(**kwargs)


def test_percentages_get_a_hint():
    with pytest.raises(InputValueError, match="got 15 \\(a percentage\\? divide by 100\\)"):
        diagnose(15, 16)
