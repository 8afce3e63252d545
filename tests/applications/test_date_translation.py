"""The course's date-translation model with attention: its size, shared layers and that it
learns; the decoder that reads y<t-1>: teacher forcing, its step model, greedy decoding and
beam search, a float64 gradient check, saving and loading."""

import numpy as np
import pytest

from nnlab.applications.date_translation import DateTranslator
from nnlab.exceptions import ConfigError
from nnlab.training.optimizers import Adam


def test_the_course_model_size_and_shared_layers():
    # the course's summary: human vocabulary 37, machine 11, Tx 30, Ty 10, n_a 32, n_s 64
    translator = DateTranslator(37, 11)
    translator.model.build()
    assert translator.model.count_params() == 52_960
    assert len(translator.model.output_names) == 10
    # one set of attention weights serves all ten steps
    names = [layer.name for layer in translator.model.layers]
    assert names.count("attention_dense_tanh") == 1 and names.count("post_attention_lstm") == 1


def test_it_learns_a_copy_task_through_attention():
    """Output step t must read input position 2t (held-out sequences): attention learns
    where to look.  Seeds 0, 1, 2 reach 0.98, 1.00, 1.00 (7 s each)."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, size=(1000, 8))
    x = np.eye(5, dtype=np.float32)[ids]
    y = ids[:, ::2]  # (m, 4)
    translator = DateTranslator(5, 5, tx=8, ty=4, n_a=8, n_s=16, seed=0)
    translator.model.compile(Adam(0.01), "sparse_categorical_crossentropy")
    before = (translator.predict_ids(x[800:]) == y[800:]).mean()
    inputs, targets = translator.inputs(x[:800]), translator.targets(y[:800])
    translator.model.fit(inputs, targets, epochs=60, batch_size=50, verbose=0)
    after = (translator.predict_ids(x[800:]) == y[800:]).mean()
    assert before < 0.4 and after > 0.9


def test_attention_maps_are_distributions_over_the_input(tmp_path):
    from nnlab.practice.plots import attention_heatmap

    translator = DateTranslator(6, 4, tx=5, ty=3, n_a=4, n_s=6, seed=1)
    x = np.eye(6, dtype=np.float32)[np.random.default_rng(0).integers(0, 6, (2, 5))]
    alphas = translator.attention_map(x)
    assert alphas.shape == (2, 3, 5)
    np.testing.assert_allclose(alphas.sum(axis=-1), 1.0, rtol=1e-5)
    path = attention_heatmap(alphas[0], "9 may", "abc", tmp_path / "map.png")
    assert path.stat().st_size > 1000


# ------------------------------------------------------- the decoder that reads y<t-1>
def small(feed_previous=True, seed=0, **kwargs):
    return DateTranslator(
        6, 4, tx=5, ty=3, n_a=4, n_s=6, feed_previous=feed_previous, seed=seed, **kwargs
    )


def random_x(m, seed=0, tx=5, n_h=6):
    return np.eye(n_h, dtype=np.float32)[np.random.default_rng(seed).integers(0, n_h, (m, tx))]


def teacher_forced_log_prob(translator, x, ids):
    """sum_t log P(y<t> = ids[:, t] | x, ids[:, :t]) from the unrolled model."""
    outputs = translator.model.predict(translator.inputs(x, ids))
    rows = np.arange(len(ids))
    return sum(np.log(o[rows, ids[:, t]].astype(np.float64)) for t, o in enumerate(outputs))


def test_the_feed_previous_model_reads_the_previous_output():
    course, fed = DateTranslator(37, 11), DateTranslator(37, 11, feed_previous=True)
    course.model.build(), fed.model.build()
    # the post-attention LSTM's input widens by n_y = 11: 4 n_s n_y more weights
    assert fed.model.count_params() - course.model.count_params() == 4 * 64 * 11
    assert fed.model.n_inputs == 3 + 10 and fed.model.input_names[3] == "y_prev_1"
    x, y = random_x(2, tx=5), np.array([[1, 2, 3], [0, 0, 1]])
    translator = small()
    inputs = translator.inputs(x, y)
    np.testing.assert_array_equal(inputs[3], 0)  # y<0>: the start, all zeros
    np.testing.assert_array_equal(inputs[4][:, 0].argmax(-1), y[:, 0])  # then y shifted
    np.testing.assert_array_equal(inputs[5][:, 0].argmax(-1), y[:, 1])
    other = translator.model.predict(translator.inputs(x, (y + 1) % 4))
    same = translator.model.predict(inputs)
    assert not np.allclose(other[1], same[1])  # step 2 reads y<1>
    np.testing.assert_allclose(other[0], same[0])  # step 1 reads only the start


@pytest.mark.parametrize("feed_previous", [False, True])
def test_greedy_decoding_through_the_step_model_is_the_argmax_sequence(feed_previous):
    """The step model shares the unrolled model's weights (building it changes nothing):
    feeding its greedy translation back through the unrolled model, every step's argmax is
    that translation, and the log-probabilities agree."""
    translator = small(feed_previous, seed=3)
    x = random_x(16, seed=1)
    translator.model.build()
    before = translator.model.get_weights()
    decoded = translator.decode(x)
    for name, value in translator.model.get_weights().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    ids = decoded.tokens
    outputs = translator.model.predict(translator.inputs(x, ids))
    np.testing.assert_array_equal(np.stack([o.argmax(-1) for o in outputs], axis=1), ids)
    np.testing.assert_allclose(
        decoded.log_prob, teacher_forced_log_prob(translator, x, ids), rtol=1e-5
    )
    np.testing.assert_array_equal(translator.predict_ids(x), ids)


def test_beam_search_on_the_model_k1_is_greedy_and_scores_are_the_models():
    translator = small(seed=4)
    x = random_x(24, seed=2)
    greedy = translator.decode(x, k=1)
    np.testing.assert_array_equal(translator.decode(x, k=1).tokens, greedy.tokens)
    from nnlab.applications.decoding import beam_search

    step_fn, state = translator.decoder(x)
    one = beam_search(step_fn, state, translator.start_id, k=1, max_len=3)
    np.testing.assert_array_equal(one.tokens, greedy.tokens)
    np.testing.assert_allclose(one.log_prob, greedy.log_prob, rtol=1e-6)
    beam = translator.decode(x, k=3)
    np.testing.assert_allclose(
        beam.log_prob, teacher_forced_log_prob(translator, x, beam.tokens), rtol=1e-5
    )
    # every sequence has Ty tokens here (no end token): the beam keeps the most probable it
    # finds, on this untrained model more probable than greedy's for most inputs
    assert (beam.log_prob >= greedy.log_prob - 1e-6).all()
    assert (beam.log_prob > greedy.log_prob + 1e-3).mean() > 0.5


def test_the_feed_previous_model_passes_a_float64_gradient_check():
    """Every weight of the attention model with y<t-1> fed back (its attention, LSTM and
    output layers shared across the 3 steps) against finite differences."""
    from helpers import assert_model_gradients

    translator = DateTranslator(
        5, 4, tx=4, ty=3, n_a=3, n_s=4, feed_previous=True, seed=5, dtype="float64"
    )
    model = translator.model
    model.build()
    rng = np.random.default_rng(3)
    x = np.eye(5)[rng.integers(0, 5, (2, 4))]
    xs = [np.asarray(a, dtype=np.float64) for a in translator.inputs(x, rng.integers(0, 4, (2, 3)))]
    xs[1], xs[2] = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    rs = [rng.standard_normal((2, 4)) for _ in range(3)]
    assert_model_gradients(model, xs, rs)


def test_it_learns_a_copy_task_feeding_back_its_outputs():
    """Teacher forcing in training, its own outputs when decoding (held-out sequences)."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 4, size=(700, 6))
    x = np.eye(4, dtype=np.float32)[ids]
    y = ids[:, ::2]  # (m, 3)
    translator = DateTranslator(4, 4, tx=6, ty=3, n_a=8, n_s=16, feed_previous=True, seed=0)
    translator.model.compile(Adam(0.01), "sparse_categorical_crossentropy")
    before = (translator.predict_ids(x[600:]) == y[600:]).mean()
    translator.model.fit(
        translator.inputs(x[:600], y[:600]), translator.targets(y[:600]), epochs=30,
        batch_size=50, verbose=0,
    )  # fmt: skip
    after = (translator.predict_ids(x[600:]) == y[600:]).mean()
    beam = (translator.predict_ids(x[600:], k=3) == y[600:]).mean()
    assert before < 0.5 and after > 0.9 and beam > 0.9


def test_a_saved_translator_loads_and_decodes_the_same(tmp_path):
    from nnlab.saving.model_file import load_model

    translator = small(seed=6)
    x = random_x(5, seed=3)
    translator.model.compile(Adam(0.01), "sparse_categorical_crossentropy")
    translator.model.save(tmp_path / "m.safetensors", include_optimizer=False)
    loaded = DateTranslator.from_model(
        load_model(tmp_path / "m.safetensors", compile=False), translator.config()
    )
    np.testing.assert_array_equal(loaded.decode(x, k=2).tokens, translator.decode(x, k=2).tokens)
    np.testing.assert_allclose(loaded.attention_map(x), translator.attention_map(x), rtol=1e-6)
    with pytest.raises(ConfigError, match="expected 3 inputs and Ty = 3 outputs"):
        DateTranslator.from_model(loaded.model, {**translator.config(), "feed_previous": False})
