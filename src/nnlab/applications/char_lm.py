"""Character-level language model (Course 5, week 1: "Dinosaur Island", on real names).

The model reads a name one character at a time and predicts the next one:

    x<t> -> Embedding (one-hot, frozen) -> RNN / LSTM (n_a units) -> Dense softmax -> y^<t>

The course's model is one SimpleRNN of 50 units trained by SGD (learning rate 0.01) with
gradients clipped at 5; ``cell="lstm"`` is its LSTM version.  The input of step 1 is the
newline (the course's zero vector x<1>), so the model learns which letters start names; a
name ends when the model emits the newline (never before its first character).

Sampling (the course's ``sample``): starting from the newline, draw each next character
from the softmax, sharpened or flattened by a temperature tau (p_k ~ p_k^(1/tau)), until the
newline or ``max_length`` characters.  Perplexity: exp of the mean cross-entropy per
predicted character (newline included), over held-out names.
"""

from __future__ import annotations

import math

import numpy as np

from ..data.text import NEWLINE, CharVocabulary
from ..exceptions import ConfigError
from ..layers import LSTM, Dense, Embedding, Input, SimpleRNN
from ..training.model import Model

CELLS = {"rnn": SimpleRNN, "lstm": LSTM}


def char_lm(vocabulary: CharVocabulary, units: int = 50, cell: str = "rnn", seed: int = 0):
    """The model (not compiled): ids (m, T) -> next-character probabilities (m, T, V)."""
    if cell not in CELLS:
        raise ConfigError(f"char_lm: cell must be one of {', '.join(CELLS)}, got {cell!r}")
    v = vocabulary.size
    ids = Input((None,), dtype="int32", name="characters")
    one_hot = Embedding(v, v, weights=np.eye(v), trainable=False, mask_zero=True)(ids)
    states = CELLS[cell](units, return_sequences=True)(one_hot)
    outputs = Dense(v, activation="softmax", name="next_character")(states)
    model = Model(ids, outputs, seed=seed)
    return model


def sample(model, vocabulary: CharVocabulary, temperature=1.0, max_length=50, rng=None) -> str:
    """One name drawn character by character (without its newline)."""
    if not temperature > 0:
        raise ConfigError(f"sample: temperature must be > 0, got {temperature!r}")
    rng = np.random.default_rng(rng)
    ids = [NEWLINE]
    while len(ids) <= max_length:
        p = model.predict(np.array([ids]))[0, -1].astype(np.float64)
        p[0] = 0.0  # padding is never a character
        if len(ids) == 1:
            p[NEWLINE] = 0.0  # a name has at least one character
        logits = np.log(np.maximum(p, 1e-30)) / temperature
        p = np.exp(logits - logits.max())
        nxt = int(rng.choice(len(p), p=p / p.sum()))
        if nxt == NEWLINE:
            break
        ids.append(nxt)
    return vocabulary.decode(ids[1:])


def unigram_perplexity(train, held_out) -> float:
    """The perplexity of predicting every character of ``held_out`` (newlines included)
    from its frequency in ``train``: the baseline a language model must beat."""
    counts: dict[str, int] = {}
    for name in train:
        for c in name + "\n":
            counts[c] = counts.get(c, 0) + 1
    total = sum(counts.values())
    logp = [math.log(counts.get(c, 0.5) / total) for name in held_out for c in name + "\n"]
    return math.exp(-sum(logp) / len(logp))


def perplexity(model, inputs, targets) -> float:
    """exp(mean cross-entropy per predicted character) over padded (inputs, targets)."""
    probs = model.predict(inputs)
    real = targets != 0
    picked = np.take_along_axis(probs, targets[..., None], axis=-1)[..., 0][real]
    return float(math.exp(-np.mean(np.log(np.maximum(picked, 1e-30)))))
