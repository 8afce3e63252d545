"""bAbI-style stories: seeded; every answer re-derived by replaying the story's sentences
(parsed here, independently of the generator); spans on the supporting fact; splits that
share no story; the samples the module's docstring shows."""

import itertools
import re
from collections import Counter

import pytest

from nnlab.data import babi
from nnlab.data.babi import (
    ACTORS,
    LOCATIONS,
    MOVES,
    NEW_ACTORS,
    NEW_LOCATIONS,
    QAExample,
    babi_splits,
    make_harder,
    make_task1,
)
from nnlab.exceptions import InputValueError

MOVE = re.compile(r"(\w+) (?:moved to|went to|journeyed to|travelled to|went back to) the (\w+)\.")
PICK = re.compile(r"(\w+) (?:got|grabbed|picked up|took) the (\w+) there\.")
DROP = re.compile(r"(\w+) (?:dropped|put down|discarded|left) the (\w+)\.")


def replay(sentences):
    """Where each person is, who holds each object, where each dropped object lies and
    the places each object has been in, after the story; asserts each event could happen."""
    where, holder, lies, trail = {}, {}, {}, {}
    for sentence in sentences:
        if m := MOVE.fullmatch(sentence):
            actor, place = m.groups()
            assert where.get(actor) != place, f"{sentence!r}: a move to where they are"
            where[actor] = place
            trail.update({o: trail[o] + [place] for o, a in holder.items() if a == actor})
        elif m := PICK.fullmatch(sentence):
            actor, obj = m.groups()
            assert actor in where and obj not in holder, sentence
            assert obj not in trail or lies[obj] == where[actor], sentence
            holder[obj], trail[obj] = actor, trail.get(obj, [where[actor]])
            lies.pop(obj, None)
        elif m := DROP.fullmatch(sentence):
            actor, obj = m.groups()
            assert holder.pop(obj) == actor, sentence
            lies[obj] = where[actor]
        else:
            raise AssertionError(f"not a bAbI sentence: {sentence!r}")
    return where, holder, lies, trail


def true_answer(example: QAExample) -> str:
    where, holder, lies, trail = replay(example.sentences)
    if m := re.fullmatch(r"Where is (\w+)\?", example.question):
        return where[m[1]]
    if m := re.fullmatch(r"Where is the (\w+)\?", example.question):
        return where[holder[m[1]]] if m[1] in holder else lies[m[1]]
    m = re.fullmatch(r"Where was the (\w+) before the (\w+)\?", example.question)
    places = trail[m[1]]
    assert places.count(m[2]) == 1 and places.index(m[2]) > 0, example
    return places[places.index(m[2]) - 1]


def check_span(example: QAExample):
    """The span is the answer, a place word of the movement sentence ``supporting[-1]``."""
    assert example.context[example.answer_start : example.answer_end] == example.answer
    start, end = example.sentence_spans()[example.supporting[-1]]
    assert start <= example.answer_start and example.answer_end == end - 1  # "... the place."
    assert MOVE.fullmatch(example.context[start:end])


def test_task1_answers_are_the_latest_place_and_the_span_is_on_the_supporting_fact():
    examples = make_task1(400, seed=3)
    for example in examples:
        assert " ".join(example.sentences) == example.context
        assert 2 <= len(example.sentences) <= 10 and example.task == 1
        assert example.answer == true_answer(example)
        check_span(example)
        (fact,) = example.supporting
        actor = example.question[len("Where is ") : -1]
        later = example.sentences[fact + 1 :]
        assert example.sentences[fact].startswith(actor + " ")
        assert not any(s.startswith(actor + " ") for s in later)  # the latest move
    words = " ".join(e.context for e in examples)
    assert set(re.findall(r"[A-Z]\w+", words)) == set(ACTORS)
    assert {p for e in examples for p in re.findall(r"the (\w+)\.", e.context)} == set(LOCATIONS)
    assert all(verb in words for verb in MOVES)
    last = sum(e.supporting[0] == len(e.sentences) - 1 for e in examples)
    assert last < 0.6 * len(examples)  # the question is not always about the last move
    # the lab's context.find(answer) would often label an earlier sentence
    assert sum(e.context.find(e.answer) != e.answer_start for e in examples) > 80


def test_harder_answers_replayed_tasks_even_and_facts_as_babi_lists_them():
    examples = make_harder(300, seed=4)
    counts = Counter(e.task for e in examples)
    assert set(counts) == {1, 2, 3} and min(counts.values()) > 70
    for example in examples:
        assert 8 <= len(example.sentences) <= 24
        assert example.answer == true_answer(example)
        check_span(example)
        assert len(example.supporting) == example.task == len(set(example.supporting))
        if example.task > 1:  # the object's pick-up or drop comes first
            obj = re.search(r"the (\w+)", example.question)[1]
            first = example.sentences[example.supporting[0]]
            assert PICK.fullmatch(first) or DROP.fullmatch(first)
            assert f" the {obj}" in first
    # distractors: most sentences support nothing, and the answer's word occurs elsewhere
    facts = sum(len(e.supporting) for e in examples)
    assert facts < 0.25 * sum(len(e.sentences) for e in examples)
    assert sum(e.context.count(f" {e.answer}.") > 1 for e in examples) > 100


