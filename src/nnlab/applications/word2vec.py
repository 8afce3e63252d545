"""word2vec (Mikolov et al. 2013, Course 5 week 2): skip-gram and CBOW with negative
sampling, trained in NumPy.

Two tables of vectors, V words by d: the input vectors E (``syn0``, the word vectors kept
at the end) and the output vectors O (``syn1neg``).  For a center word c and a word w of
its window, negative sampling scores the true pair against K words drawn from the noise
distribution P_n(w) ~ count(w)^0.75:

    skip-gram:  J = -log s(O_c . E_w) - sum_k log s(-O_nk . E_w)      for each w in the window
    CBOW:       h = mean of E_w over the window
                J = -log s(O_c . h) - sum_k log s(-O_nk . h)

(s the sigmoid).  With g = alpha (label - s(score)), label 1 for c and 0 for a noise word,
plain SGD adds g h to O's rows and g O to E's rows (for CBOW each context word gets the
whole g O, as word2vec.c and gensim do).

As gensim and word2vec.c do:
- words seen fewer than ``min_count`` times are dropped;
- frequent words are subsampled: w is kept with probability
  (sqrt(f_w / (sample T)) + 1) (sample T) / f_w, f_w its count, T the corpus' tokens;
- each center's window is drawn in 1..window ("reduced window"), over the kept words of
  its sentence;
- alpha falls linearly from ``alpha`` to ``min_alpha`` over all the epochs' words;
- E starts uniform in +-0.5 / d, O at zero.

Vectorized (a Python loop over steps, none over words): a step takes P consecutive
centers of a chunk of kept words and the w words on either side,

    span      (P + 2w, d)      E's rows of the span's words, gathered once
    windows   (P, 2w + 1, d)   center i's window: span rows i .. i + 2w (a strided view)
    valid     (P, 2w + 1)      the slots that are contexts: 0 < |offset| <= b_i, same sentence
    outputs   (P, K + 1)       the center's id, then its K noise words
    scores    (P, K + 1, 2w+1) = O[outputs] @ windows^T                    (skip-gram)

so the window vectors' gradients add back into the span by 2w + 1 slice additions, and a
step adds P + 2w rows into E and P (K + 1) into O (``ops.sparse_rows.add_rows``: repeated
rows summed).  Two departures, for speed:
- in skip-gram the pairs of a center share its K noise words (Ji et al. 2016,
  "Parallelizing word2vec in shared and distributed memory"); word2vec.c draws K a pair;
- a step's updates are computed from the same E and O (a minibatch).  A noise word drawn
  many times in a step gets the sum of its updates, so P is chosen to keep the expected
  draws of the most likely noise word at most ``MAX_NOISE_REPEATS`` (about 370 centers for
  a 48,000-word vocabulary, 53 for the Lee corpus' 1,750 words at K = 15; past twice that
  the Lee corpus' CBOW diverged).
Worker threads take chunks of the corpus and update the shared tables without locks
("Hogwild", as word2vec.c's and gensim's threads do).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import threadpool_limits

from ..data.word_vectors import WordVectors, write_word2vec_text
from ..exceptions import InputValueError
from ..ops.parallel import num_threads
from ..ops.sparse_rows import add_rows

CHUNK_WORDS = 20_000  # corpus tokens a worker takes at a time
# A step sums the updates of a row drawn several times: its centers are as many as keep
# the expected draws of the most likely noise word at most this (more diverge on a small
# vocabulary; gensim's Lee corpus test: 1,750 words, K = 15)
MAX_NOISE_REPEATS = 24


@dataclass(frozen=True)
class Word2VecSettings:
    """gensim's defaults, except ``workers`` (nnlab's threads)."""

    vector_size: int = 100
    window: int = 5
    negative: int = 5
    sg: bool = True  # skip-gram; False: CBOW over the mean of the window
    sample: float = 1e-3
    min_count: int = 5
    epochs: int = 5
    alpha: float = 0.025
    min_alpha: float = 1e-4
    ns_exponent: float = 0.75
    workers: int = 0  # 0: nnlab's threads (NNLAB_NUM_THREADS or the CPUs)
    seed: int = 1

    def __post_init__(self):
        for name in ("vector_size", "window", "negative", "min_count", "epochs"):
            if getattr(self, name) < 1:
                raise InputValueError(
                    f"Word2VecSettings: {name} must be >= 1, got {getattr(self, name)}"
                )
        if not 0 <= self.min_alpha <= self.alpha:
            raise InputValueError(
                f"Word2VecSettings: need 0 <= min_alpha <= alpha, got min_alpha="
                f"{self.min_alpha}, alpha={self.alpha}"
            )


@dataclass
class Vocabulary:
    """The kept words, most frequent first, and their counts."""

    words: list[str]
    counts: np.ndarray  # (V,) int64
    index: dict = field(init=False, repr=False)

    def __post_init__(self):
        self.index = {word: i for i, word in enumerate(self.words)}

    @classmethod
    def from_sentences(cls, sentences, min_count: int) -> Vocabulary:
        counts = Counter()
        for sentence in sentences:
            counts.update(sentence)
        kept = sorted(
            ((w, n) for w, n in counts.items() if n >= min_count), key=lambda item: -item[1]
        )
        if not kept:
            raise InputValueError(
                f"Word2Vec: no word occurs min_count={min_count} times in the corpus"
            )
        return cls([w for w, _ in kept], np.array([n for _, n in kept], dtype=np.int64))

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, sentences) -> tuple[np.ndarray, np.ndarray]:
        """(ids (N,) int32, sentence numbers (N,) int32) of the corpus' known words."""
        index, ids, sentence_of = self.index, [], []
        for number, sentence in enumerate(sentences):
            known = [index[w] for w in sentence if w in index]
            ids.extend(known)
            sentence_of.extend([number] * len(known))
        return np.array(ids, dtype=np.int32), np.array(sentence_of, dtype=np.int32)

    def keep_probabilities(self, sample: float) -> np.ndarray:
        """(V,) the chance that subsampling keeps each word (module docstring)."""
        if not sample:
            return np.ones(len(self))
        threshold = sample * self.counts.sum()
        return np.minimum((np.sqrt(self.counts / threshold) + 1) * threshold / self.counts, 1.0)


