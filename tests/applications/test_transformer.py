"""The course's Transformer: a float64 gradient check of the whole encoder-decoder, and
the look-ahead mask (a prediction never reads a later target token)."""

import numpy as np
from helpers import assert_model_gradients

from nnlab.applications.transformer import greedy_translate, shift_right, transformer


def test_the_whole_transformer_passes_a_float64_gradient_check():
    model = transformer(7, 6, 5, 4, num_layers=1, d_model=4, num_heads=2, d_ff=6,
                        dropout=0.0, seed=3, dtype="float64")  # fmt: skip
    model.build()
    rng = np.random.default_rng(0)
    x = rng.integers(1, 7, (2, 5))
    x[1, 3:] = 0  # padding in the source
    y_in = shift_right(rng.integers(2, 6, (2, 4)), 1)
    assert_model_gradients(model, [x, y_in], [rng.standard_normal((2, 4, 6))], rtol=1e-4, atol=1e-6)


def test_a_prediction_never_reads_a_later_target_token():
    model = transformer(7, 6, 5, 4, num_layers=2, d_model=8, num_heads=2, d_ff=8, seed=1)
    rng = np.random.default_rng(1)
    x = rng.integers(1, 7, (3, 5))
    y_in = rng.integers(1, 6, (3, 4))
    before = model.predict([x, y_in])
    changed = y_in.copy()
    changed[:, 2:] = (changed[:, 2:] % 5) + 1  # positions 2 and 3 only
    after = model.predict([x, changed])
    np.testing.assert_allclose(after[:, :2], before[:, :2], atol=1e-6)
    assert np.abs(after[:, 2:] - before[:, 2:]).max() > 1e-4


def test_greedy_translation_feeds_back_its_own_tokens():
    model = transformer(7, 6, 5, 4, num_layers=1, d_model=8, num_heads=2, d_ff=8, seed=2)
    x = np.random.default_rng(2).integers(1, 7, (4, 5))
    decoded = greedy_translate(model, x, start_id=1, length=4)
    probs = model.predict([x, shift_right(decoded, 1)])
    np.testing.assert_array_equal(probs.argmax(axis=-1), decoded)
