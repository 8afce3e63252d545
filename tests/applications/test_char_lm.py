"""Character-level language model on real surnames (the names package): training below the
unigram perplexity on held-out names, sampling as the course samples."""

from __future__ import annotations

import numpy as np
import pytest

import nnlab
from nnlab.applications.char_lm import char_lm, perplexity, sample, unigram_perplexity
from nnlab.data.text import CharVocabulary, load_names

names_package = pytest.importorskip("names")


@pytest.fixture(scope="module")
def trained():
    surnames = load_names("surnames")[:3000]
    vocab = CharVocabulary.from_texts(surnames)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(surnames))
    train = [surnames[i] for i in order[:2700]]
    held_out = [surnames[i] for i in order[2700:]]
    model = char_lm(vocab, units=64, cell="lstm", seed=0)
    model.compile(nnlab.Adam(0.01, clipvalue=5.0), "sparse_categorical_crossentropy")
    x, y = vocab.sequences(train)
    model.fit(x, y, epochs=6, batch_size=64, verbose=0)
    return model, vocab, train, held_out


def test_the_lstm_beats_the_unigram_model_on_held_out_names(trained):
    model, vocab, train, held_out = trained
    x, y = vocab.sequences(held_out)
    ours, baseline = perplexity(model, x, y), unigram_perplexity(train, held_out)
    assert ours < 0.75 * baseline, (ours, baseline)


def test_samples_are_names(trained):
    model, vocab, _, _ = trained
    samples = [sample(model, vocab, temperature=0.8, rng=seed) for seed in range(5)]
    assert all(0 < len(s) <= 50 and set(s) <= set(vocab.chars) for s in samples)
    assert sample(model, vocab, rng=1) == sample(model, vocab, rng=1)  # seeded
    short = sample(model, vocab, max_length=3, rng=2)
    assert len(short) <= 3
    with pytest.raises(nnlab.ConfigError, match="temperature must be > 0"):
        sample(model, vocab, temperature=0)
