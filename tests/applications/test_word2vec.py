"""word2vec in NumPy: the vocabulary, subsampling and noise as gensim makes them, one SGD
step against PyTorch's gradients, and gensim's own sanity check on the Lee corpus."""

import numpy as np
import pytest

from nnlab.applications.word2vec import (
    NoiseSampler,
    Vocabulary,
    Word2Vec,
    Word2VecSettings,
    _Training,
    _window_mask,
)
from nnlab.exceptions import InputValueError

torch = pytest.importorskip("torch")
gensim_word2vec = pytest.importorskip("gensim.models.word2vec")
gensim_utils = pytest.importorskip("gensim.test.utils")


@pytest.fixture(scope="module")
def lee():
    return gensim_utils.lee_corpus_list


@pytest.fixture(scope="module")
def gensim_vocabulary(lee):
    model = gensim_word2vec.Word2Vec(min_count=5, sample=1e-3)
    model.build_vocab(lee)
    return model.wv


def test_vocabulary_and_subsampling_as_gensim(lee, gensim_vocabulary):
    vocabulary = Vocabulary.from_sentences(lee, min_count=5)
    wv = gensim_vocabulary
    assert len(vocabulary) == len(wv)
    assert np.all(np.diff(vocabulary.counts) <= 0)  # most frequent first
    for word, count in zip(vocabulary.words, vocabulary.counts, strict=True):
        assert wv.get_vecattr(word, "count") == count
    keep = vocabulary.keep_probabilities(1e-3)
    gensim_keep = np.array([wv.get_vecattr(w, "sample_int") for w in vocabulary.words]) / 2**32
    np.testing.assert_allclose(keep, gensim_keep, atol=1e-9)


def test_the_alias_table_holds_exactly_the_noise_distribution():
    counts = np.array([1000, 300, 300, 20, 5, 1])
    sampler = NoiseSampler(counts, 0.75)
    n = len(counts)
    implied = sampler.keep.copy()  # slot i gives i with keep[i], its alias otherwise
    np.add.at(implied, sampler.alias, 1 - sampler.keep)
    np.testing.assert_allclose(implied / n, counts**0.75 / (counts**0.75).sum(), atol=1e-12)
    draws = sampler.draw(np.random.default_rng(0), 200_000)
    frequencies = np.bincount(draws, minlength=n) / len(draws)
    np.testing.assert_allclose(frequencies, sampler.probabilities, atol=0.005)


def test_window_mask_reach_and_sentence_ends():
    # positions: 2 padding, then sentence 0 = [a b c], sentence 1 = [d], 2 padding
    span_sentence = np.array([-1, -1, 0, 0, 0, 1, -1, -1])
    mask = _window_mask(span_sentence, reach=np.array([2, 1, 2, 2]), w=2)
    assert mask.astype(int).tolist() == [
        [0, 0, 0, 1, 1],  # a: b and c (reach 2)
        [0, 1, 0, 1, 0],  # b: a and c (reach 1)
        [1, 1, 0, 0, 0],  # c: a and b; d is another sentence
        [0, 0, 0, 0, 0],  # d: alone in its sentence
    ]


def _one_step(sg: bool, noise, span_ids, valid, alpha=0.1):
    """nnlab's update of one step, from random E and O, with the given noise words."""
    vocabulary = Vocabulary([f"w{i}" for i in range(6)], np.array([9, 8, 7, 6, 5, 4]))
    model = Word2Vec(sg=sg, negative=noise.shape[1], window=2, vector_size=4)
    model.vocabulary = vocabulary
    rng = np.random.default_rng(3)
    model.input_vectors = rng.standard_normal((6, 4)).astype(np.float32)
    model.output_vectors = rng.standard_normal((6, 4)).astype(np.float32)
    before = model.input_vectors.copy(), model.output_vectors.copy()
    training = _Training(model, np.zeros(1, np.int32), np.zeros(1, np.int32), 1)
    training.noise.draw = lambda rng, shape: noise
    training._step(np.array(span_ids), np.array(valid, dtype=bool), alpha, None)
    return before, (model.input_vectors, model.output_vectors)


