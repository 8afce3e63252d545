"""The census name lists and the character vocabulary of the char-level language models."""

import numpy as np
import pytest

import nnlab
from nnlab.data.text import NEWLINE, CharVocabulary, load_names

names_package = pytest.importorskip("names")


def test_the_census_lists_load():
    surnames = load_names("surnames")
    assert len(surnames) == 88_799 and surnames[:3] == ["smith", "johnson", "williams"]
    assert len(load_names("female")) + len(load_names("male")) == 5_494
    with pytest.raises(nnlab.InputValueError, match="kind must be one of"):
        load_names("dinosaurs")


def test_vocabulary_and_sequences():
    vocab = CharVocabulary.from_texts(["ab", "ba", "c"])
    assert vocab.chars == "abc" and vocab.size == 5
    inputs, targets = vocab.sequences(["ab", "c"])
    np.testing.assert_array_equal(inputs, [[NEWLINE, 2, 3], [NEWLINE, 4, 0]])
    np.testing.assert_array_equal(targets, [[2, 3, NEWLINE], [4, NEWLINE, 0]])
    assert vocab.decode(inputs[0]) == "\nab"
    with pytest.raises(nnlab.InputValueError, match="'z' is not in the vocabulary"):
        vocab.encode("z")
