"""Decoding a sequence model step by step: greedy decoding, beam search (Course 5, week 3),
and BLEU.

A decoder is a step function

    log_probs, state = step_fn(tokens, state)

``tokens`` (n,) int: each hypothesis' previous token (``start`` at the first step);
``state``: an array, a list/tuple of arrays with n rows each (one per hypothesis), or None;
``log_probs`` (n, V): log P(y<t> = v | x, y<1..t-1>) for every token v.  Both searches run
a batch of m inputs at once (``initial_state`` has m rows); beam search runs its m k
hypotheses as one batch of n = m k rows.

The objective of a sequence y<1..L> (L counts the ``end`` token when it ends with one), the
course's length-normalized log-probability:

    score(y) = 1 / L^alpha * sum_{t=1..L} log P(y<t> | x, y<1..t-1>)

alpha = 0: the plain log-probability (short sequences win: every factor is < 1); alpha = 1:
the mean log-probability per token; the course's 0.7 in between.

Greedy decoding takes the argmax at every step.  Beam search, width k: at step t every
live hypothesis is extended by every token (k V candidates per input), and the k with the
largest sum of log P are kept.  A kept candidate ending with ``end`` is finished: it leaves
the beam (one live hypothesis fewer) for the pool of finished ones.  The search stops when
no hypothesis is live or after ``max_len`` steps (the live ones then join the pool), and
answers the pool's best by ``score``.  With k = 1 this is greedy decoding; a larger k can
find a more probable sequence that starts with a less probable token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import ConfigError, InputValueError


@dataclass
class Decoded:
    """The decoded sequence of each of m inputs.

    tokens: (m, max_len) int ids; row i's sequence is ``tokens[i, :lengths[i]]`` (with the
        ``end`` token when it ended with one); after it, ``end`` (or 0 if there is none).
    lengths: (m,) L of each sequence.
    log_prob: (m,) sum_t log P(y<t> | x, y<1..t-1>).
    score: (m,) log_prob / L^alpha.
    """

    tokens: np.ndarray
    lengths: np.ndarray
    log_prob: np.ndarray
    score: np.ndarray

    def sequences(self) -> list[list[int]]:
        """Each input's tokens as a list (up to its length)."""
        return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths, strict=True)]


def greedy_decode(step_fn, initial_state, start, max_len: int, end=None, alpha: float = 0.7):
    """y<t> = argmax_v log P(v | x, y<1..t-1>) at every step, until ``end`` or ``max_len``.

    Args:
        step_fn: ``(tokens (n,), state) -> (log_probs (n, V), state)`` (module docstring).
        initial_state: the state before the first step, m rows (an array, a list/tuple of
            arrays, or None for one input).
        start: the token fed at the first step (an int, or (m,) ints).
        max_len: the most steps.
        end: the token that ends a sequence (None: every sequence has ``max_len`` tokens).
        alpha: the length normalization of the reported ``score``.

    Returns a :class:`Decoded`.
    """
    _check("greedy_decode", max_len=max_len, k=1, alpha=alpha)
    m = _batch_size(initial_state, start, "greedy_decode")
    prev = _start_tokens(start, m)
    state = initial_state
    tokens = np.zeros((m, max_len), dtype=np.int64)
    lengths = np.full(m, max_len, dtype=np.int64)
    log_prob = np.zeros(m)
    done = np.zeros(m, dtype=bool)
    rows = np.arange(m)
    for t in range(max_len):
        lp, state = step_fn(prev, state)
        lp = _log_probs(lp, m, "greedy_decode")
        nxt = lp.argmax(axis=1)
        if end is not None:
            nxt = np.where(done, end, nxt)
        log_prob += np.where(done, 0.0, lp[rows, nxt])
        tokens[:, t] = nxt
        if end is not None:
            ended = ~done & (nxt == end)
            lengths[ended] = t + 1
            done |= ended
            if done.all():
                tokens[:, t + 1 :] = end
                break
        prev = nxt
    return Decoded(tokens, lengths, log_prob, log_prob / lengths.astype(float) ** alpha)


def beam_search(
    step_fn, initial_state, start, k: int, max_len: int, alpha: float = 0.7, end=None
) -> Decoded:
    """The best sequence by ``score`` among those a beam of width k finds (module docstring).

    Args:
        step_fn: ``(tokens (n,), state) -> (log_probs (n, V), state)``, called on n = m k
            hypotheses at once.
        initial_state: the state before the first step, m rows (an array, a list/tuple of
            arrays, or None for one input); each row is repeated for the input's k beams.
        start: the token fed at the first step (an int, or (m,) ints).
        k: the beam width (k = 1: greedy decoding).
        max_len: the most steps.
        alpha: the length normalization (0: plain log-probability; the course's 0.7).
        end: the token that ends a sequence (None: every sequence has ``max_len`` tokens).

    Returns a :class:`Decoded` (m rows).
    """
    _check("beam_search", max_len=max_len, k=k, alpha=alpha)
    m = _batch_size(initial_state, start, "beam_search")
    inputs = np.arange(m)
    state = _take(initial_state, np.repeat(inputs, k))
    prev = np.repeat(_start_tokens(start, m), k)
    cum = np.full((m, k), -np.inf)
    cum[:, 0] = 0.0  # one hypothesis to start from, not k copies of it
    seqs = np.zeros((m, k, max_len), dtype=np.int64)
    best = {
        "score": np.full(m, -np.inf),
        "log_prob": np.full(m, -np.inf),
        "length": np.full(m, max_len, dtype=np.int64),
        "tokens": np.zeros((m, max_len), dtype=np.int64),
    }
    for t in range(max_len):
        lp, state = step_fn(prev, state)
        lp = _log_probs(lp, m * k, "beam_search")
        vocab = lp.shape[1]
        candidates = (cum[:, :, None] + lp.reshape(m, k, vocab)).reshape(m, k * vocab)
        width = min(k, k * vocab)
        top = np.argsort(-candidates, axis=1, kind="stable")[:, :width]  # ties: lower id
        scores = np.take_along_axis(candidates, top, axis=1)
        beam, token = top // vocab, top % vocab
        if width < k:  # fewer candidates than beams: the rest stay dead
            pad = k - width
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
            beam, token = np.pad(beam, ((0, 0), (0, pad))), np.pad(token, ((0, 0), (0, pad)))
        seqs = seqs[inputs[:, None], beam]
        seqs[:, :, t] = token
        live = np.isfinite(scores)
        if t == max_len - 1:  # the last step: every live hypothesis is done
            finished = live
        elif end is None:
            finished = np.zeros_like(live)
        else:
            finished = live & (token == end)
        _keep_best(best, seqs, scores, finished, t + 1, alpha)
        cum = np.where(finished, -np.inf, scores)
        if not np.isfinite(cum).any():
            break
        state = _take(state, (inputs[:, None] * k + beam).reshape(-1))
        prev = token.reshape(-1)
    tokens = best["tokens"]
    if end is not None:
        tokens[np.arange(max_len)[None, :] >= best["length"][:, None]] = end
    return Decoded(tokens, best["length"], best["log_prob"], best["score"])


