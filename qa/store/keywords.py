"""Keyword search (BM25, via bm25s) kept beside the vector index.

The terms of every chunk live in the generation's record file (`chunk_terms`), written by the same
calls that add or delete the chunk's vector (see `vectors.StagedChroma`), so keyword search follows
the vectors incrementally and never re-reads the corpus. When the writer publishes, it builds a
bm25s snapshot from those terms into `index_dir/bm25/<name>/` and names it in index.json; readers
memory-map the snapshot the pointer names, so every process shares one copy on disk.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IndexStoreError
from ..text.terms import terms
from .records import SQLiteRecordManager

log = logging.getLogger(__name__)

SNAPSHOT_DIR = "bm25"
_LISTING_FILE = "ids.json"


@lru_cache(maxsize=1)
def _bm25s() -> Any:
    """bm25s, imported on first use; it sets its logger to DEBUG on import, so quiet it again."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


@dataclass(frozen=True)
class Listing:
    """What a snapshot holds, row by row: chunk keys and their sources. The keys are also the
    chunks published with it, the only ones a reader may return."""

    keys: list[str]
    sources: list[str]


def read_listing(folder: Path) -> Listing:
    """The listing of the snapshot in `folder` (the one reader of ids.json)."""
    path = folder / _LISTING_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Listing(list(data["keys"]), list(data["sources"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexStoreError(
            f"the keyword index {folder} is unreadable ({exc}); run: python -m qa check --repair"
        ) from exc


def published_keys(index_dir: Path, snapshot: str) -> set[str] | None:
    """The chunks the named snapshot lists (None when the pointer names none)."""
    return set(read_listing(index_dir / SNAPSHOT_DIR / snapshot).keys) if snapshot else None


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
    (tmp / _LISTING_FILE).write_text(json.dumps({"keys": keys, "sources": sources}), encoding="utf-8")
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
        listing = read_listing(path)
        self.path = path
        self.keys: list[str] = listing.keys
        self.sources: list[str] = listing.sources
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