@dataclass(frozen=True)
class TrainingReport:
    """What ``Word2Vec.train`` did: corpus words read (all epochs), seconds, words/s."""

    words: int
    seconds: float

    @property
    def words_per_second(self) -> float:
        return self.words / self.seconds


class Word2Vec:
    """word2vec with negative sampling (module docstring).

    ``Word2Vec(sentences, vector_size=100, ...)`` builds the vocabulary and trains, as
    gensim's ``Word2Vec``; the vectors are ``model.wv`` (a ``WordVectors``).

    Args:
        sentences: token lists (``nnlab.data.corpora``), or None to call ``build_vocab``
            and ``train`` later.
        settings: a ``Word2VecSettings``; keyword arguments override its fields.
    """

    def __init__(self, sentences=None, settings: Word2VecSettings | None = None, **overrides):
        self.settings = replace(settings or Word2VecSettings(), **overrides)
        self.vocabulary: Vocabulary | None = None
        self.input_vectors = self.output_vectors = None
        self.report: TrainingReport | None = None
        if sentences is not None:
            self.build_vocab(sentences)
            self.train(sentences)

    def build_vocab(self, sentences) -> None:
        """Count the words and initialize E (uniform +-0.5/d) and O (zeros), (V, d)."""
        s = self.settings
        self.vocabulary = Vocabulary.from_sentences(sentences, s.min_count)
        rng = np.random.default_rng(s.seed)
        shape = (len(self.vocabulary), s.vector_size)
        self.input_vectors = ((rng.random(shape) - 0.5) / s.vector_size).astype(np.float32)
        self.output_vectors = np.zeros(shape, dtype=np.float32)

    def train(self, sentences) -> TrainingReport:
        """``epochs`` passes over the corpus; returns (and keeps) the words/s."""
        if self.vocabulary is None:
            raise InputValueError("Word2Vec.train: call build_vocab(sentences) first")
        start = time.perf_counter()
        ids, sentence_of = self.vocabulary.encode(sentences)
        raw_words = sum(len(sentence) for sentence in sentences)
        _Training(self, ids, sentence_of, raw_words).run()
        words = raw_words * self.settings.epochs
        self.report = TrainingReport(words, time.perf_counter() - start)
        return self.report

    @property
    def wv(self) -> WordVectors:
        """The trained input vectors E, by word."""
        return WordVectors(self.vocabulary.words, self.input_vectors)

    def save_word2vec_format(self, path) -> None:
        """The word2vec text format (gensim's ``KeyedVectors.load_word2vec_format`` reads
        it; ``nnlab.data.word_vectors.read_word2vec_text`` too)."""
        write_word2vec_text(self.wv, path)

    def get_config(self) -> dict:
        return asdict(self.settings)


