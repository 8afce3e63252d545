"""Embedding from a given matrix (pretrained word vectors), trainable or frozen."""

import numpy as np
import pytest

import nnlab
from nnlab import Dense, Embedding, Flatten, Input, Model


def vectors():
    return np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)


@pytest.mark.parametrize("trainable", [True, False])
def test_embedding_starts_from_the_given_matrix_and_stays_when_frozen(trainable):
    matrix = vectors()
    ids = Input((3,), dtype="int32")
    layer = Embedding(10, 4, weights=matrix, trainable=trainable)
    model = Model(ids, Dense(1)(Flatten()(layer(ids))))
    model.compile("sgd", "mse")
    np.testing.assert_array_equal(layer.params["W"], matrix)
    x = np.random.default_rng(1).integers(0, 10, (16, 3))
    model.fit(x, np.ones((16, 1)), epochs=2, verbose=0)
    moved = not np.array_equal(layer.params["W"], matrix)
    assert moved == trainable


def test_weights_of_the_wrong_shape_are_refused():
    with pytest.raises(
        nnlab.ConfigError, match=r"weights must have shape .* \(10, 4\), got \(4, 10\)"
    ):
        Embedding(10, 4, weights=vectors().T)


def test_the_matrix_is_copied_not_shared():
    matrix = vectors()
    layer = Embedding(10, 4, weights=matrix)
    layer.build((3,), np.random.default_rng(0), "float32")
    layer.params["W"][0] = 0
    assert np.any(matrix[0] != 0)
