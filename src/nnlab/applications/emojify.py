"""Emojify (Course 5, week 2): sentence classification on pretrained word vectors.

The course labels short sentences with one of 5 emoji; nnlab's version labels real tweets
negative, neutral or positive (``nnlab.data.sentiment``).  Both of the lab's models read a
sentence as GloVe 6B 50d word vectors (``nnlab.data.word_vectors``), d = 50, k classes.

V1, the lab's ``model``: a sentence's words w_1..w_n (those GloVe has; the others are
skipped) are averaged, then one softmax layer:

    avg = (1 / n) sum_j e_{w_j}            (d,)    zeros when GloVe has none of the words
    z = avg W + b,  y^ = softmax(z)         W (d, k), b (k,)
    J = -(1/m) sum_i log y^_i[y_i]          cross-entropy, trained with Adam

Over a batch the averages are one lookup and one masked mean (``sentence_averages``): ids
(m, T) padded with 0, E the (V + 1, d) matrix whose row 0 is zeros,

    avg_i = sum_t E[ids[i, t]] / max(1, #{t : ids[i, t] != 0})

V2, the lab's ``Emojify_V2`` (``emojify_v2``): the word vectors, in order, through two
LSTMs:

    ids (m, T) -> Embedding(V + 1, d, weights=E, trainable=False, mask_zero=True)  (m, T, d)
    -> LSTM(128, return_sequences=True) (m, T, 128) -> Dropout(0.5)
    -> LSTM(128) (m, 128): the state after each sentence's last word -> Dropout(0.5)
    -> Dense(k, softmax) (m, k)

with the LSTM cell of ``nnlab.layers.recurrent`` (c<t> = Γ_f * c<t-1> + Γ_u * c~<t>,
a<t> = Γ_o * tanh(c<t>)); the mask (ids != 0) makes a padded step carry the states on
unchanged, so a tweet's output does not depend on the padding after it.

The course embeds the whole GloVe vocabulary (400,001 x 50, 80 MB of float32 that do not
train).  nnlab's application embeds the ``sub_vocabulary`` of the GloVe words that occur in
the texts at hand (train, dev and test: 25,629 words for the tweets), with ids remapped:
the vectors of the words the model can ever see are the same, the matrix is 16x smaller,
and a model file holds 5 MB of it instead of 80 MB.  A word outside it is skipped, as in
V1, which is what the full matrix would give for a word GloVe lacks.

Words GloVe lacks.  In the tweets 8.6% of the tokens are not GloVe words, mostly hashtags
and handles that run words together (#deflategate, @americanair); ``split_unknown`` spells
them with the fewest GloVe words (deflate gate, american air).  12,168 of the 15,874
distinct unknown words split; 3.3% of the tokens are unknown after it (links, mis-decoded
emoji bytes, names).  ``glove_tokens`` also reads a link as GloVe's "url" (31% of the
tweets have one, and they are neutral more often: 52% against 33%), an emoticon GloVe lacks
as one it has (":-(" -> :(, "<3" -> heart) and a word with a letter run out ("yesssss" ->
yes), then splits hashtags as ``split_unknown``: 1.7% of the tokens are unknown after it,
mostly the bytes of the mis-decoded emoji and quotes (whose encoding could not be undone)
and names.
"""

from __future__ import annotations

import re

import numpy as np

from ..data.word_vectors import WordVectors
from ..layers import LSTM, Dense, Dropout, Embedding, Input
from ..training.model import Model, Sequential


def sub_vocabulary(vectors: WordVectors, token_lists) -> WordVectors:
    """The words of ``vectors`` that occur in ``token_lists`` (lists of tokens), with their
    vectors, in ``vectors``' order (GloVe's: most frequent first)."""
    index = vectors.index
    rows = np.array(
        sorted({index[w] for tokens in token_lists for w in tokens if w in index}), dtype=np.int64
    )
    return WordVectors([vectors.words[i] for i in rows], vectors.vectors[rows])


def split_unknown(tokens, vectors: WordVectors, cache: dict | None = None) -> list[str]:
    """``tokens`` with each word that ``vectors`` lacks (letters and digits, 4 or more of
    them) replaced by the fewest words of ``vectors``, of 2 or more characters each, that
    spell it, ties going to the more frequent words (lower rows): hashtags and handles run
    words together ("deflategate" -> deflate gate, "americanair" -> american air,
    "coachella2015" -> coachella 2015).  A word that no such split spells, or only one of
    more than max(2, len / 4) pieces ("flightr" -> fli gh tr), stays as it is.  ``cache``
    (a dict) keeps the splits between calls."""
    index = vectors.index
    cache = {} if cache is None else cache
    out: list[str] = []
    for token in tokens:
        if token in index or len(token) < 4 or not token.isalnum():
            out.append(token)
            continue
        if token not in cache:
            cache[token] = _segment(token, index, len(vectors))
        out.extend(cache[token])
    return out


EMOTICONS = {
    ":)": ("=)", ":-)", ":))", ":)))"),
    ":(": (":-(", ":((", ":'(", ":/", ":-/"),
    ";)": (";-)",),
}
URL = re.compile(r"https?://|www\.")
ELONGATED = re.compile(r"([a-z])\1\1+")


