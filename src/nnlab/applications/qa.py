"""Extractive question answering on a BERT encoder (Course 5, week 4, the QA lab).

The question and the context are read as one pair, ``[CLS] question [SEP] context [SEP]``
(token types 0 then 1), and a head of two units on every token's last hidden state gives a
start and an end logit per position; a softmax over the positions makes each a
distribution (Hugging Face's ``BertForQuestionAnswering``, its ``qa_outputs``)::

    h = Bert(input_ids, token_type_ids, attention_mask)          (m, T, d)
    z = h W + b                                                  (m, T, 2)   Dense(2)
    z = -1e9 where context_mask = 0                              MaskLogits: no answer may
                                                                 start or end on padding,
                                                                 [CLS], [SEP] or the question
    logits = z transposed                                        (m, 2, T)   Permute((2, 1))
    P(start = i) = softmax(logits[:, 0])_i,  P(end = j) = softmax(logits[:, 1])_j
    J = (CE(start) + CE(end)) / 2        the mean of the two cross-entropies, as Hugging
                                         Face's total_loss: one CategoricalCrossentropy
                                         over the (m, 2) positions, labels (start, end)

Preprocessing (:func:`encode_examples`): an answer's characters ``[answer_start,
answer_end)`` in the context become the indices of its first and last token
(:func:`nnlab.data.tokenization.char_span_to_token_span`).  A context too long for
``max_length`` tokens is read in windows that overlap by ``stride`` tokens; for training a
window that does not hold the whole answer is left out (every bAbI story fits in one).

Decoding (:func:`best_spans`): the span (i, j) of context tokens with i <= j < i + L
(``max_answer_tokens``) that maximizes start_logit[i] + end_logit[j], i.e. the most probable
(start, end) pair under the two independent distributions, searched exhaustively (Hugging
Face's pipeline looks only at the 20 best starts and ends); over the windows of one
example, the best score wins.  The answer is the context's characters from the start
token's first to the end token's last (``offsets``).  Scores: SQuAD exact match and token
F1 (:mod:`nnlab.training.qa_metrics`).

    qa = QuestionAnswerer.from_pretrained(minilm_folder())
    qa.fit(babi_splits((3000, 300, 1000)).train, epochs=2)
    qa.answer(["Where is Mary?"], ["Mary went to the kitchen. John moved to the garden."])
    # -> ['kitchen']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..data.tokenization import EncodedBatch, SubwordTokenizer, char_span_to_token_span
from ..exceptions import ConfigError, InputValueError
from ..layers import Dense, Input, MaskLogits, Permute
from ..training.losses import CategoricalCrossentropy
from ..training.model import Model
from ..training.optimizers import AdamW
from ..training.qa_metrics import qa_scores
from .bert import Bert

#: the tokens a window may hold (BERT's 512 positions; Hugging Face's QA default 384)
MAX_LENGTH = 384
#: the tokens two windows of a long context share (Hugging Face's ``doc_stride``)
STRIDE = 128
#: the longest answer decoding considers, in tokens (Hugging Face's ``max_answer_length``)
MAX_ANSWER_TOKENS = 30
#: the layers of the head (``from_model`` checks that a loaded model has them)
HEAD_NAMES = ("qa_outputs", "context_only", "start_end_logits")


@dataclass
class QABatch:
    """Encoded (question, context) rows and what the model reads of them.

    ``encoded``: the tokenizer's pair encoding (one row per window; ``sample_mapping``
    names each row's example); ``context_mask`` (m, T) float32: 1 on the context's
    tokens; ``positions`` (m, 2) int64: the answer's start and end token per row, or None
    (no answers known).
    """

    encoded: EncodedBatch
    context_mask: np.ndarray
    positions: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.encoded)

    @property
    def lengths(self) -> np.ndarray:
        """The real tokens of each row (its padding starts there)."""
        return self.encoded.attention_mask.sum(axis=1)

    def inputs(self, rows=slice(None), width: int | None = None) -> list[np.ndarray]:
        """[input_ids, token_type_ids, attention_mask, context_mask] of ``rows``, cut to
        ``width`` positions (default: all); the order of :attr:`QuestionAnswerer.model`'s
        inputs."""
        e, cut = self.encoded, slice(None, width)
        return [
            e.input_ids[rows, cut],
            e.token_type_ids[rows, cut],
            e.attention_mask[rows, cut].astype(np.float32),
            self.context_mask[rows, cut],
        ]

    def select(self, rows) -> QABatch:
        """The rows ``rows`` (an index array or a boolean mask) as a batch of their own."""
        e = self.encoded
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
        encoded = EncodedBatch(
            e.input_ids[rows],
            e.attention_mask[rows],
            e.token_type_ids[rows],
            e.offsets[rows],
            e.word_ids[rows],
            e.sequence_ids[rows],
            e.sample_mapping[rows],
            [e.tokens[r] for r in rows],
        )
        positions = None if self.positions is None else self.positions[rows]
        return QABatch(encoded, self.context_mask[rows], positions)


def encode_questions(
    tokenizer: SubwordTokenizer,
    questions: Sequence[str],
    contexts: Sequence[str],
    max_length: int = MAX_LENGTH,
    stride: int = STRIDE,
) -> QABatch:
    """The pairs (question, context) as rows of at most ``max_length`` tokens: a context
    that does not fit is cut into windows sharing ``stride`` tokens (only the context is
    cut; ``sample_mapping`` names each row's pair)."""
    if isinstance(questions, str) or isinstance(contexts, str):
        raise InputValueError("encode_questions: give lists of questions and contexts")
    encoded = tokenizer.encode(
        list(questions),
        list(contexts),
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing=True,
    )
    return QABatch(encoded, (encoded.sequence_ids == 1).astype(np.float32))


def encode_examples(
    tokenizer: SubwordTokenizer, examples, max_length: int = MAX_LENGTH, stride: int = STRIDE
) -> QABatch:
    """Training rows of QAExamples (``nnlab.data.babi``: context, question, answer_start,
    answer_end), with the answer's start and end token in ``positions``; windows that do
    not hold the whole answer are left out."""
    examples = list(examples)
    if not examples:
        raise InputValueError("encode_examples: no examples")
    for e in examples:
        if e.context[e.answer_start : e.answer_end] != e.answer:
            raise InputValueError(
                f"encode_examples: example {e.id!r}: context[{e.answer_start}:{e.answer_end}] "
                f"is {e.context[e.answer_start : e.answer_end]!r}, not the answer {e.answer!r}"
            )
    batch = encode_questions(
        tokenizer, [e.question for e in examples], [e.context for e in examples], max_length, stride
    )
    starts = [e.answer_start for e in examples]
    ends = [e.answer_end for e in examples]
    first, last = char_span_to_token_span(batch.encoded, starts, ends, sequence=1)
    batch.positions = np.stack([first, last], axis=1)
    inside = batch.context_mask[np.arange(len(batch)), first] > 0  # (0, 0): not in the window
    if not inside.any():
        raise InputValueError(f"encode_examples: no answer fits in max_length={max_length} tokens")
    return batch.select(inside)


def best_spans(
    start_logits, end_logits, allowed, max_answer_tokens: int = MAX_ANSWER_TOKENS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best span of every row: the (i, j) with ``allowed[i]`` and ``allowed[j]``,
    i <= j < i + max_answer_tokens, maximizing start_logits[i] + end_logits[j].

    Args:
        start_logits, end_logits: (m, T) logits (or log-probabilities) per position.
        allowed: (m, T) bools (or 0/1): the positions an answer may use (the context).
        max_answer_tokens: the longest span, in tokens.

    Returns:
        (starts, ends, scores): (m,) int64, int64 and float64; a row with no allowed
        position gets (0, 0) and a score of -inf.
    """
    start_logits = np.asarray(start_logits, dtype=np.float64)
    end_logits = np.asarray(end_logits, dtype=np.float64)
    allowed = np.asarray(allowed).astype(bool)
    if start_logits.ndim != 2 or not start_logits.shape == end_logits.shape == allowed.shape:
        raise InputValueError(
            f"best_spans: start_logits, end_logits and allowed must be one (m, T) shape, got "
            f"{start_logits.shape}, {end_logits.shape} and {allowed.shape}"
        )
    if not isinstance(max_answer_tokens, int) or max_answer_tokens < 1:
        raise InputValueError(
            f"best_spans: max_answer_tokens must be a positive int, got {max_answer_tokens!r}"
        )
    m, t = start_logits.shape
    offset = np.arange(t)[None, :] - np.arange(t)[:, None]  # j - i
    band = (offset >= 0) & (offset < max_answer_tokens)  # (T, T)
    starts, ends = np.zeros(m, np.int64), np.zeros(m, np.int64)
    scores = np.full(m, -np.inf)
    rows = max(1, 2_000_000 // max(t * t, 1))  # (rows, T, T) float64 at most 16 MB
    for lo in range(0, m, rows):
        s, e, a = start_logits[lo : lo + rows], end_logits[lo : lo + rows], allowed[lo : lo + rows]
        valid = band[None] & a[:, :, None] & a[:, None, :]
        score = np.where(valid, s[:, :, None] + e[:, None, :], -np.inf)
        flat = score.reshape(len(s), -1).argmax(axis=1)
        best = score.reshape(len(s), -1)[np.arange(len(s)), flat]
        found = np.isfinite(best)
        starts[lo : lo + rows] = np.where(found, flat // t, 0)
        ends[lo : lo + rows] = np.where(found, flat % t, 0)
        scores[lo : lo + rows] = best
    return starts, ends, scores


@dataclass(frozen=True)
class Answer:
    """One question's answer: its text, its ``[start, end)`` characters in the context and
    its score (start logit + end logit)."""

    text: str
    start: int
    end: int
    score: float


class QuestionAnswerer:
    """A BERT encoder with an extractive head (module docstring) as an nnlab ``Model``
    with inputs [input_ids, token_type_ids, attention_mask, context_mask] and one output,
    the start and end logits (m, 2, T).

    Args:
        bert: a :class:`~nnlab.applications.bert.Bert` (its weights are kept; from
            ``Bert.from_pretrained``, whose tokenizer this uses).
        seed: the head's initialization, dropout and shuffling.
        max_length, stride: the windows the pairs are read in.
        max_answer_tokens: the longest answer decoding considers.
    """

    def __init__(
        self,
        bert: Bert | None = None,
        seed: int = 0,
        max_length: int = MAX_LENGTH,
        stride: int = STRIDE,
        max_answer_tokens: int = MAX_ANSWER_TOKENS,
        tokenizer: SubwordTokenizer | None = None,
        _model: Model | None = None,
    ):
        self.tokenizer = tokenizer if tokenizer is not None else getattr(bert, "tokenizer", None)
        if self.tokenizer is None:
            raise InputValueError(
                "QuestionAnswerer: no tokenizer (load the encoder with Bert.from_pretrained, "
                "or pass tokenizer=)"
            )
        if not (isinstance(stride, int) and isinstance(max_length, int)) or not (
            0 <= stride < max_length
        ):
            raise ConfigError(
                f"QuestionAnswerer: need 0 <= stride < max_length, got stride={stride!r}, "
                f"max_length={max_length!r}"
            )
        self.max_length, self.stride = max_length, stride
        self.max_answer_tokens = max_answer_tokens
        if _model is not None:
            self.model = _model
            self._check_model()
            return
        if bert is None:
            raise InputValueError("QuestionAnswerer: give a Bert encoder")
        if max_length > bert.config.max_position_embeddings:
            raise ConfigError(
                f"QuestionAnswerer: max_length={max_length} exceeds the encoder's "
                f"{bert.config.max_position_embeddings} positions"
            )
        context = Input((None,), name="context_mask")
        logits = Dense(2, kernel_initializer="random_normal", name=HEAD_NAMES[0])(bert.hidden)
        logits = MaskLogits(name=HEAD_NAMES[1])([logits, context])
        logits = Permute((2, 1), name=HEAD_NAMES[2])(logits)
        self.model = Model([*bert.inputs, context], logits, seed=seed, name="bert_qa")
        self.model.build()

    @classmethod
    def from_pretrained(cls, folder, seed: int = 0, **options) -> QuestionAnswerer:
        """A fresh head on the encoder of a BERT-family checkpoint folder."""
        return cls(Bert.from_pretrained(folder), seed=seed, **options)

    @classmethod
    def from_model(
        cls, model: Model, tokenizer: SubwordTokenizer, config: dict
    ) -> QuestionAnswerer:
        """The answerer of a loaded model (``nnlab.load_model``) whose :meth:`config` was
        ``config``."""
        return cls(tokenizer=tokenizer, _model=model, **config)

    def config(self) -> dict:
        """The settings that :meth:`from_model` takes back (JSON-able)."""
        return {
            "max_length": self.max_length,
            "stride": self.stride,
            "max_answer_tokens": self.max_answer_tokens,
        }

    def _check_model(self) -> None:
        names = {call.layer.name for call in self.model.calls}
        missing = [n for n in HEAD_NAMES if n not in names]
        if missing or self.model.n_inputs != 4:
            raise ConfigError(
                f"QuestionAnswerer.from_model: {self.model.name} is not an extractive QA model "
                f"(4 inputs and the layers {list(HEAD_NAMES)}; missing {missing})"
            )

    # ---------------------------------------------------------------- training
    def compile(self, learning_rate: float = 5e-5, weight_decay: float = 0.01) -> None:
        """AdamW and the mean of the start and end cross-entropies (from the logits)."""
        self.model.compile(
            AdamW(learning_rate, weight_decay=weight_decay),
            CategoricalCrossentropy(from_logits=True),
        )

    def encode(self, examples) -> QABatch:
        """Training rows of QAExamples (:func:`encode_examples`)."""
        return encode_examples(self.tokenizer, examples, self.max_length, self.stride)

    def fit(
        self,
        examples,
        epochs: int = 2,
        batch_size: int = 16,
        learning_rate: float = 5e-5,
        weight_decay: float = 0.01,
        warmup: float = 0.1,
        on_epoch_end: Callable[[int, dict], None] | None = None,
        verbose: bool = True,
    ) -> list[dict]:
        """Fine-tune the encoder and the head on QAExamples (or an encoded QABatch).

        AdamW with a linear warm-up over the first ``warmup`` fraction of the steps, then a
        linear decay to 0 (Hugging Face's ``get_linear_schedule_with_warmup``).  Each epoch
        shuffles the rows, groups rows of similar length into batches (each padded to its
        own longest row: the same gradients as padding all rows to one length, with less
        work) and visits the batches in random order.

        Returns one dict per epoch (loss, seconds, steps); ``on_epoch_end(epoch, logs)``
        may add to it (dev scores).
        """
        batch = examples if isinstance(examples, QABatch) else self.encode(examples)
        if batch.positions is None:
            raise InputValueError("QuestionAnswerer.fit: the batch has no answer positions")
        if not (isinstance(epochs, int) and epochs >= 1):
            raise ConfigError(f"QuestionAnswerer.fit: epochs must be an int >= 1, got {epochs!r}")
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ConfigError(
                f"QuestionAnswerer.fit: batch_size must be an int >= 1, got {batch_size!r}"
            )
        if not 0 <= warmup < 1:
            raise ConfigError(f"QuestionAnswerer.fit: warmup must be in [0, 1), got {warmup!r}")
        self.compile(learning_rate, weight_decay)
        model, rng = self.model, self.model.rng
        lengths = batch.lengths
        steps_per_epoch = -(-len(batch) // batch_size)
        total, warm = epochs * steps_per_epoch, max(1, round(warmup * epochs * steps_per_epoch))
        history, step = [], 0
        for epoch in range(epochs):
            began, loss_sum = time.perf_counter(), 0.0
            order = length_batches(lengths, batch_size, rng)
            for k, rows in enumerate(order):
                step += 1
                scale = step / warm if step <= warm else (total - step + 1) / (total - warm + 1)
                model.optimizer.lr = learning_rate * scale
                width = int(lengths[rows].max())
                x = model.prepare_inputs(batch.inputs(rows, width), "fit")
                y = model.prepare_targets(batch.positions[rows], len(rows), "fit")
                value, _, _ = model.train_step(x, y, n_examples=len(batch))
                if not np.isfinite(value):
                    raise InputValueError(
                        f"QuestionAnswerer.fit: the loss became {value} at epoch {epoch + 1}, "
                        f"step {k + 1}; try a smaller learning rate"
                    )
                loss_sum += value * len(rows)
                if verbose and (k + 1) % 50 == 0:
                    print(
                        f"  epoch {epoch + 1} step {k + 1}/{steps_per_epoch}: loss "
                        f"{loss_sum / sum(len(r) for r in order[: k + 1]):.4f} "
                        f"({time.perf_counter() - began:.0f} s)",
                        flush=True,
                    )
            logs = {
                "epoch": epoch + 1,
                "loss": loss_sum / len(batch),
                "seconds": time.perf_counter() - began,
                "steps": steps_per_epoch,
            }
            if on_epoch_end is not None:
                on_epoch_end(epoch, logs)
            if verbose:
                shown = ", ".join(
                    f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items()
                )
                print(f"epoch {epoch + 1}/{epochs}: {shown}", flush=True)
            history.append(logs)
        return history

    # ---------------------------------------------------------------- answering
    def logits(self, batch: QABatch, batch_size: int = 64) -> np.ndarray:
        """The start and end logits (m, 2, T) of every row (inference), computed in
        batches of rows of similar length (T: the batch's padded width; -1e9 off the
        context)."""
        lengths = batch.lengths
        out = np.full((len(batch), 2, batch.encoded.input_ids.shape[1]), -1e9, np.float32)
        order = np.argsort(lengths, kind="stable")
        for lo in range(0, len(batch), batch_size):
            rows = order[lo : lo + batch_size]
            width = int(lengths[rows].max())
            out[rows, :, :width] = self.model.predict(batch.inputs(rows, width), len(rows))
        return out

    def best_char_spans(
        self, batch: QABatch, n_examples: int, batch_size: int = 64
    ) -> list[tuple[int, int, float]]:
        """(start, end, score) of the best answer of each of the ``n_examples`` examples of
        an encoded batch, over its windows: characters of its context, (0, 0, -inf) for an
        example without a context token."""
        logits = self.logits(batch, batch_size)
        starts, ends, scores = best_spans(
            logits[:, 0], logits[:, 1], batch.context_mask > 0, self.max_answer_tokens
        )
        e = batch.encoded
        best: dict[int, int] = {}
        for row, example in enumerate(e.sample_mapping.tolist()):
            if example not in best or scores[row] > scores[best[example]]:
                best[example] = row
        spans = []
        for example in range(n_examples):
            row = best.get(example)
            if row is None or not np.isfinite(scores[row]):
                spans.append((0, 0, -np.inf))
                continue
            a, b = int(e.offsets[row, starts[row], 0]), int(e.offsets[row, ends[row], 1])
            spans.append((a, b, float(scores[row])))
        return spans

    def answer_spans(self, questions, contexts, batch_size: int = 64) -> list[Answer]:
        """The best answer to each question in its context (texts and character spans)."""
        questions, contexts = list(questions), list(contexts)
        if len(questions) != len(contexts):
            raise InputValueError(
                f"QuestionAnswerer: {len(questions)} questions but {len(contexts)} contexts"
            )
        batch = encode_questions(self.tokenizer, questions, contexts, self.max_length, self.stride)
        spans = self.best_char_spans(batch, len(questions), batch_size)
        return [Answer(c[a:b], a, b, s) for c, (a, b, s) in zip(contexts, spans, strict=True)]

    def answer(self, questions, contexts, batch_size: int = 64) -> list[str]:
        """The answer text of each question in its context."""
        return [a.text for a in self.answer_spans(questions, contexts, batch_size)]

    def evaluate(self, examples, batch_size: int = 64) -> dict:
        """SQuAD exact match and token F1 of the answers to QAExamples, overall and, where
        the examples are of several bAbI tasks, per task (``"task_2": {...}``)."""
        examples = list(examples)
        predictions = self.answer(
            [e.question for e in examples], [e.context for e in examples], batch_size
        )
        result = qa_scores(predictions, [e.answer for e in examples])
        result["examples"] = len(examples)
        tasks = sorted({e.task for e in examples})
        if len(tasks) > 1:
            for task in tasks:
                rows = [i for i, e in enumerate(examples) if e.task == task]
                scores = qa_scores(
                    [predictions[i] for i in rows], [examples[i].answer for i in rows]
                )
                result[f"task_{task}"] = {**scores, "examples": len(rows)}
        return result


def length_batches(lengths, batch_size: int, rng) -> list[np.ndarray]:
    """Rows in batches of ``batch_size`` (the last may be smaller) of similar length: a
    random permutation cut into pools of 50 batches, each pool sorted by length and cut into
    batches, and the batches shuffled."""
    lengths = np.asarray(lengths)
    order = rng.permutation(len(lengths))
    pool = 50 * batch_size
    batches = []
    for lo in range(0, len(order), pool):
        part = order[lo : lo + pool]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
