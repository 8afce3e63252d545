"""Human-readable dates and ISO dates for the attention lab: seeded, in the course's formats
and several locales, encoded as the course encodes them."""

import datetime

import numpy as np
import pytest

pytest.importorskip("faker")
pytest.importorskip("babel")

from nnlab.data.dates import (  # noqa: E402
    HELD_OUT_LOCALE,
    MACHINE_CHARS,
    TX,
    TY,
    DateVocabulary,
    human_form,
    make_dates,
)


def test_pairs_are_seeded_lower_case_without_commas_and_the_iso_date_is_right():
    pairs = make_dates(300, seed=1)
    assert pairs == make_dates(300, seed=1) and pairs != make_dates(300, seed=2)
    for human, iso in pairs:
        date = datetime.date.fromisoformat(iso)
        assert human == human.lower() and "," not in human
        assert str(date.day) in human  # every format writes the day's number
        assert str(date.year)[-2:] in human  # and at least the year's last two digits
    assert len({h for h, _ in pairs}) > 250  # formats and locales vary


def test_new_dates_exclude_the_training_strings():
    train = make_dates(2000, seed=0)
    seen = {h for h, _ in train}
    plain = make_dates(500, seed=9)
    assert any(h in seen for h, _ in plain)  # a generator repeats itself: short forms recur
    new = make_dates(500, seed=9, exclude=seen)
    assert len(new) == 500 and not any(h in seen for h, _ in new)
    assert [p for p in plain if p[0] not in seen] == new[: sum(h not in seen for h, _ in plain)]


def test_human_form_is_how_the_generator_writes():
    assert human_form("Saturday, 9 May  2018 ") == "saturday 9 may 2018"
    assert all(human_form(h) == h for h, _ in make_dates(200, seed=5))


def test_several_locales_month_names():
    text = " ".join(h for h, _ in make_dates(400, seed=3))
    assert "may" in text or "march" in text  # English
    assert any(m in text for m in ("mai", "juin", "août", "mars"))  # French
    assert any(m in text for m in ("märz", "juni", "oktober", "dezember"))  # German
    dutch = " ".join(h for h, _ in make_dates(200, locales=(HELD_OUT_LOCALE,), seed=4))
    assert any(m in dutch for m in ("mei", "maart", "oktober", "augustus"))


def test_vocabulary_encodes_as_the_course():
    vocab = DateVocabulary.from_pairs([("9 may 1998", "1998-05-09"), ("3.4.21", "2021-04-03")])
    assert vocab.chars == " .123489amy" and vocab.human_size == len(vocab.chars) + 2
    x = vocab.encode_human(["9 may", "9 mai"])
    assert x.shape == (2, TX) and x.dtype == np.int32
    unk, pad = len(vocab.chars), len(vocab.chars) + 1
    assert x[0, :5].tolist() == [vocab.chars.index(c) for c in "9 may"]
    assert x[1, 4] == unk and set(x[0, 5:]) == {pad}
    y = vocab.encode_machine(["1998-05-09"])
    assert y.shape == (1, TY) and vocab.decode_machine(y) == ["1998-05-09"]
    assert MACHINE_CHARS[y[0, 4]] == "-"
    oh = vocab.one_hot(x, vocab.human_size)
    assert oh.shape == (2, TX, vocab.human_size) and np.all(oh.sum(-1) == 1)
    with pytest.raises(Exception, match="not an ISO date"):
        vocab.encode_machine(["9 may 1998"])


def test_every_text_states_its_labels_year():
    """The course's "YYY" is babel's week-numbering year: 31 Dec 1985 read "1986"."""
    from nnlab.data.dates import FORMATS

    pytest.importorskip("babel")
    from babel.dates import format_date

    for day in ("1985-12-31", "1982-01-02", "1997-12-29"):
        date = datetime.date.fromisoformat(day)
        for fmt in FORMATS:
            for locale in ("en_US", "fr_FR", "de_DE", "nl_NL"):
                text = format_date(date, format=fmt, locale=locale)
                assert day[:4] in text or day[2:4] in text.split()[-1][-2:], (fmt, locale, text)
