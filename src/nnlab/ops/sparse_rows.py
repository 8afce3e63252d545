"""Adding row updates into a table whose rows repeat: table[rows[i]] += updates[i] for
every i, duplicates summed (what ``np.add.at(table, rows, updates)`` does, several times
faster for a (V, d) table).

Sparse gradients look like this: an embedding's rows, word2vec's input and output
vectors.  ``table[rows] += updates`` keeps one update per repeated row and ``np.add.at``
runs one element at a time (about 0.8 us a row of 100 here), so:

    sort the rows; the k-th occurrence of a row has rank k - 1
    rank r < ROUNDS:  one round per r, whose rows are distinct:  table[rows_r] += updates_r
    the rest (a row seen more than ROUNDS times, a frequent word):  the runs of equal rows
        are summed with np.add.reduceat, then added once per row.

Shapes: table (V, d); rows (n,) integers in [0, V); updates (n, d).
"""

from __future__ import annotations

import numpy as np

ROUNDS = 4


def add_rows(table: np.ndarray, rows: np.ndarray, updates: np.ndarray) -> None:
    """table[rows[i]] += updates[i], repeated rows summed (module docstring)."""
    rows = np.asarray(rows).ravel()
    n = len(rows)
    if n == 0:
        return
    updates = updates.reshape(n, -1)
    order = np.argsort(rows)  # (n,) positions, by row
    sorted_rows = rows[order]
    first = np.empty(n, dtype=bool)  # (n,) True where a run of equal rows starts
    first[:1] = True
    np.not_equal(sorted_rows[1:], sorted_rows[:-1], out=first[1:])
    run_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    rank = np.minimum(np.arange(n) - run_start, ROUNDS).astype(np.uint8)  # (n,) capped
    by_rank = order[np.argsort(rank, kind="stable")]  # (n,) by rank, then by row
    bounds = np.cumsum(np.bincount(rank, minlength=ROUNDS + 1))
    rows, updates = rows[by_rank], np.take(updates, by_rank, axis=0)
    begin = 0
    for end in bounds[:ROUNDS]:  # a round's rows are distinct
        where = rows[begin:end]
        table[where] = np.take(table, where, axis=0) + updates[begin:end]
        begin = end
    if begin < n:  # the occurrences past the ROUNDS-th, still sorted by row
        heavy_rows = rows[begin:]
        starts = np.flatnonzero(np.append(True, heavy_rows[1:] != heavy_rows[:-1]))
        where = heavy_rows[starts]
        table[where] = np.take(table, where, axis=0) + np.add.reduceat(
            updates[begin:], starts, axis=0
        )
