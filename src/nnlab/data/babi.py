"""bAbI-style stories for extractive question answering (Course 5, week 4, the QA lab).

Facebook's bAbI tasks (Weston et al. 2015, "Towards AI-Complete Question Answering") are
short simulated stories with questions; no copy can be downloaded here, so nnlab writes
them with bAbI's words.  Task 1, "single supporting fact": four people (Mary, John,
Sandra, Daniel) move between six places (bathroom, hallway, kitchen, office, garden,
bedroom), and the question asks where one of them is; the answer is the place of that
person's latest move, one word of the story (``make_task1(3, sentences=(3, 4))[2]``)::

    Daniel went back to the kitchen. John travelled to the garden. Daniel journeyed to the
    bedroom. Mary moved to the garden.
    Where is Daniel?  ->  bedroom (supporting fact: 2, counting from 0)

The course's lab fine-tunes DistilBERT on bAbI in extractive form: the context is the
story's sentences joined by spaces, and the answer is a span of it, given by its first
character (``answer_start``) and its end (``answer_end``, exclusive; the lab's
``str_idx`` and ``end_idx``).  The lab finds the span with ``context.find(answer)``, the
first occurrence of the word; here it is the occurrence in the supporting fact, which is
a later one when someone else went to the same place before.

:func:`make_task1` writes task-1 stories of 2 to 10 sentences (bAbI asks its questions
after 2, 4, ..., 10; the lab keeps the first two sentences: ``sentences=(2, 2)``).  Every
move goes to a place other than where the person is; a question asks about someone the
story has moved, chosen at random, so the supporting fact is often not the last sentence.

:func:`make_harder` adds bAbI's tasks 2 and 3, still extractive (every answer is a place
word of a movement sentence).  People also pick up and drop a football, an apple and the
milk ("Mary got the football there.", "John dropped the apple."), and a question is one
of three kinds, drawn evenly from ``tasks``:

- task 1, "Where is Sandra?": one supporting fact, as above, in a longer story;
- task 2, "Where is the football?": where the person carrying it is, or where it was
  dropped; two supporting facts (the pick-up or the drop, then the movement sentence
  holding the place);
- task 3, "Where was the football before the kitchen?": the place the football was in
  before it was carried into the kitchen; three facts (its pick-up, the move into the
  kitchen, the movement sentence holding the answer).  Asked only about a place the
  football has been in once, so the question has one answer.

Its stories are 8 to 24 sentences; every sentence that is not a supporting fact is a
distractor (other people's moves, other objects, earlier places of the same person), and
the answer's place word often occurs in several sentences.  ``supporting`` lists the
facts as bAbI does, the sentence holding the answer span last.  Two short ones
(``make_harder(4, sentences=(6, 7), tasks=(2,))[2]``, and ``tasks=(3,)`` ``[3]``)::

    Sandra went to the garden. Sandra moved to the office. Daniel went back to the kitchen.
    Sandra grabbed the apple there. Mary journeyed to the garden. Sandra put down the apple.
    Mary went back to the bathroom.
    Where is the apple?  ->  office (supporting facts: 5, 1)

    Daniel went to the bedroom. Daniel picked up the apple there. Daniel grabbed the
    football there. Mary travelled to the hallway. Daniel dropped the apple. Daniel went
    back to the hallway.
    Where was the football before the hallway?  ->  bedroom (supporting facts: 2, 5, 0)

:func:`babi_splits` draws train, dev and test sets from separate seeds, and leaves out of
each later set every (context, question) pair of the earlier ones, so no test story was
seen in training; ``new_words=True`` writes the test stories with people and places of
other bAbI tasks (Bill, Fred, Jeff, Julie; park, cinema, school) that training never has.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import NamedTuple

from ..exceptions import InputValueError

ACTORS = ("Mary", "John", "Sandra", "Daniel")
LOCATIONS = ("bathroom", "hallway", "kitchen", "office", "garden", "bedroom")
#: people and places of other bAbI tasks, for a test set of words never trained on
NEW_ACTORS = ("Bill", "Fred", "Jeff", "Julie")
NEW_LOCATIONS = ("park", "cinema", "school")
MOVES = ("moved to", "went to", "journeyed to", "travelled to", "went back to")
OBJECTS = ("football", "apple", "milk")
PICKS = ("got", "grabbed", "picked up", "took")  # "Mary got the football there."
DROPS = ("dropped", "put down", "discarded", "left")  # "Mary dropped the football."
TASKS = (1, 2, 3)
#: stories drawn for one question of a task before giving up (stories too short for it);
#: excluded stories skipped, beyond 10 per example asked for, before giving up
MAX_TRIES = 1000


@dataclass(frozen=True)
class QAExample:
    """One question on one story.  ``answer_start``: the answer's first character in
    ``context``, in the sentence ``supporting[-1]``; ``supporting``: the facts the answer
    rests on, as sentence numbers from 0; ``task``: the bAbI task of the question."""

    id: str
    context: str
    question: str
    answer: str
    answer_start: int
    supporting: tuple[int, ...]
    task: int = 1

    @property
    def answer_end(self) -> int:
        """One past the answer's last character (the lab's ``end_idx``)."""
        return self.answer_start + len(self.answer)

    @property
    def sentences(self) -> list[str]:
        """The story's sentences (each ends with "." and none holds another)."""
        return [s + "." for s in self.context[:-1].split(". ")]

    def sentence_spans(self) -> list[tuple[int, int]]:
        """(first character, one past the "."): each sentence's place in ``context``."""
        spans, start = [], 0
        for sentence in self.sentences:
            spans.append((start, start + len(sentence)))
            start += len(sentence) + 1
        return spans


