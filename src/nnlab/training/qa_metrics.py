"""Exact match and token F1 of extractive answers, as SQuAD v1.1 defines them.

The official evaluation script (``evaluate-v1.1.py``) first normalizes both answers:
lower-case, remove ASCII punctuation (``string.punctuation``), remove the articles "a",
"an", "the" as whole words, and collapse whitespace (in that order, so "a.m." becomes
"am" and stays)::

    "The Kitchen!"  ->  "kitchen"        "well-known"  ->  "wellknown"

Exact match is 1 when the normalized answers are equal.  Token F1 splits the normalized
answers at whitespace and counts the tokens they share (with multiplicity, the smaller
count of each token); with ``same`` shared tokens, a predicted answer of ``p`` tokens and a
true one of ``t``::

    precision = same / p      recall = same / t      F1 = 2 precision recall / (precision + recall)

and F1 is 0 when nothing is shared, an empty answer included (v1.1: two empty answers
match exactly but have F1 0; SQuAD v2.0's script scores that 1).  A question with several
true answers gets its best score over them.  :func:`qa_scores` averages over a set, as
fractions in [0, 1] (the script prints them times 100).
"""

from __future__ import annotations

import re
import string
from collections import Counter

from ..exceptions import InputValueError

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """The answer as SQuAD compares it: lower-case, no punctuation, no articles, single
    spaces."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, truth: str) -> float:
    """1.0 when the normalized answers are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(truth))


def token_f1(prediction: str, truth: str) -> float:
    """The harmonic mean of token precision and recall of the normalized answers."""
    predicted, true = normalize_answer(prediction).split(), normalize_answer(truth).split()
    same = sum((Counter(predicted) & Counter(true)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(true)
    return 2 * precision * recall / (precision + recall)


def qa_scores(predictions, references) -> dict[str, float]:
    """Mean ``exact_match`` and ``f1`` of ``predictions`` (strings) against
    ``references`` (per question a string, or a list of the acceptable answers: the best
    is kept)."""
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references):
        raise InputValueError(
            f"qa_scores: {len(predictions)} predictions but {len(references)} references "
            "(expected one per question)"
        )
    if not predictions:
        raise InputValueError("qa_scores: predictions is empty (expected at least one)")
    em = f1 = 0.0
    for prediction, truths in zip(predictions, references, strict=True):
        truths = [truths] if isinstance(truths, str) else list(truths)
        if not truths:
            raise InputValueError(f"qa_scores: no true answer for prediction {prediction!r}")
        em += max(exact_match(prediction, t) for t in truths)
        f1 += max(token_f1(prediction, t) for t in truths)
    return {"exact_match": em / len(predictions), "f1": f1 / len(predictions)}