def test_a_skip_gram_step_is_sgd_on_the_negative_sampling_loss():
    span_ids = [1, 2, 3, 1, 4, 5]  # w = 2: centers 3 and 1 (positions 2, 3)
    valid = [[0, 1, 0, 1, 1], [1, 1, 0, 1, 0]]
    noise = np.array([[0, 3], [5, 5]])  # center 3 drew itself: skipped
    (e0, o0), (e1, o1) = _one_step(True, noise, span_ids, valid)
    E, O = torch.tensor(e0, requires_grad=True), torch.tensor(o0, requires_grad=True)
    loss = 0
    for i, center in enumerate([3, 1]):
        for j, ok in enumerate(valid[i]):
            if ok:
                h = E[span_ids[i + j]]
                loss = loss - torch.nn.functional.logsigmoid(O[center] @ h)
                for n in noise[i]:
                    if n != center:
                        loss = loss - torch.nn.functional.logsigmoid(-O[n] @ h)
    loss.backward()
    np.testing.assert_allclose(e1, e0 - 0.1 * E.grad.numpy(), atol=1e-6)
    np.testing.assert_allclose(o1, o0 - 0.1 * O.grad.numpy(), atol=1e-6)


def test_a_cbow_step_gives_each_context_the_whole_gradient_of_the_mean():
    span_ids = [1, 2, 3, 1, 4, 5]
    valid = [[0, 1, 0, 1, 1], [1, 1, 0, 1, 0]]
    noise = np.array([[0, 2], [5, 5]])
    (e0, o0), (e1, o1) = _one_step(False, noise, span_ids, valid)
    E, O = torch.tensor(e0), torch.tensor(o0, requires_grad=True)
    expected_e = e0.copy()
    loss_total = 0
    for i, center in enumerate([3, 1]):
        contexts = [span_ids[i + j] for j, ok in enumerate(valid[i]) if ok]
        h = E[contexts].mean(0).requires_grad_(True)
        loss = -torch.nn.functional.logsigmoid(O[center] @ h)
        loss = loss - sum(torch.nn.functional.logsigmoid(-O[n] @ h) for n in noise[i])
        (grad_h,) = torch.autograd.grad(loss, h, retain_graph=True)
        for c in contexts:  # word2vec.c and gensim: each context gets the whole -alpha dJ/dh
            expected_e[c] -= 0.1 * grad_h.numpy()
        loss_total = loss_total + loss
    loss_total.backward()
    np.testing.assert_allclose(e1, expected_e, atol=1e-6)
    np.testing.assert_allclose(o1, o0 - 0.1 * O.grad.numpy(), atol=1e-6)


@pytest.mark.parametrize(
    "settings",
    [  # gensim's test_sg_neg and test_cbow_neg (test_word2vec.py), then its model_sanity
        dict(sg=True, window=4, negative=15, min_count=5, epochs=10),
        dict(sg=False, alpha=0.05, window=5, negative=15, min_count=5, epochs=10, sample=0),
    ],
)
def test_gensims_sanity_check_on_the_lee_corpus(lee, settings):
    model = Word2Vec(lee, workers=2, **settings)
    wv = model.wv
    neighbours = [word for word, _ in wv.nearest("attacks", k=len(wv))]
    assert neighbours.index("bombings") < 50  # gensim: "in >200 calibration runs"
    assert model.report.words == 10 * sum(map(len, lee))


def test_saved_vectors_read_by_gensim(tmp_path, lee):
    model = Word2Vec(lee[:100], min_count=2, epochs=1, vector_size=16)
    model.save_word2vec_format(tmp_path / "vectors.txt")
    keyed = pytest.importorskip("gensim.models").KeyedVectors.load_word2vec_format(
        tmp_path / "vectors.txt"
    )
    assert keyed.index_to_key == model.vocabulary.words
    np.testing.assert_allclose(keyed.vectors, model.input_vectors, rtol=1e-5, atol=1e-7)


def test_bad_settings_name_the_field():
    with pytest.raises(InputValueError, match="window must be >= 1, got 0"):
        Word2VecSettings(window=0)
    with pytest.raises(InputValueError, match="min_count=50"):
        Word2Vec([["a", "b"]], min_count=50)