class QASplits(NamedTuple):
    """The three sets of :func:`babi_splits`."""

    train: list[QAExample]
    dev: list[QAExample]
    test: list[QAExample]


@dataclass
class _Place:
    """An object's place: the place word, the sentence that put the object there, the
    sentence holding the word, and the pick-up of the carrying that brought it there."""

    location: str
    arrived: int
    word: int
    carry: int | None = None


@dataclass
class _World:
    """A story being written: where each person is (their place and latest move), who
    carries what since which sentence, and each object's places so far."""

    rng: random.Random
    sentences: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # the place word's offset or -1
    actor_at: dict = field(default_factory=dict)  # actor -> (location, move sentence)
    carrying: dict = field(default_factory=dict)  # object -> (actor, pick-up sentence)
    dropped: dict = field(default_factory=dict)  # object -> _Place (arrived: the drop)
    history: dict = field(default_factory=dict)  # object -> [_Place, ...]

    def say(self, sentence: str, offset: int = -1) -> int:
        self.sentences.append(sentence)
        self.offsets.append(offset)
        return len(self.sentences) - 1

    def move(self, actor: str, locations) -> None:
        here = self.actor_at.get(actor, (None,))[0]
        location = self.rng.choice([p for p in locations if p != here])
        verb = self.rng.choice(MOVES)
        n = self.say(f"{actor} {verb} the {location}.", len(actor) + len(verb) + 6)
        self.actor_at[actor] = (location, n)
        for obj, (carrier, pick) in self.carrying.items():
            if carrier == actor:
                self.history[obj].append(_Place(location, n, n, pick))

    def pick(self, actor: str, obj: str) -> None:
        n = self.say(f"{actor} {self.rng.choice(PICKS)} the {obj} there.")
        self.carrying[obj] = (actor, n)
        if obj not in self.history:
            location, move = self.actor_at[actor]
            self.history[obj] = [_Place(location, n, move)]
        self.dropped.pop(obj, None)

    def drop(self, actor: str, obj: str) -> None:
        n = self.say(f"{actor} {self.rng.choice(DROPS)} the {obj}.")
        del self.carrying[obj]
        location, move = self.actor_at[actor]
        self.dropped[obj] = _Place(location, n, move)

    def pickable(self, actor: str, objects) -> list[str]:
        """The objects ``actor`` can pick up: never seen, or dropped where they stand."""
        here = self.actor_at[actor][0]
        return [
            o
            for o in objects
            if o not in self.carrying
            and (o not in self.history or (o in self.dropped and self.dropped[o].location == here))
        ]

    def example(self, name: str, question: str, answer: str, supporting, task: int):
        """The question, its answer being the place word of sentence ``supporting[-1]``."""
        word = supporting[-1]
        start = sum(len(s) + 1 for s in self.sentences[:word]) + self.offsets[word]
        return QAExample(name, " ".join(self.sentences), question, answer, start, supporting, task)


