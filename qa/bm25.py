"""Keyword search (BM25, via bm25s) kept beside the vector index.

The terms of every chunk live in the generation's record file (`chunk_terms`), written by the same
calls that add or delete the chunk's vector (see `TermTrackingChroma`), so keyword search follows
the vectors incrementally and never re-reads the corpus. When the writer publishes, it builds a
bm25s snapshot from those terms into `index_dir/bm25/<name>/` and names it in index.json; readers
memory-map the snapshot the pointer names, so every process shares one copy on disk.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from langchain_chroma import Chroma
from langchain_core.documents import Document

from .records import SQLiteRecordManager

log = logging.getLogger(__name__)

SNAPSHOT_DIR = "bm25"
_IDS_FILE = "ids.json"
_WORD = re.compile(r"(?u)\b\w\w+\b")


@lru_cache(maxsize=1)
def _bm25s() -> Any:
    """bm25s, imported on first use; it sets its logger to DEBUG on import, so quiet it again."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    _bm25s()
    from bm25s.tokenization import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def terms(text: str) -> list[str]:
    """Lower-cased, stop-word-free, Snowball-stemmed words: the unit of keyword matching (also
    used for lexical overlap when scoring sentences and checking citations)."""
    stop = _stopwords()
    return _stemmer().stemWords([word for word in _WORD.findall(text.lower()) if word not in stop])


def chunk_terms(document: Document) -> str:
    """The indexed terms of a chunk: its title (so a chunk deep in an article still matches the
    article's subject) and its text."""
    title = str(document.metadata.get("title", ""))
    text = document.page_content
    if title and not text.startswith(title):
        text = title + "\n" + text
    return " ".join(terms(text))


class TermTrackingChroma(Chroma):
    """Chroma that records each chunk's terms when its vector is written (LangChain's indexing API
    calls `add_documents`), and only notes a deletion until the run is published (`delete`; see
    `purge`), so readers never see a file half replaced."""

    def __init__(self, *args: Any, records: SQLiteRecordManager, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._records = records
        self.terms_changed = False

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        self._records.mark_writing()  # before the vectors: a crash right after them is rolled back
        ids = super().add_documents(documents, **kwargs)
        self._records.put_terms(
            [(key, str(doc.metadata.get("source", "")), chunk_terms(doc)) for key, doc in zip(ids, documents, strict=True)]
        )
        self.terms_changed = True
        return ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> None:
        if ids:
            self._records.delete_keys(ids)
            self.terms_changed = True

    def purge(self, ids: Sequence[str]) -> None:
        """Really delete these vectors (after the commit that stopped readers from using them)."""
        for start in range(0, len(ids), 5000):
            super().delete(ids=list(ids[start : start + 5000]))


def build_snapshot(index_dir: Path, name: str, records: SQLiteRecordManager) -> int:
    """Write a bm25s index of every chunk in `records` to index_dir/bm25/<name>; returns its size.
    Written to a temporary folder first and renamed, so a reader never loads half of one."""
    bm25s = _bm25s()
    keys: list[str] = []
    sources: list[str] = []
    corpus: list[list[str]] = []
    pool: dict[str, str] = {}  # one string object per distinct term: halves the build's memory at 100k chunks
    for key, source, joined in records.iter_terms():
        keys.append(key)
        sources.append(source)
        corpus.append([pool.setdefault(term, term) for term in joined.split()] or ["\u2400"])  # one token at least
    final = index_dir / SNAPSHOT_DIR / name
    tmp = index_dir / SNAPSHOT_DIR / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if corpus:
        retriever = bm25s.BM25()
        retriever.index(corpus, show_progress=False)
        retriever.save(str(tmp), show_progress=False)
    (tmp / _IDS_FILE).write_text(json.dumps({"keys": keys, "sources": sources}), encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return len(keys)


def remove_snapshots(index_dir: Path, keep: Iterable[str]) -> None:
    """Delete snapshots no pointer names (readers that memory-mapped one keep their copy)."""
    folder = index_dir / SNAPSHOT_DIR
    if not folder.is_dir():
        return
    kept = set(keep)
    for path in folder.iterdir():
        if path.name not in kept:
            shutil.rmtree(path, ignore_errors=True)


class KeywordIndex:
    """A loaded snapshot: `search(query, k)` -> [(chunk key, BM25 score)]."""

    def __init__(self, path: Path) -> None:
        bm25s = _bm25s()
        listing = json.loads((path / _IDS_FILE).read_text(encoding="utf-8"))
        self.path = path
        self.keys: list[str] = listing["keys"]
        self.sources: list[str] = listing["sources"]
        self._bm25 = bm25s.BM25.load(str(path), mmap=True, show_progress=False) if self.keys else None
        self._masks: dict[tuple[str, ...], np.ndarray] = {}
        self._key_set: frozenset[str] | None = None

    @property
    def key_set(self) -> frozenset[str]:
        """The chunks published with this snapshot: the only ones a reader may return (the vector
        store may also hold a running ingest's unpublished chunks)."""
        if self._key_set is None:
            self._key_set = frozenset(self.keys)
        return self._key_set

    def __len__(self) -> int:
        return len(self.keys)

    def idf(self, words: Sequence[str]) -> dict[str, float]:
        """Inverse document frequency of each term over the chunks (unknown terms count as rare):
        weights for lexical overlap when scoring sentences."""
        total = max(len(self.keys), 1)
        weights: dict[str, float] = {}
        for word in words:
            token = self._bm25.vocab_dict.get(word) if self._bm25 is not None else None
            if token is None:
                frequency = 0
            else:
                indptr = self._bm25.scores["indptr"]
                frequency = int(indptr[token + 1] - indptr[token])
            weights[word] = math.log(1.0 + (total - frequency + 0.5) / (frequency + 0.5))
        return weights

    def _mask(self, sources: Sequence[str]) -> np.ndarray:
        wanted = tuple(sorted(sources))
        if wanted not in self._masks:
            allowed = set(wanted)
            self._masks[wanted] = np.array([source in allowed for source in self.sources], dtype=np.float32)
        return self._masks[wanted]

    def search(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        query_terms = terms(query)
        if self._bm25 is None or not query_terms or k <= 0:
            return []
        mask = self._mask(sources) if sources else None
        if mask is not None and not mask.any():
            return []
        found, scores = self._bm25.retrieve(
            [query_terms], k=min(k, len(self.keys)), show_progress=False, n_threads=1, weight_mask=mask
        )
        return [(self.keys[int(i)], float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0]
