"""Named-entity recognition by fine-tuning BERT (the course's NER lab, Course 5, week 4),
on WNUT-16's tweets (``nnlab.data.ner``).

A token classifier, as Hugging Face's ``BertForTokenClassification``: the pretrained encoder
(``applications.bert``, all-MiniLM-L6-v2 by default), then per token a dropout and a softmax
over the 21 BIO labels:

    ids, token types, mask (m, T) -> BERT -> hidden (m, T, d) -> Dropout(0.1) -> Dense(21)
    -> softmax -> (m, T, 21)

The head's kernel starts as N(0, 0.02^2) and its bias at 0 (BERT's ``initializer_range``);
everything below it starts from the checkpoint.  Fine-tuning, Hugging Face's recipe:

    loss       cross-entropy over the labelled subwords (the first of each word; -100 on the
               rest, [CLS], [SEP] and padding), averaged over them in each batch
    optimizer  AdamW (decoupled weight decay on every parameter), the gradient's global
               norm clipped to 1 (Hugging Face Trainer's max_grad_norm)
    schedule   "linear": lr (1 - s / S) at step s of S (Trainer's default, no warm-up),
               or "constant"
    batches    the training sentences in a seeded permutation each epoch
               (``epoch_order``), each batch padded to its own longest sentence

Prediction gives each word its first subword's label (``data.ner.word_tags``), and
``seqeval`` scores entities (``data.ner.entity_scores``).

Arrays (m sentences, T tokens of the longest, n_words[i] words in sentence i):

    NerData.input_ids, token_type_ids, attention_mask, word_ids, labels   (m, T) int64
    tagger outputs                                                      (m, T, 21) float32
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.ner import (
    IGNORE_INDEX,
    LABELS,
    encode_ner,
    entity_scores,
    split_words,
    text_entities,
    word_tags,
)
from ..data.tokenization import SubwordTokenizer, minilm_folder
from ..exceptions import InputValueError
from ..layers import Dense, Dropout
from ..ops.initializers import RandomNormal
from ..training.losses import CategoricalCrossentropy
from ..training.model import Model
from ..training.optimizers import AdamW
from .bert import Bert, BertConfig

SCHEDULES = ("linear", "constant")
HEAD_INIT_STD = 0.02  # BERT's initializer_range: the head's kernel ~ N(0, 0.02^2)
MAX_LENGTH = 512  # BERT's positions; WNUT-16's longest sentence has 75 MiniLM tokens


@dataclass(frozen=True)
class NerData:
    """Sentences encoded for token classification, padded to the longest (module
    docstring); ``labels`` is None for sentences without tags."""

    words: list[list[str]]
    input_ids: np.ndarray
    token_type_ids: np.ndarray
    attention_mask: np.ndarray
    word_ids: np.ndarray
    labels: np.ndarray | None

    def __len__(self) -> int:
        return len(self.words)

    def inputs(self, rows) -> list[np.ndarray]:
        """The model's inputs [ids, token types, mask (float32)] of ``rows``, cut to their
        longest sentence: each (len(rows), T_rows)."""
        width = int(self.attention_mask[rows].sum(axis=1).max())
        ids, types = self.input_ids[rows, :width], self.token_type_ids[rows, :width]
        return [ids, types, self.attention_mask[rows, :width].astype(np.float32)]

    def targets(self, rows) -> np.ndarray:
        """The subword labels (len(rows), T_rows) of ``rows``, as ``inputs`` cuts them."""
        if self.labels is None:
            raise InputValueError("NerData.targets: these sentences have no tags")
        width = int(self.attention_mask[rows].sum(axis=1).max())
        return self.labels[rows, :width]


def encode_sentences(tokenizer: SubwordTokenizer, words, tags=None) -> NerData:
    """Encode m sentences of words (and their BIO tags) with Hugging Face's label
    alignment (``data.ner.encode_ner``), truncated to BERT's 512 tokens."""
    words = [list(sentence) for sentence in words]
    batch, labels = encode_ner(tokenizer, words, tags, max_length=MAX_LENGTH)
    return NerData(
        words, batch.input_ids, batch.token_type_ids, batch.attention_mask, batch.word_ids, labels
    )


def token_classifier(folder=None, n_labels: int = len(LABELS), seed: int = 0):
    """A BERT checkpoint with a token-classification head: ``(model, tokenizer)``.

    The model (inputs [ids, token types, mask], output (m, T, n_labels) probabilities)
    owns every layer, so its generator (``seed``) draws the head's initial kernel and every
    dropout mask; the encoder's weights are the checkpoint's (``folder``, default
    all-MiniLM-L6-v2).  The head's dropout is the encoder's hidden dropout (Hugging Face's
    ``classifier_dropout`` unset).
    """
    folder = minilm_folder() if folder is None else folder
    bert = Bert(BertConfig.from_file(Path(folder) / "config.json"))
    dropout = Dropout(bert.config.hidden_dropout_prob, name="tags_dropout")
    kernel = RandomNormal(HEAD_INIT_STD)
    head = Dense(n_labels, activation="softmax", kernel_initializer=kernel, name="tags")
    model = Model(bert.inputs, head(dropout(bert.hidden)), seed=seed, name="ner_tagger")
    model.build()
    bert.load_pretrained(folder)
    return model, bert.tokenizer