def make_task1(
    count: int,
    seed: int | str = 0,
    sentences=(2, 10),
    actors=ACTORS,
    locations=LOCATIONS,
    exclude=(),
    prefix: str = "task1-",
) -> list[QAExample]:
    """``count`` bAbI task-1 examples ("Where is Mary?") from ``seed``: stories of
    ``sentences`` = (fewest, most) moves, the people ``actors`` and the places
    ``locations``.  ``exclude``: (context, question) pairs not to make (a training set's);
    such draws are skipped.  Ids are ``prefix`` and the example's number."""
    _check("make_task1", count, sentences, actors, locations)
    rng = random.Random(seed)

    def draw(name):
        world = _World(rng)
        for _ in range(rng.randint(*sentences)):
            world.move(rng.choice(actors), locations)
        return _ask_actor(world, name)

    return _collect("make_task1", count, draw, exclude, prefix)


def make_harder(
    count: int,
    seed: int | str = 0,
    sentences=(8, 24),
    tasks=TASKS,
    actors=ACTORS,
    locations=LOCATIONS,
    objects=OBJECTS,
    exclude=(),
    prefix: str = "harder-",
) -> list[QAExample]:
    """``count`` examples of bAbI tasks ``tasks`` (1: "Where is Mary?", 2: "Where is the
    football?", 3: "Where was the football before the kitchen?"), the task of each drawn
    evenly, on stories of ``sentences`` = (fewest, most) moves, pick-ups and drops, from
    ``seed``.  ``exclude`` and ``prefix``: as :func:`make_task1`."""
    _check("make_harder", count, sentences, actors, locations)
    bad = [t for t in tasks if t not in TASKS]
    if not tasks or bad:
        raise InputValueError(f"make_harder: tasks must be some of {TASKS}, got {tuple(tasks)}")
    if not objects:
        raise InputValueError("make_harder: objects must name at least one object, got none")
    rng = random.Random(seed)
    ask = {1: _ask_actor, 2: _ask_object, 3: _ask_before}

    def draw(name):
        task = rng.choice(tuple(tasks))
        for _ in range(MAX_TRIES):
            world = _World(rng)
            for _ in range(rng.randint(*sentences)):
                _act(world, actors, locations, objects)
            example = ask[task](world, name)
            if example is not None:
                return example
        raise InputValueError(
            f"make_harder: no story of {sentences} sentences answers a task-{task} question "
            f"in {MAX_TRIES} tries; allow longer stories"
        )

    return _collect("make_harder", count, draw, exclude, prefix)


def babi_splits(
    sizes=(5000, 500, 1000), seed: int = 0, harder: bool = False, new_words: bool = False, **options
) -> QASplits:
    """Train, dev and test sets of ``sizes`` examples (:func:`make_task1`, or
    :func:`make_harder` when ``harder``), each from its own seed derived from ``seed``; dev
    holds no (context, question) pair of train, test none of train or dev.  ``new_words``:
    test stories use :data:`NEW_ACTORS` and :data:`NEW_LOCATIONS` only.  ``options`` go to
    the generator (``sentences``, ``tasks``)."""
    if len(sizes) != 3:
        raise InputValueError(f"babi_splits: sizes must be (train, dev, test), got {sizes!r}")
    make = make_harder if harder else make_task1
    seen: set[tuple[str, str]] = set()
    parts = []
    for name, count in zip(("train", "dev", "test"), sizes, strict=True):
        words = {}
        if new_words and name == "test":
            words = {"actors": NEW_ACTORS, "locations": NEW_LOCATIONS}
        part = make(
            count, f"{seed}/{name}", exclude=seen, prefix=f"{name}-", **{**options, **words}
        )
        seen |= {(e.context, e.question) for e in part}
        parts.append(part)
    return QASplits(*parts)


