"""Exact match and token F1 as the SQuAD v1.1 evaluation script defines them, on cases
worked out by hand."""

import pytest

from nnlab.exceptions import InputValueError
from nnlab.training.qa_metrics import exact_match, normalize_answer, qa_scores, token_f1


@pytest.mark.parametrize(
    "text, normal",
    [
        ("The Kitchen!", "kitchen"),
        ("  in   the\tgarden. ", "in garden"),
        ("An apple, a pear", "apple pear"),
        ("theatre", "theatre"),  # an article only as a whole word
        ("a.m.", "am"),  # punctuation goes first, then "am" is no article
        ("well-known", "wellknown"),  # no space where the hyphen was
        ("The U.S.A.", "usa"),
        ("", ""),
    ],
)
def test_normalize_answer(text, normal):
    assert normalize_answer(text) == normal


@pytest.mark.parametrize(
    "prediction, truth, em, f1",
    [
        ("the kitchen", "kitchen", 1.0, 1.0),
        ("Kitchen.", "kitchen", 1.0, 1.0),
        ("garden", "kitchen", 0.0, 0.0),
        # [big, red, ball] vs [red, ball]: 2 shared, P 2/3, R 1, F1 2(2/3)/(5/3) = 4/5
        ("the big red ball", "red ball", 0.0, 0.8),
        # [in, kitchen] vs [kitchen]: P 1/2, R 1, F1 2/3
        ("in the kitchen", "kitchen", 0.0, 2 / 3),
        # shared tokens counted once each: [kitchen, kitchen] vs [kitchen]: P 1/2, R 1
        ("kitchen kitchen", "kitchen", 0.0, 2 / 3),
        # [red, ball] vs [big, red, ball, game]: P 1, R 2/4, F1 2/3
        ("red ball", "a big red ball game", 0.0, 2 / 3),
        # [b, c, d] vs [c, d, e, f]: 2 shared, P 2/3, R 1/2, F1 (2/3)/(7/6) = 4/7
        ("b c d", "c d e f", 0.0, 4 / 7),
        ("well known", "well-known", 0.0, 0.0),
        ("", "kitchen", 0.0, 0.0),
        ("the", "a", 1.0, 0.0),  # both normalize to "": equal, but no token shared (v1.1)
    ],
)
def test_exact_match_and_f1_by_hand(prediction, truth, em, f1):
    assert exact_match(prediction, truth) == em
    assert token_f1(prediction, truth) == pytest.approx(f1, abs=1e-12)
    assert token_f1(truth, prediction) == pytest.approx(f1, abs=1e-12)  # symmetric


def test_scores_average_and_keep_the_best_true_answer():
    scores = qa_scores(
        ["kitchen", "the big red ball", "garden", "in the hallway"],
        ["the kitchen", "red ball", ["office", "Garden"], ["hallway", "the hallway"]],
    )
    # exact: 1, 0, 1, 0; F1: 1, 4/5, 1, 2/3
    assert scores["exact_match"] == pytest.approx(2 / 4)
    assert scores["f1"] == pytest.approx((1 + 0.8 + 1 + 2 / 3) / 4)


@pytest.mark.parametrize(
    "predictions, references, words",
    [
        (["a", "b"], ["a"], "2 predictions but 1 references"),
        ([], [], "predictions is empty"),
        (["a"], [[]], "no true answer for prediction 'a'"),
    ],
)
def test_scores_errors(predictions, references, words):
    with pytest.raises(InputValueError, match=words):
        qa_scores(predictions, references)