def glove_tokens(
    tokens, vectors: WordVectors, cache: dict | None = None, unknown: str | None = None
) -> list[str]:
    """``tokens`` (of ``nnlab.data.sentiment.tokenize``) with the ones ``vectors`` lacks
    spelled with words it has, as far as that goes:

    - a URL -> "url" (GloVe's; a tweet with a link is more often news, neutral);
    - an emoticon GloVe lacks -> one it has: ":-)" "=)" ":))" -> ":)", ":-(" ":'(" ":/"
      -> ":(", "<3" "<333" -> "heart";
    - a word with a letter 3 or more times in a row -> the more frequent in ``vectors`` of
      it with each such run cut to 2 letters or to 1 ("soooo" -> so, "hmmmm" -> hmm);
    - hashtags and handles that run words together -> those words (``split_unknown``).

    What is left unknown stays, or is replaced by ``unknown`` when given (a word of
    ``vectors``, e.g. GloVe's "unk").  ``cache`` (a dict) keeps the work between calls."""
    index = vectors.index
    cache = {} if cache is None else cache
    out: list[str] = []
    for token in tokens:
        if token in index:
            out.append(token)
            continue
        if token not in cache:
            cache[token] = _glove_spelling(token, vectors, cache)
            if unknown is not None:
                cache[token] = [w if w in index else unknown for w in cache[token]]
        out.extend(cache[token])
    return out


def _glove_spelling(token: str, vectors: WordVectors, cache: dict) -> list[str]:
    index = vectors.index
    if URL.match(token):
        return ["url"]
    if token.startswith("<3"):
        return ["heart"]
    for word, variants in EMOTICONS.items():
        if token in variants:
            return [word]
    if ELONGATED.search(token):
        candidates = [ELONGATED.sub(r"\1\1", token), ELONGATED.sub(r"\1", token)]
        known = [w for w in candidates if w in index]
        if known:
            return [min(known, key=index.__getitem__)]
        token = candidates[0]
    return split_unknown([token], vectors, cache)


def _segment(word: str, index: dict, size: int) -> list[str]:
    """Fewest pieces in ``index`` spelling ``word`` (dynamic programming over its ends)."""
    n = len(word)
    cost = [0.0] + [float("inf")] * n
    start = [0] * (n + 1)
    for end in range(2, n + 1):
        for begin in range(max(0, end - 24), end - 1):
            row = index.get(word[begin:end])
            if row is not None and cost[begin] + 1 + row / size < cost[end]:
                cost[end], start[end] = cost[begin] + 1 + row / size, begin
    if cost[n] == float("inf"):
        return [word]
    pieces, end = [], n
    while end > 0:
        pieces.append(word[start[end] : end])
        end = start[end]
    return pieces[::-1] if len(pieces) <= max(2, n / 4) else [word]


def sentence_averages(ids, embedding_matrix, chunk: int = 4096) -> np.ndarray:
    """avg_i = sum_t E[ids[i, t]] / max(1, number of ids != 0 in row i): (m, d) float32, summed
    in float64; E's row 0 must be zeros (padding).  ``chunk`` rows at a time bound the
    (chunk, T, d) lookup's memory."""
    ids = np.asarray(ids)
    matrix = np.asarray(embedding_matrix)
    out = np.empty((ids.shape[0], matrix.shape[1]), dtype=np.float32)
    for start in range(0, ids.shape[0], chunk):
        part = ids[start : start + chunk]
        sums = matrix[part].sum(axis=1, dtype=np.float64)  # (c, d)
        counts = np.count_nonzero(part, axis=1)[:, None]
        out[start : start + chunk] = sums / np.maximum(counts, 1)
    return out


def emojify_v1(dim: int = 50, classes: int = 3, seed=None) -> Sequential:
    """The lab's V1 (not compiled): averaged word vectors (m, dim) -> softmax (m, classes)."""
    return Sequential(
        [Input((dim,)), Dense(classes, activation="softmax", name="classes")],
        seed=seed,
        name="emojify_v1",
    )


def emojify_v2(
    embedding_matrix,
    max_len: int,
    classes: int = 3,
    units: int = 128,
    dropout: float = 0.5,
    seed=None,
) -> Model:
    """The lab's Emojify_V2 (not compiled): ids (m, max_len) -> class probabilities
    (m, classes), over a frozen embedding ``embedding_matrix`` (V + 1, d) whose row 0 pads
    (module docstring)."""
    matrix = np.asarray(embedding_matrix, dtype=np.float32)
    ids = Input((max_len,), dtype="int32", name="words")
    x = Embedding(
        matrix.shape[0],
        matrix.shape[1],
        weights=matrix,
        trainable=False,
        mask_zero=True,
        name="glove",
    )(ids)
    x = LSTM(units, return_sequences=True, name="lstm_1")(x)
    x = Dropout(dropout, name="dropout_1")(x)
    x = LSTM(units, name="lstm_2")(x)
    x = Dropout(dropout, name="dropout_2")(x)
    outputs = Dense(classes, activation="softmax", name="classes")(x)
    return Model(ids, outputs, seed=seed, name="emojify_v2")
