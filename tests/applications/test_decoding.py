"""Greedy decoding and beam search on hand-written step functions (tables of next-token
probabilities), checked against enumerating every sequence; BLEU against sacrebleu."""

import itertools

import numpy as np
import pytest

from nnlab.applications.decoding import beam_search, corpus_bleu, greedy_decode
from nnlab.exceptions import ConfigError, InputValueError


class TableDecoder:
    """P(y<t> = v | input i, step t, y<t-1> = u) = table[i, t, u, v]; row u = V is the start
    token.  The state is (input ids, step numbers), one row per hypothesis."""

    def __init__(self, table):
        self.table = np.asarray(table, dtype=np.float64)
        self.m, self.steps, _, self.vocab = self.table.shape
        self.start = self.vocab

    def initial_state(self):
        return (np.arange(self.m), np.zeros(self.m, dtype=np.int64))

    def __call__(self, tokens, state):
        inputs, t = state
        probs = self.table[inputs, np.minimum(t, self.steps - 1), tokens]
        return np.log(probs), (inputs, t + 1)

    def log_prob(self, i, sequence) -> float:
        prev, total = self.start, 0.0
        for t, token in enumerate(sequence):
            total += np.log(self.table[i, min(t, self.steps - 1), prev, token])
            prev = token
        return total


def random_table(rng, m, steps, vocab):
    logits = rng.standard_normal((m, steps, vocab + 1, vocab)) * 2
    table = np.exp(logits)
    return table / table.sum(axis=-1, keepdims=True)


def brute_force(decoder, i, max_len, alpha, end=None):
    """The best (score, sequence) over every sequence: those ending at ``end`` (L <= max_len)
    and, without an end, those of max_len tokens."""
    tokens = [v for v in range(decoder.vocab) if v != end]
    sequences = [list(seq) for seq in itertools.product(tokens, repeat=max_len)]
    if end is not None:
        for length in range(max_len):
            sequences += [[*body, end] for body in itertools.product(tokens, repeat=length)]
    scored = [(decoder.log_prob(i, seq) / len(seq) ** alpha, seq) for seq in sequences]
    return max(scored, key=lambda pair: pair[0])


def lecture_table():
    """Two steps, tokens 0 and 1: greedy takes 0 (P 0.6) and can reach at best 0.6 * 0.5 =
    0.30, while 1 then 0 has 0.4 * 0.9 = 0.36."""
    table = np.zeros((1, 2, 3, 2))
    table[0, 0, 2] = [0.6, 0.4]  # from the start token
    table[0, 1, 0] = [0.5, 0.5]
    table[0, 1, 1] = [0.9, 0.1]
    return table


def test_greedy_is_not_the_most_probable_sequence_and_beam_search_finds_it():
    decoder = TableDecoder(lecture_table())
    greedy = greedy_decode(decoder, decoder.initial_state(), decoder.start, max_len=2)
    best_score, best = brute_force(decoder, 0, 2, alpha=0.7)
    assert greedy.sequences()[0] != best
    assert np.exp(greedy.log_prob[0]) < np.exp(decoder.log_prob(0, best))
    for k in (2, 3):
        found = beam_search(decoder, decoder.initial_state(), decoder.start, k=k, max_len=2)
        assert found.sequences()[0] == best == [1, 0]
        np.testing.assert_allclose(found.score[0], best_score)
        np.testing.assert_allclose(found.log_prob[0], np.log(0.36))
    one = beam_search(decoder, decoder.initial_state(), decoder.start, k=1, max_len=2)
    assert one.sequences() == greedy.sequences()


