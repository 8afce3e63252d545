"""Padded sequences: Embedding(mask_zero=True) marks id 0 as padding, and a padded step
changes neither the outputs at real steps nor the loss nor any gradient."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab import GRU, LSTM, Bidirectional, Dense, Embedding, Input, Model, SimpleRNN

SEQUENCES = [[3, 1, 4, 1, 5], [2, 6], [5, 3, 5], [1]]  # ids 1..6; 0 is padding
VOCABULARY = 7

CELLS = {
    "rnn": lambda: SimpleRNN(5, return_sequences=True),
    "gru": lambda: GRU(5, return_sequences=True),
    "gru course": lambda: GRU(5, reset_after=False, return_sequences=True),
    "lstm": lambda: LSTM(5, return_sequences=True),
    "bidirectional lstm": lambda: Bidirectional(LSTM(5, return_sequences=True)),
}


def padded(length, pre=False):
    """(ids (4, length), next-id targets (4, length)), padded with 0 after (or before)."""
    ids = np.zeros((len(SEQUENCES), length), dtype=np.int64)
    targets = np.zeros_like(ids)
    for i, seq in enumerate(SEQUENCES):
        nxt = seq[1:] + [0]  # predict the next id (0 after the last)
        where = slice(length - len(seq), length) if pre else slice(0, len(seq))
        ids[i, where], targets[i, where] = seq, nxt
    return ids, targets


def language_model(cell):
    ids = Input((None,), dtype="int32")
    states = CELLS[cell]()(Embedding(VOCABULARY, 4, mask_zero=True)(ids))
    model = Model(ids, Dense(VOCABULARY, activation="softmax")(states))
    model.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
    model.build()
    return model


def step(model, ids, targets):
    """(loss, outputs, {param: grad}) of one forward + backward on a padded batch."""
    loss, _, outputs = model.compute_gradients(
        model.prepare_inputs(ids), model.prepare_targets(targets, ids.shape[0])
    )
    grads = {
        f"{layer.name}/{k}": g.copy() for layer in model.layers for k, g in layer.grads.items()
    }
    return loss, np.array(outputs, copy=True), grads


@pytest.mark.parametrize("cell", list(CELLS))
def test_more_padding_changes_nothing(cell):
    """Post-padded to 5 or to 9 steps: the same loss, the same outputs at the real steps,
    the same gradient of every parameter."""
    model = language_model(cell)
    short, long = (step(model, *padded(n)) for n in (5, 9))
    assert short[0] == pytest.approx(long[0], rel=1e-6)
    for i, seq in enumerate(SEQUENCES):
        np.testing.assert_allclose(long[1][i, : len(seq)], short[1][i, : len(seq)], rtol=1e-5)
    for key in short[2]:
        np.testing.assert_allclose(long[2][key], short[2][key], rtol=1e-5, atol=1e-7, err_msg=key)


@pytest.mark.parametrize("cell", list(CELLS))
def test_padding_before_or_after_gives_the_same_real_steps(cell):
    """The state stays at a<0> through leading padding and is carried through trailing
    padding: pre- and post-padded batches agree at every real step, in loss and gradients."""
    model = language_model(cell)
    post, pre = step(model, *padded(6)), step(model, *padded(6, pre=True))
    assert post[0] == pytest.approx(pre[0], rel=1e-6)
    for i, seq in enumerate(SEQUENCES):
        np.testing.assert_allclose(pre[1][i, 6 - len(seq) :], post[1][i, : len(seq)], rtol=1e-5)
    for key in post[2]:
        np.testing.assert_allclose(pre[2][key], post[2][key], rtol=1e-5, atol=1e-7, err_msg=key)


def test_each_sequence_alone_gives_the_same_outputs():
    """The padded batch's outputs at real steps equal each sequence run alone, unpadded."""
    model = language_model("lstm")
    ids, _ = padded(5)
    batch = model.predict(ids)
    for i, seq in enumerate(SEQUENCES):
        alone = model.predict(np.array([seq]))
        np.testing.assert_allclose(batch[i, : len(seq)], alone[0], rtol=1e-5, atol=1e-7)


def test_the_last_state_of_a_padded_sequence_is_its_last_real_one():
    ids = Input((None,), dtype="int32")
    model = Model(ids, GRU(3)(Embedding(VOCABULARY, 4, mask_zero=True)(ids)), seed=0)
    model.build()
    batch = model.predict(padded(8)[0])
    for i, seq in enumerate(SEQUENCES):  # atol: a batch of 1 rounds its products otherwise
        alone = model.predict(np.array([seq]))[0]
        np.testing.assert_allclose(batch[i], alone, rtol=1e-5, atol=1e-7)


def test_accuracy_counts_only_real_steps():
    model = language_model("gru")
    ids, targets = padded(9)
    logs = model.evaluate(ids, targets, verbose=0)
    outputs = model.predict(ids)
    real = ids != 0
    expected = (outputs.argmax(-1)[real] == targets[real]).mean()
    assert logs["accuracy"] == pytest.approx(expected)