def _check(caller, count, sentences, actors, locations) -> None:
    if not isinstance(count, int) or count < 0:
        raise InputValueError(f"{caller}: count must be an int >= 0, got {count!r}")
    if len(sentences) != 2 or not 1 <= sentences[0] <= sentences[1]:
        raise InputValueError(
            f"{caller}: sentences must be (fewest, most) with 1 <= fewest <= most, "
            f"got {tuple(sentences)}"
        )
    if not actors:
        raise InputValueError(f"{caller}: actors must name at least one person, got none")
    if len(set(locations)) < 2:
        raise InputValueError(
            f"{caller}: locations must name at least 2 places (a move changes place), "
            f"got {tuple(locations)}"
        )


def _collect(caller, count, draw, exclude, prefix) -> list[QAExample]:
    """``count`` examples of ``draw``, skipping the (context, question) pairs of
    ``exclude``."""
    excluded = exclude if isinstance(exclude, set) else set(exclude)
    examples: list[QAExample] = []
    misses = 0
    while len(examples) < count:
        example = draw(f"{prefix}{len(examples)}")
        if (example.context, example.question) not in excluded:
            examples.append(example)
        else:
            misses += 1
            if misses > MAX_TRIES + 10 * count:
                raise InputValueError(
                    f"{caller}: {misses} stories drawn were all excluded; {len(examples)} of "
                    f"count={count} made; ask for fewer or allow more sentences"
                )
    return examples


def _act(world: _World, actors, locations, objects) -> None:
    """One sentence of a harder story: a move (half the time, and always when nothing
    else can happen), a pick-up or a drop."""
    rng = world.rng
    placed = [a for a in actors if a in world.actor_at]
    picks = [(a, o) for a in placed for o in world.pickable(a, objects)]
    drops = [(a, o) for o, (a, _) in world.carrying.items()]
    roll = rng.random()
    if roll < 0.25 and picks:
        world.pick(*rng.choice(picks))
    elif roll < 0.5 and drops:
        world.drop(*rng.choice(drops))
    else:
        world.move(rng.choice(actors), locations)


def _ask_actor(world: _World, name: str) -> QAExample | None:
    """Task 1: "Where is Mary?" about someone the story has moved."""
    if not world.actor_at:
        return None
    actor = world.rng.choice(sorted(world.actor_at))
    location, move = world.actor_at[actor]
    return world.example(name, f"Where is {actor}?", location, (move,), 1)


def _ask_object(world: _World, name: str) -> QAExample | None:
    """Task 2: "Where is the football?" about an object someone has picked up."""
    if not world.history:
        return None
    obj = world.rng.choice(sorted(world.history))
    if obj in world.carrying:
        actor, pick = world.carrying[obj]
        location, move = world.actor_at[actor]
        facts = (pick, move)
    else:
        place = world.dropped[obj]
        location, facts = place.location, (place.arrived, place.word)
    return world.example(name, f"Where is the {obj}?", location, facts, 2)


def _ask_before(world: _World, name: str) -> QAExample | None:
    """Task 3: "Where was the football before the kitchen?" about a place the object
    has been carried into and been in only once."""
    choices = []
    for obj, places in sorted(world.history.items()):
        names = [p.location for p in places]
        choices += [(obj, i) for i in range(1, len(places)) if names.count(names[i]) == 1]
    if not choices:
        return None
    obj, i = world.rng.choice(choices)
    now, before = world.history[obj][i], world.history[obj][i - 1]
    question = f"Where was the {obj} before the {now.location}?"
    facts = (now.carry, now.arrived, before.word)
    return world.example(name, question, before.location, facts, 3)