def compile_tagger(
    model, learning_rate: float, weight_decay: float = 0.01, epsilon: float = 1e-8,
    clipnorm: float | None = 1.0,
) -> None:  # fmt: skip
    """Compile for fine-tuning: AdamW (torch.optim.AdamW's defaults but the learning rate),
    the global gradient norm clipped to ``clipnorm``, cross-entropy ignoring -100."""
    optimizer = AdamW(learning_rate, weight_decay=weight_decay, epsilon=epsilon, global_clipnorm=clipnorm)  # fmt: skip
    model.compile(optimizer, CategoricalCrossentropy(ignore_class=IGNORE_INDEX))


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The training sentences' order in ``epoch`` (0-based): a permutation of n drawn from
    (seed, epoch) alone, so a resumed run and a PyTorch run see the same batches."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_rows(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The rows of each batch of ``epoch``: ``epoch_order`` cut into batches (the last
    smaller)."""
    order = epoch_order(n, seed, epoch)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def learning_rate_at(step: int, total_steps: int, learning_rate: float, schedule: str) -> float:
    """The learning rate of step ``step`` (0-based) of ``total_steps``: "linear" decays
    from ``learning_rate`` to 0 (``lr (S - s) / S``, as ``transformers``'
    ``get_linear_schedule_with_warmup`` without warm-up); "constant" keeps it."""
    if schedule not in SCHEDULES:
        raise InputValueError(f"ner: schedule must be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "constant":
        return float(learning_rate)
    return float(learning_rate) * max(0.0, (total_steps - step) / max(1, total_steps))


def train_epoch(
    model, data: NerData, batches: Sequence[np.ndarray], learning_rate: Callable[[int], float],
    first_step: int = 0, progress: Callable[[int, float], None] | None = None,
) -> float:  # fmt: skip
    """One pass over ``batches`` (arrays of rows of ``data``), one optimizer step each at
    the learning rate ``learning_rate(step)`` (steps counted from ``first_step``); returns
    the mean batch loss.  ``progress(k, loss)`` is called after batch k."""
    losses = []
    for k, rows in enumerate(batches):
        model.optimizer.lr = learning_rate(first_step + k)
        loss, _, _ = model.train_step(data.inputs(rows), data.targets(rows))
        losses.append(loss)
        if progress is not None:
            progress(k, loss)
    return float(np.mean(losses))


def predict_label_ids(model, data: NerData, batch_size: int = 64) -> np.ndarray:
    """The most probable label of every token, (m, T) int64 (-1 on padding): sentences in
    batches of similar length, each cut to its longest."""
    m, width = data.input_ids.shape
    predicted = np.full((m, width), -1, dtype=np.int64)
    order = np.argsort(data.attention_mask.sum(axis=1), kind="stable")
    for start in range(0, m, batch_size):
        rows = order[start : start + batch_size]
        probs = model.predict(data.inputs(rows), batch_size=len(rows))
        predicted[rows, : probs.shape[1]] = probs.argmax(axis=-1)
    predicted[data.attention_mask == 0] = -1
    return predicted


def predict_tags(model, data: NerData, batch_size: int = 64) -> list[list[str]]:
    """Each sentence's word tags: every word takes its first subword's label."""
    ids = predict_label_ids(model, data, batch_size)
    return word_tags(ids, data.word_ids, [len(w) for w in data.words])


def evaluate(model, data: NerData, tags, batch_size: int = 64) -> dict:
    """seqeval's entity-level precision, recall, F1 and per-type report of the model's
    tags against the true ``tags`` (``data.ner.entity_scores``)."""
    return entity_scores(tags, predict_tags(model, data, batch_size))


def tag_texts(model, tokenizer: SubwordTokenizer, texts: Sequence[str]) -> list[list[tuple]]:
    """The entities of raw texts: per text a list of ``(type, text, start, end)``, its
    words split as WNUT-16's tweets are (``data.ner.split_words``)."""
    texts = list(texts)
    split = [split_words(text) for text in texts]
    found: list[list[tuple]] = [[] for _ in texts]
    kept = [i for i, (words, _) in enumerate(split) if words]  # a text of only spaces: none
    if not kept:
        return found
    data = encode_sentences(tokenizer, [split[i][0] for i in kept])
    for i, tags in zip(kept, predict_tags(model, data), strict=True):
        found[i] = text_entities(texts[i], tags, split[i][1])
    return found