@pytest.mark.parametrize("end", [None, 3])
def test_beam_width_one_is_greedy_decoding_on_random_tables(end):
    rng = np.random.default_rng(0)
    decoder = TableDecoder(random_table(rng, m=20, steps=6, vocab=4))
    args = (decoder, decoder.initial_state(), decoder.start)
    greedy = greedy_decode(*args, max_len=6, end=end)
    beam = beam_search(*args, k=1, max_len=6, end=end)
    np.testing.assert_array_equal(beam.tokens, greedy.tokens)
    np.testing.assert_array_equal(beam.lengths, greedy.lengths)
    np.testing.assert_allclose(beam.log_prob, greedy.log_prob)
    np.testing.assert_allclose(beam.score, greedy.score)
    if end is not None:  # some stopped early, and the padding is the end token
        assert (greedy.lengths < 6).any()
        for row, n in zip(greedy.tokens, greedy.lengths, strict=True):
            assert row[n - 1] == end or n == 6
            assert (row[n:] == end).all()


@pytest.mark.parametrize("alpha", [0.0, 0.7, 1.0])
@pytest.mark.parametrize("end", [None, 2])
def test_a_beam_as_wide_as_every_sequence_finds_the_best_one(alpha, end):
    """k >= V^max_len keeps every prefix: beam search is then exhaustive, on each input of
    a batch (the batch's hypotheses run as one)."""
    rng = np.random.default_rng(1)
    decoder = TableDecoder(random_table(rng, m=6, steps=4, vocab=3))
    found = beam_search(
        decoder, decoder.initial_state(), decoder.start, k=27, max_len=3, alpha=alpha, end=end
    )
    for i in range(decoder.m):
        score, best = brute_force(decoder, i, 3, alpha, end)
        assert found.sequences()[i] == best, i
        np.testing.assert_allclose(found.score[i], score)


def test_length_normalization_changes_the_choice():
    """From the start: end 0.55, token 0 0.44; after 0: end 0.98.  As plain log P (alpha 0)
    "end" alone wins (log 0.55 = -0.60 > log 0.44 + log 0.98 = -0.84); normalized by
    length (alpha 0.7 or 1) "0 end" wins (-0.84 / 2^0.7 = -0.52)."""
    table = np.zeros((1, 2, 4, 3))
    table[0, 0, 3] = [0.44, 0.01, 0.55]
    table[0, 1, :3] = [0.01, 0.01, 0.98]
    decoder = TableDecoder(table)
    choices = {}
    for alpha in (0.0, 0.7, 1.0):
        found = beam_search(
            decoder, decoder.initial_state(), decoder.start, k=2, max_len=4, alpha=alpha, end=2
        )
        assert found.sequences()[0] == brute_force(decoder, 0, 4, alpha, end=2)[1]
        choices[alpha] = found.sequences()[0]
    assert choices[0.0] == [2] and choices[0.7] == choices[1.0] == [0, 2]


def test_bad_arguments_are_named():
    decoder = TableDecoder(lecture_table())
    with pytest.raises(ConfigError, match="k \\(the beam width\\) must be an integer >= 1, got 0"):
        beam_search(decoder, decoder.initial_state(), decoder.start, k=0, max_len=2)
    with pytest.raises(ConfigError, match="alpha must be a number >= 0, got -1"):
        beam_search(decoder, decoder.initial_state(), decoder.start, k=2, max_len=2, alpha=-1)
    with pytest.raises(InputValueError, match="shape \\(n, V\\) with n = 2 hypotheses"):
        beam_search(lambda t, s: (np.zeros((1, 2)), s), None, 0, k=2, max_len=2)


def test_bleu_is_sacrebleus_on_characters():
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps = ["2018-05-09", "1999-12-31", "2001-01-10"]
    refs = ["2018-05-09", "1999-12-13", "2011-01-10"]
    spaced = [" ".join(s) for s in hyps], [[" ".join(s) for s in refs]]
    direct = sacrebleu.corpus_bleu(*spaced, tokenize="none").score
    assert corpus_bleu(hyps, refs) == pytest.approx(direct)
    assert 0 < corpus_bleu(hyps, refs) < 100 and corpus_bleu(refs, refs) == pytest.approx(100)
    with pytest.raises(InputValueError, match="2 hypotheses but 3 references"):
        corpus_bleu(hyps[:2], refs)
