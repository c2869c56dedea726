"""The unit of keyword matching: lower-cased, stop-word-free, Snowball-stemmed words.

BM25 indexes these, and the answer stage uses the same function for lexical overlap (sentence
scoring, the not-found rule, the citation check), so a word matches the same way everywhere.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

_WORD = re.compile(r"(?u)\b\w\w+\b")


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import
    return frozenset(STOPWORDS_EN)


def terms(text: str) -> list[str]:
    """The terms of `text`, in order, repeats kept."""
    stop = _stopwords()
    return _stemmer().stemWords([word for word in _WORD.findall(text.lower()) if word not in stop])


def indexed_terms(title: str, text: str) -> str:
    """The space-joined terms a chunk is indexed under: its document's title (so a chunk deep in
    an article still matches the article's subject) and its text."""
    if title and not text.startswith(title):
        text = title + "\n" + text
    return " ".join(terms(text))
