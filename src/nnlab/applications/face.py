"""TEMPORARY STAND-IN (branch ``facenet``): the branch ``triplet`` writes the real
``nnlab.applications.face`` (triplet loss, siamese training, verification, recognition);
a merge takes that file and drops this one.  Only the two functions ``nnlab faces verify``
and ``nnlab faces identify`` call are here, with the signatures and meaning of the real
ones:

    verify(embedding_a, embedding_b, threshold) -> (distance, same)
        distance = ||a - b|| (Euclidean), same = distance < threshold
    identify(embedding, database, threshold) -> (name or None, distance)
        the name whose nearest embedding is nearest; None when that distance >= threshold
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError, InputValueError, ShapeError


def _threshold(threshold, who: str) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not threshold > 0:
        raise ConfigError(f"{who}: threshold must be a number > 0, got {threshold!r}")
    return float(threshold)


def verify(embedding_a, embedding_b, threshold):
    """(||a - b||, ||a - b|| < threshold) for two embeddings (d,)."""
    threshold = _threshold(threshold, "verify")
    a = np.asarray(embedding_a, np.float64)
    b = np.asarray(embedding_b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ShapeError(f"verify: expected two embeddings (d,), got {a.shape} and {b.shape}")
    distance = float(np.linalg.norm(a - b))
    return distance, distance < threshold


def identify(embedding, database, threshold):
    """(name, distance) of the identity in ``database`` (dict name -> (k, d) or (d,)
    embeddings) nearest to ``embedding`` (d,), by each identity's nearest embedding; the
    name is None when that distance is >= threshold."""
    threshold = _threshold(threshold, "identify")
    if not isinstance(database, dict) or not database:
        raise InputValueError("identify: database must be a non-empty dict name -> embeddings")
    query = np.asarray(embedding, np.float64)
    best_name, best = None, np.inf
    for name, value in database.items():
        stored = np.asarray(value, np.float64).reshape(-1, query.shape[-1])  # (k, d)
        distance = float(np.linalg.norm(stored - query, axis=1).min())
        if distance < best:
            best_name, best = name, distance
    return (best_name if best < threshold else None), best
