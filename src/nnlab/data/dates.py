"""Human-readable dates and their ISO form, for translation with attention (Course 5, week 3).

The course's ``nmt_utils.load_date``: a random date (faker), written by babel's
``format_date`` in one of the course's formats and locale, lower-cased with commas removed
("saturday 9 may 2018"), paired with its ISO form ("2018-05-09").  nnlab draws from several
locales (their month and day names), and holds locales out for testing.  Locales whose
short forms would read one string as two dates (en_US "5/9/18" is May 9, es_ES "9/5/18"
also May 9) are not mixed: the default training locales agree on every format.

Characters become ids: the human vocabulary is every character of the training strings
plus <unk> and <pad>; the machine vocabulary is "-0123456789".  Inputs are padded to
Tx = 30 characters and outputs are Ty = 10, as the course.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from ..exceptions import InputValueError
from .datasets import DatasetNotFoundError

#: the course's formats (nmt_utils.FORMATS; "full" weighted as it is there), with the
#: calendar year "yyy"/"yy" where the course writes "YYY"/"YY": in babel (CLDR) "Y" is the
#: week-numbering year, which is the next or the previous year in the last or first days
#: of a year ("31 déc. 1986" for 1985-12-31), a text that contradicts its label
FORMATS = ["short", "medium", "long"] + ["full"] * 10 + [
    "d MMM yyy", "d MMMM yyy", "dd MMM yyy", "d MMM, yyy", "d MMMM, yyy", "dd, MMM yyy",
    "d MM yy", "d MMMM yyy", "MMMM d yyy", "MMMM d, yyy", "dd.MM.yy",
]  # fmt: skip
TRAIN_LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE")
HELD_OUT_LOCALE = "nl_NL"
TX, TY = 30, 10
UNK, PAD = "<unk>", "<pad>"
MACHINE_CHARS = "-0123456789"


def make_dates(
    count: int, locales=TRAIN_LOCALES, seed: int = 0, exclude=()
) -> list[tuple[str, str]]:
    """``count`` pairs (human-readable, ISO), each in a random format and locale, from
    ``seed`` (the same pairs for the same seed).  ``exclude``: human strings not to make
    (a training set's, for new dates to test on): such draws are skipped."""
    try:
        from babel.dates import format_date
        from faker import Faker
    except ModuleNotFoundError as err:
        raise DatasetNotFoundError(
            f"make_dates: the dates are made with faker and babel: pip install faker babel ({err})"
        ) from None
    fake, rng = Faker(), random.Random(seed)
    fake.seed_instance(seed)
    excluded = set(exclude)
    pairs = []
    while len(pairs) < count:
        date = fake.date_object()
        text = format_date(date, format=rng.choice(FORMATS), locale=rng.choice(locales))
        text = human_form(text)
        if text not in excluded:
            pairs.append((text, date.isoformat()))
    return pairs


def human_form(text: str) -> str:
    """A date as the model reads it: lower-cased, commas removed, spaces collapsed
    ("Saturday, 9 May 2018" -> "saturday 9 may 2018")."""
    return " ".join(text.lower().replace(",", " ").split())


@dataclass(frozen=True)
class DateVocabulary:
    """Characters <-> ids for the human strings (``chars`` then <unk>, <pad>) and the
    machine strings ("-0123456789")."""

    chars: str

    @classmethod
    def from_pairs(cls, pairs) -> DateVocabulary:
        return cls("".join(sorted(set("".join(human for human, _ in pairs)))))

    @property
    def human_size(self) -> int:
        return len(self.chars) + 2

    @property
    def machine_size(self) -> int:
        return len(MACHINE_CHARS)

    def encode_human(self, texts, tx: int = TX) -> np.ndarray:
        """(m, tx) int32 ids: the characters (unknown ones <unk>), cut at tx, then <pad>."""
        index = {c: i for i, c in enumerate(self.chars)}
        unk, pad = len(self.chars), len(self.chars) + 1
        out = np.full((len(texts), tx), pad, dtype=np.int32)
        for row, text in enumerate(texts):
            ids = [index.get(c, unk) for c in text[:tx]]
            out[row, : len(ids)] = ids
        return out

    def encode_machine(self, isos) -> np.ndarray:
        """(m, Ty) int32 ids of ISO dates."""
        out = np.empty((len(isos), TY), dtype=np.int32)
        for row, iso in enumerate(isos):
            if len(iso) != TY or any(c not in MACHINE_CHARS for c in iso):
                raise InputValueError(f"DateVocabulary: {iso!r} is not an ISO date YYYY-MM-DD")
            out[row] = [MACHINE_CHARS.index(c) for c in iso]
        return out

    def decode_machine(self, ids) -> list[str]:
        """ISO strings from (m, Ty) ids."""
        return ["".join(MACHINE_CHARS[i] for i in row) for row in np.asarray(ids)]

    def one_hot(self, ids, size: int) -> np.ndarray:
        """(m, T) ids as (m, T, size) float32 one-hot rows (the course's Xoh, Yoh)."""
        return np.eye(size, dtype=np.float32)[ids]
