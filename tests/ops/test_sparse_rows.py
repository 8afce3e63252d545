"""add_rows equals np.add.at: repeated rows summed, whatever their count."""

import numpy as np
import pytest

from nnlab.ops.sparse_rows import ROUNDS, add_rows


@pytest.mark.parametrize("n", [0, 1, 7, 500, 5000])
def test_add_rows_equals_add_at_on_zipf_rows(n):
    rng = np.random.default_rng(n)
    vocabulary, d = 300, 8
    p = 1 / np.arange(1, vocabulary + 1)
    rows = rng.choice(vocabulary, n, p=p / p.sum())  # a few rows repeat hundreds of times
    updates = rng.standard_normal((n, d))
    table = rng.standard_normal((vocabulary, d))
    expected = table.copy()
    np.add.at(expected, rows, updates)
    add_rows(table, rows, updates)
    np.testing.assert_allclose(table, expected, rtol=1e-12, atol=1e-12)


def test_every_round_and_the_heavy_rows_by_hand():
    table = np.zeros((4, 2))
    rows = np.array([3] * (ROUNDS + 3) + [1, 0, 1])  # row 3 past the rounds
    updates = np.arange(2 * len(rows), dtype=float).reshape(-1, 2)
    add_rows(table, rows, updates)
    for row in range(4):
        assert table[row].tolist() == updates[rows == row].sum(axis=0).tolist()


def test_rows_of_any_shape_with_matching_updates():
    table = np.zeros((5, 3), dtype=np.float32)
    rows = np.array([[0, 4], [4, 4]])
    add_rows(table, rows, np.ones((2, 2, 3), dtype=np.float32))
    assert table[:, 0].tolist() == [1, 0, 0, 0, 3]