class _Training:
    """One ``train`` call: the corpus cut into chunks, shared by worker threads."""

    def __init__(self, model: Word2Vec, ids, sentence_of, raw_words: int):
        self.model, self.s = model, model.settings
        self.ids, self.sentence_of = ids, sentence_of
        vocabulary = model.vocabulary
        self.keep = vocabulary.keep_probabilities(self.s.sample).astype(np.float32)
        self.noise = NoiseSampler(vocabulary.counts, self.s.ns_exponent)
        most_likely = self.noise.probabilities.max()
        self.centers_per_step = int(
            np.clip(MAX_NOISE_REPEATS / (self.s.negative * most_likely), 8, 1024)
        )
        # the alpha schedule runs over raw words: kept words scaled to the raw count
        self.raw_per_known = raw_words / max(len(ids), 1)
        self.total = len(ids) * self.s.epochs
        self.done = 0
        self.lock = threading.Lock()
        chunks = [(e, i) for e in range(self.s.epochs) for i in range(0, len(ids), CHUNK_WORDS)]
        self.chunks = iter(chunks)

    def run(self) -> None:
        workers = self.s.workers or num_threads()
        seeds = np.random.SeedSequence(self.s.seed).spawn(workers)
        threads = [
            threading.Thread(target=self._work, args=(np.random.default_rng(seed),))
            for seed in seeds
        ]
        with threadpool_limits(limits=1, user_api="blas"):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    def _next_chunk(self):
        with self.lock:
            return next(self.chunks, None)

    def _alpha(self) -> float:
        progress = min(self.done / self.total, 1.0)
        return self.s.alpha - (self.s.alpha - self.s.min_alpha) * progress

    def _work(self, rng) -> None:
        while (chunk := self._next_chunk()) is not None:
            _, begin = chunk
            end = min(begin + CHUNK_WORDS, len(self.ids))
            self._train_chunk(self.ids[begin:end], self.sentence_of[begin:end], rng)
            with self.lock:
                self.done += end - begin

    def _train_chunk(self, ids, sentence_of, rng) -> None:
        """Subsample, draw each center's window, and train in steps of consecutive centers."""
        w = self.s.window
        kept = rng.random(len(ids), dtype=np.float32) < self.keep[ids]
        n = int(kept.sum())
        # w padding positions at each end (id 0, sentence -1: never a valid context)
        padded_ids = np.zeros(n + 2 * w, dtype=np.int64)
        padded_ids[w : w + n] = ids[kept]
        padded_sentence = np.full(n + 2 * w, -1, dtype=np.int64)
        padded_sentence[w : w + n] = sentence_of[kept]
        reach = w - rng.integers(0, w, n)  # (n,) each center's window, in 1..w
        alpha = self._alpha()
        for first in range(0, n, self.centers_per_step):
            last = min(first + self.centers_per_step, n)
            span = slice(first, last + 2 * w)  # the padded positions the step reads
            valid = _window_mask(padded_sentence[span], reach[first:last], w)
            self._step(padded_ids[span], valid, alpha, rng)

    def _step(self, span_ids, valid, alpha, rng) -> None:
        """One SGD step on the P consecutive centers of a span of P + 2w positions.

        span_ids (P + 2w,): the ids around the centers; valid (P, 2w + 1): which window
        slots of each center are its contexts (the center's own slot never)."""
        E, O = self.model.input_vectors, self.model.output_vectors
        w, k = self.s.window, self.s.negative
        p = len(valid)
        centers = span_ids[w : w + p]  # (P,)
        outputs = np.empty((p, k + 1), dtype=np.int64)  # (P, K+1): the center, K noise
        outputs[:, 0] = centers
        outputs[:, 1:] = self.noise.draw(rng, (p, k))
        used = outputs != centers[:, None]  # gensim skips a noise word equal to the center
        used[:, 0] = True
        out_vecs = np.take(O, outputs, axis=0)  # (P, K+1, d)
        span_vecs = np.take(E, span_ids, axis=0)  # (P + 2w, d)
        # windows (P, 2w+1, d): window j of center i is span position i + j (a view)
        windows = sliding_window_view(span_vecs, 2 * w + 1, axis=0).transpose(0, 2, 1)
        weight = valid.astype(np.float32)  # (P, 2w+1)
        labels = np.zeros((k + 1, 1), dtype=np.float32)  # 1 for the center, 0 for noise
        labels[0] = 1
        if self.s.sg:
            scores = out_vecs @ windows.transpose(0, 2, 1)  # (P, K+1, 2w+1)
            g = labels - _sigmoid(scores)
            g *= used[:, :, None]
            g *= weight[:, None, :] * alpha
            d_windows = g.transpose(0, 2, 1) @ out_vecs  # (P, 2w+1, d)
            d_out = g @ windows  # (P, K+1, d)
        else:
            count = weight.sum(axis=1, keepdims=True)  # (P, 1)
            mean_weight = weight / np.maximum(count, 1)  # (P, 2w+1)
            h = (mean_weight[:, None, :] @ windows)[:, 0]  # (P, d) the window's mean
            scores = (out_vecs @ h[:, :, None])[:, :, 0]  # (P, K+1)
            g = (labels[:, 0] - _sigmoid(scores)) * used * (alpha * (count > 0))
            d_h = (g[:, None, :] @ out_vecs)[:, 0]  # (P, d)
            d_windows = weight[:, :, None] * d_h[:, None, :]  # (P, 2w+1, d): whole d_h each
            d_out = g[:, :, None] * h[:, None, :]  # (P, K+1, d)
        d_span = np.zeros_like(span_vecs)  # (P + 2w, d)
        for j in range(2 * w + 1):
            d_span[j : j + p] += d_windows[:, j]
        add_rows(O, outputs, d_out)
        add_rows(E, span_ids, d_span)