def test_seeded_and_ids_numbered():
    assert make_task1(50, seed=1) == make_task1(50, seed=1) != make_task1(50, seed=2)
    assert make_harder(30, seed=1) == make_harder(30, seed=1) != make_harder(30, seed=2)
    assert [e.id for e in make_task1(3, prefix="q")] == ["q0", "q1", "q2"]
    assert make_task1(3, seed=1) == make_task1(6, seed=1)[:3]


def test_the_labs_two_sentence_stories_and_a_task_subset():
    for example in make_task1(50, seed=0, sentences=(2, 2)):
        assert len(example.sentences) == 2 and example.answer == true_answer(example)
    examples = make_harder(40, seed=0, sentences=(4, 6), tasks=(3,))
    assert {e.task for e in examples} == {3} and all(len(e.sentences) <= 6 for e in examples)
    assert all(e.answer == true_answer(e) for e in examples)


def test_splits_share_no_story_and_test_comes_from_another_seed():
    splits = babi_splits((600, 100, 200), seed=0, sentences=(2, 2))
    assert [len(part) for part in splits] == [600, 100, 200]
    pairs = [{(e.context, e.question) for e in part} for part in splits]
    assert not pairs[0] & pairs[1] and not pairs[0] & pairs[2] and not pairs[1] & pairs[2]
    assert splits.test[0].id == "test-0" and splits.test != make_task1(200, sentences=(2, 2))
    harder = babi_splits((100, 20, 40), seed=0, harder=True, tasks=(2, 3))
    assert {e.task for e in harder.test} == {2, 3}
    assert not {e.context for e in harder.train} & {e.context for e in harder.test}


def test_exclude_skips_pairs_and_says_when_nothing_is_left():
    # one-sentence stories: 4 people x 5 verbs x 6 places, one question each
    everything = {
        (f"{a} {v} the {p}.", f"Where is {a}?")
        for a, v, p in itertools.product(ACTORS, MOVES, LOCATIONS)
    }
    some = make_task1(60, seed=0, sentences=(1, 1))
    assert {(e.context, e.question) for e in some} <= everything
    rest = make_task1(40, seed=1, sentences=(1, 1), exclude={(e.context, e.question) for e in some})
    assert not {(e.context, e.question) for e in rest} & {(e.context, e.question) for e in some}
    with pytest.raises(InputValueError, match="count=1"):
        make_task1(1, sentences=(1, 1), exclude=everything)


def test_new_words_test_set():
    splits = babi_splits((100, 10, 50), seed=2, new_words=True)
    test_words = {w for e in splits.test for w in re.findall(r"\w+", e.context)}
    assert test_words & set(NEW_ACTORS + NEW_LOCATIONS) == set(NEW_ACTORS + NEW_LOCATIONS)
    assert not test_words & set(ACTORS + LOCATIONS)
    train_words = {w for e in splits.train for w in re.findall(r"\w+", e.context)}
    assert not train_words & set(NEW_ACTORS + NEW_LOCATIONS)
    assert all(e.answer == true_answer(e) and e.answer in NEW_LOCATIONS for e in splits.test)


def test_the_docstring_samples():
    doc = " ".join(babi.__doc__.split())
    for example in (
        make_task1(3, sentences=(3, 4))[2],
        make_harder(4, sentences=(6, 7), tasks=(2,))[2],
        make_harder(4, sentences=(6, 7), tasks=(3,))[3],
    ):
        facts = ", ".join(map(str, example.supporting))
        plural = "s" if example.task > 1 else ""
        said = f"{example.question} -> {example.answer} (supporting fact{plural}: {facts}"
        assert f"{example.context} {said}" in doc


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: make_task1(-1), "count must be an int >= 0, got -1"),
        (lambda: make_task1(5, sentences=(0, 3)), r"sentences must be .* got \(0, 3\)"),
        (lambda: make_task1(5, sentences=(4, 3)), r"got \(4, 3\)"),
        (lambda: make_task1(5, locations=("kitchen",)), "at least 2 places"),
        (lambda: make_task1(5, actors=()), "actors must name at least one"),
        (lambda: make_harder(5, tasks=(4,)), r"tasks must be some of \(1, 2, 3\), got \(4,\)"),
        (lambda: make_harder(5, objects=()), "objects must name at least one"),
        (lambda: make_harder(5, sentences=(1, 2), tasks=(3,)), "allow longer stories"),
        (lambda: babi_splits((10, 10)), r"sizes must be \(train, dev, test\)"),
    ],
)
def test_errors_name_the_argument(call, words):
    with pytest.raises(InputValueError, match=words):
        call()
