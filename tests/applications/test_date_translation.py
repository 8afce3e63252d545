"""The course's date-translation model with attention: its size, shared layers and that it
learns."""

import numpy as np

from nnlab.applications.date_translation import DateTranslator
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