def _keep_best(best: dict, seqs, scores, finished, length: int, alpha: float) -> None:
    """Put each input's best finished hypothesis of this step (length ``length``) into
    ``best`` where its normalized score beats the best so far."""
    normalized = np.where(finished, scores / float(length) ** alpha, -np.inf)
    j = normalized.argmax(axis=1)
    rows = np.arange(len(j))
    better = normalized[rows, j] > best["score"]
    if not better.any():
        return
    best["score"][better] = normalized[rows, j][better]
    best["log_prob"][better] = scores[rows, j][better]
    best["length"][better] = length
    best["tokens"][better] = seqs[rows, j][better]


def _check(who: str, max_len, k, alpha) -> None:
    if int(max_len) != max_len or max_len < 1:
        raise ConfigError(f"{who}: max_len must be an integer >= 1, got {max_len!r}")
    if int(k) != k or k < 1:
        raise ConfigError(f"{who}: k (the beam width) must be an integer >= 1, got {k!r}")
    if not np.isfinite(alpha) or alpha < 0:
        raise ConfigError(f"{who}: alpha must be a number >= 0, got {alpha!r}")


def _batch_size(state, start, who: str) -> int:
    """m: the rows of the state's first array, or of ``start`` if it is an array (1 for
    neither)."""
    arrays = _arrays(state)
    m = int(arrays[0].shape[0]) if arrays else None
    if np.ndim(start) == 1:
        if m is not None and len(start) != m:
            raise InputValueError(
                f"{who}: start has {len(start)} tokens, the initial state {m} rows"
            )
        return len(start)
    return 1 if m is None else m


def _start_tokens(start, m: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(start, dtype=np.int64), (m,)).copy()


def _arrays(state) -> list:
    if state is None:
        return []
    if isinstance(state, list | tuple):
        return list(state)
    return [state]


def _take(state, rows):
    """The state's rows ``rows`` (every array of a list/tuple state)."""
    if state is None:
        return None
    if isinstance(state, list | tuple):
        return type(state)(s[rows] for s in state)
    return state[rows]


def _log_probs(lp, n: int, who: str) -> np.ndarray:
    lp = np.asarray(lp, dtype=np.float64)
    if lp.ndim != 2 or lp.shape[0] != n:
        raise InputValueError(
            f"{who}: step_fn must return log-probabilities of shape (n, V) with n = {n} "
            f"hypotheses, got shape {lp.shape}"
        )
    if np.isnan(lp).any():
        raise InputValueError(f"{who}: step_fn returned NaN log-probabilities")
    return lp


def log_probabilities(probs, floor: float = 1e-30) -> np.ndarray:
    """log P from a softmax's probabilities (clipped at ``floor``: log 0 would be -inf)."""
    return np.log(np.maximum(np.asarray(probs, dtype=np.float64), floor))


# ------------------------------------------------------------------------- BLEU
def corpus_bleu(hypotheses, references, tokenize: str = "char") -> float:
    """sacreBLEU's corpus BLEU (0 to 100) of ``hypotheses`` against one reference each.

    BLEU = BP * exp(sum_{n=1..4} 1/4 log p_n), p_n the clipped n-gram precision over the
    corpus, BP = min(1, exp(1 - r / c)) the brevity penalty (r, c: reference and hypothesis
    lengths in tokens).  ``tokenize="char"`` (the default) reads each string as a sentence
    of characters: an ISO date "2018-05-09" is 10 tokens, so 4-grams exist and a wrong
    digit costs some n-grams, not the whole date; as words ("2018 05 09") a date would be
    3 tokens, and every 4-gram precision, hence BLEU, 0.  Any sacreBLEU tokenizer name
    ("13a", "none", ...) may be passed instead.
    """
    try:
        import sacrebleu
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"corpus_bleu: BLEU is computed by sacrebleu: pip install 'sacrebleu>=2.4' ({err})"
        ) from None
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise InputValueError(
            f"corpus_bleu: {len(hypotheses)} hypotheses but {len(references)} references "
            "(one reference per hypothesis)"
        )
    return float(sacrebleu.corpus_bleu(hypotheses, [references], tokenize=tokenize).score)