class NoiseSampler:
    """Draws word ids from P_n(w) ~ count(w)^exponent in O(1) each (Walker's alias method:
    a uniform slot i, kept with probability keep[i], else its alias[i])."""

    def __init__(self, counts, exponent: float):
        weights = np.asarray(counts, dtype=np.float64) ** exponent
        scaled = weights * len(weights) / weights.sum()  # mean 1
        self.keep = np.ones(len(weights))
        self.alias = np.arange(len(weights))
        small = [i for i, x in enumerate(scaled) if x < 1]
        large = [i for i, x in enumerate(scaled) if x >= 1]
        while small and large:
            s, g = small.pop(), large.pop()
            self.keep[s], self.alias[s] = scaled[s], g
            scaled[g] -= 1 - scaled[s]
            (small if scaled[g] < 1 else large).append(g)
        self.probabilities = weights / weights.sum()

    def draw(self, rng, shape) -> np.ndarray:
        slots = rng.integers(0, len(self.keep), shape)
        return np.where(rng.random(shape) < self.keep[slots], slots, self.alias[slots])


def _window_mask(span_sentence, reach, w: int) -> np.ndarray:
    """(P, 2w+1): slot j of center i is a context when 0 < |j - w| <= reach[i] and the
    word at span position i + j is in the center's sentence."""
    sentences = sliding_window_view(span_sentence, 2 * w + 1)  # (P, 2w+1)
    offset = np.abs(np.arange(-w, w + 1))  # (2w+1,)
    near = (offset > 0) & (offset <= reach[:, None])
    return near & (sentences == span_sentence[w : w + len(reach), None])


def _sigmoid(z):
    """1 / (1 + e^-z), z clipped to +-30 (e^-z would overflow float32 past -88)."""
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
