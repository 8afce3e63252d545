"""The standard word-vector benchmarks, scored as gensim scores them.

- Analogies (Mikolov et al. 2013, ``questions-words.txt``: 19,544 questions "a b c d" in
  sections such as ": capital-common-countries"): the answer to a : b :: c : ? is

      argmax over w not in {a, b, c} of  u_w . (u_b + u_c - u_a)       (u = e / ||e||)

  (gensim's ``most_similar(positive=[b, c], negative=[a])``, "3CosAdd"), searched among
  the ``restrict_vocab`` most frequent words; a question with a word outside them is
  skipped.  Words are matched case-insensitively.  The score is correct / answered.
  (The course's ``WordVectors.analogy`` is a different formula: cos(e_b - e_a, e_w - e_c).)
- Word similarity (``wordsim353.tsv``: 353 pairs with human scores): the Spearman rank
  correlation between the human scores and the cosine similarities, over the pairs whose
  words are known.

Both files ship in gensim's test data (``gensim.test.utils.datapath(name)``); they are
read here without gensim.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .word_vectors import WordVectors

QUESTIONS_PER_BATCH = 256


@dataclass(frozen=True)
class AnalogyScore:
    """Answered questions and how many were right, in all and per section."""

    correct: int
    answered: int
    skipped: int
    sections: dict  # section name -> (correct, answered)

    @property
    def accuracy(self) -> float:
        return self.correct / self.answered if self.answered else 0.0


@dataclass(frozen=True)
class SimilarityScore:
    """Spearman's rho between human and cosine similarity, over the known pairs."""

    spearman: float
    pairs: int
    skipped: int


def read_analogies(path) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """The sections of a questions-words file: (name, [(a, b, c, d), ...]), lower-case."""
    sections = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith(": "):
            sections.append((line[2:].strip(), []))
        elif line.strip():
            words = tuple(line.lower().split())
            if len(words) != 4 or not sections:
                raise ValueError(f"read_analogies: {path}: not 'a b c d': {line!r}")
            sections[-1][1].append(words)
    return sections


def analogy_accuracy(vectors: WordVectors, path, restrict_vocab: int = 300_000) -> AnalogyScore:
    """The 3CosAdd accuracy of ``vectors`` on a questions-words file (module docstring).

    ``vectors``' rows must run from the most frequent word (as word2vec and GloVe write
    them); words are lower-cased, the first (most frequent) spelling kept."""
    index = _lower_index(vectors.words[:restrict_vocab])
    unit = _unit_rows(vectors.vectors[:restrict_vocab])
    correct = answered = skipped = 0
    per_section = {}
    for name, questions in read_analogies(path):
        known = [q for q in questions if all(w in index for w in q)]
        skipped += len(questions) - len(known)
        ids = np.array([[index[w] for w in q] for q in known], dtype=np.int64).reshape(-1, 4)
        right = int((_answers(unit, ids[:, :3]) == ids[:, 3]).sum())
        per_section[name] = (right, len(known))
        correct, answered = correct + right, answered + len(known)
    return AnalogyScore(correct, answered, skipped, per_section)


def _answers(unit, abc) -> np.ndarray:
    """(Q,) argmax over w not in {a, b, c} of u_w . (u_b + u_c - u_a), for abc (Q, 3)."""
    answers = np.empty(len(abc), dtype=np.int64)
    for first in range(0, len(abc), QUESTIONS_PER_BATCH):
        batch = abc[first : first + QUESTIONS_PER_BATCH]  # (q, 3)
        query = unit[batch[:, 1]] + unit[batch[:, 2]] - unit[batch[:, 0]]  # (q, d)
        scores = query @ unit.T  # (q, V)
        np.put_along_axis(scores, batch, -np.inf, axis=1)
        answers[first : first + len(batch)] = scores.argmax(axis=1)
    return answers


def read_word_pairs(path) -> list[tuple[str, str, float]]:
    """(word1, word2, human score) from a tab-separated file; '#' lines are comments."""
    pairs = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            a, b, score = line.split("\t")[:3]
            pairs.append((a.lower(), b.lower(), float(score)))
    return pairs


def word_pair_spearman(vectors: WordVectors, path, restrict_vocab: int = 300_000):
    """Spearman's rho between a word-pair file's scores and the vectors' cosines."""
    index = _lower_index(vectors.words[:restrict_vocab])
    unit = _unit_rows(vectors.vectors[:restrict_vocab])
    pairs = read_word_pairs(path)
    known = [(index[a], index[b], s) for a, b, s in pairs if a in index and b in index]
    human = np.array([s for _, _, s in known])
    cosine = np.array([unit[i] @ unit[j] for i, j, _ in known], dtype=np.float64)
    return SimilarityScore(spearman(human, cosine), len(known), len(pairs) - len(known))


def spearman(x, y) -> float:
    """Spearman's rank correlation: Pearson's r of the ranks (ties share their mean
    rank)."""
    rx, ry = average_ranks(x), average_ranks(y)
    return float(np.corrcoef(rx, ry)[0, 1])


def average_ranks(x) -> np.ndarray:
    """Ranks 1..n of x, tied values given the mean of their ranks."""
    values, inverse = np.unique(np.asarray(x), return_inverse=True)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    sums = np.bincount(inverse, weights=ranks, minlength=len(values))
    return (sums / np.bincount(inverse, minlength=len(values)))[inverse]


def _lower_index(words) -> dict:
    index = {}
    for i, word in enumerate(words):
        index.setdefault(word.lower(), i)
    return index


def _unit_rows(vectors) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
