"""The reader of the live generation: nearest chunks, chunks by key, and the keyword index the
pointer names. It follows other processes' commits, and only returns published chunks."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from chromadb.errors import NotFoundError

from ..config import COLLECTION_FILE, DEFAULT_COLLECTION, Settings
from ..embeddings import Embedder, embedder
from ..errors import IndexMismatch, IndexMissing, IndexStoreError
from ..types import Passage
from .chroma import close_client, open_client, stored_passage
from .failures import STORE_ERRORS, describe_store_error, store_errors
from .keywords import SNAPSHOT_DIR, KeywordIndex
from .pointer import IndexState, check_model, read_state
from .sentences import read_vectors, sentence_hash

log = logging.getLogger(__name__)


class IndexReader:
    """Queries the live generation. Picks up commits of other processes: a new pointer version
    reopens the store, because Chroma keeps a process's vector index in memory. Safe to share
    between threads (the app's concurrent answers): store access is serialised, which costs
    little next to embedding the question."""

    def __init__(self, settings: Settings, embeddings: Embedder | None = None) -> None:
        self.settings = settings
        self.embeddings = embeddings or embedder(settings)
        self._lock = threading.RLock()
        self.state: IndexState | None = None
        self._client: Any = None
        self._collection: Any = None
        self._keywords: KeywordIndex | None = None
        self._sentences: sqlite3.Connection | None = None  # the live record file, read-only
        with store_errors("opening the index", settings.index_dir):
            self._refresh()

    def _refresh(self) -> None:
        with self._lock:
            self._reopen_if_changed()

    def _reopen_if_changed(self) -> None:
        state = read_state(self.settings.index_dir)
        if state is None:
            name = self.settings.collection
            if name != DEFAULT_COLLECTION and not (self.settings.index_dir.parent / COLLECTION_FILE).is_file():
                raise IndexMissing(f"collection {name!r} does not exist (any more): `qa collections` lists them")
            raise IndexMissing(f"no index in {self.settings.index_dir}; build it with: python ingest.py [PATH ...]")
        if state == self.state and self._collection is not None:
            return
        check_model(state, self.embeddings)
        if self._client is not None:
            close_client(self._client)
        self._close_sentences()
        self._client = open_client(self.settings)
        try:
            self._collection = self._client.get_collection(state.collection, embedding_function=None)
        except NotFoundError as exc:
            # A rebuild may have switched and dropped this generation since we read the pointer.
            newer = read_state(self.settings.index_dir)
            if newer is None or newer == state:
                raise IndexStoreError(f"collection {state.collection} is missing; rebuild the index") from exc
            state = newer
            self._collection = self._client.get_collection(state.collection, embedding_function=None)
        self.state = state

    def count(self) -> int:
        """Published chunks (the store may also hold a running ingest's)."""
        keywords = self.keyword_index()
        if keywords is not None:
            return len(keywords)
        with store_errors("reading the index", self.settings.index_dir):
            self._refresh()
            return int(self._collection.count())

    def _read(self, action: str, call: Any) -> Any:
        """Run `call(collection)`, retrying once when a rebuild switched generations between our
        pointer read and the call."""
        for attempt in (1, 2):
            with self._lock:
                with store_errors("reading the index", self.settings.index_dir):
                    self._refresh()
                try:
                    return call(self._collection)
                except STORE_ERRORS as exc:
                    if attempt == 2:
                        raise IndexStoreError(
                            f"{action} failed: {describe_store_error(exc, self.settings.index_dir)}"
                        ) from exc
                    self.state = None
        raise AssertionError("unreachable")

    def nearest(
        self, vector: Sequence[float], k: int, sources: Sequence[str] | None = None
    ) -> list[tuple[Passage, np.ndarray]]:
        """The k published chunks nearest to `vector` (optionally only from `sources`), with their
        vectors. Chunks a running ingest has written but not published are skipped, asking
        Chroma for more when they crowd the top."""
        where: dict[str, Any] | None = None
        if sources:
            where = {"source": sources[0]} if len(sources) == 1 else {"source": {"$in": list(sources)}}
        keywords = self.keyword_index()  # follows the pointer: self.state is current
        assert self.state is not None
        if len(vector) != self.state.dimension:
            raise IndexMismatch(
                f"the question's vector has {len(vector)} dimensions, the index's {self.state.dimension}: "
                f"the embedder ({self.embeddings.backend}) serves another model than {self.state.embedding_model!r}"
            )
        published = keywords.key_set if keywords is not None else None
        wanted = k
        while True:
            result = self._read(
                "query",
                lambda collection, n=wanted: collection.query(
                    query_embeddings=[list(vector)],
                    n_results=n,
                    where=where,
                    include=["documents", "metadatas", "distances", "embeddings"],
                ),
            )
            rows = list(
                zip(
                    result["ids"][0],
                    result["documents"][0],
                    result["metadatas"][0],
                    result["distances"][0],
                    result["embeddings"][0],
                    strict=True,
                )
            )
            kept = [row for row in rows if published is None or row[0] in published]
            if len(kept) >= k or len(rows) < wanted or wanted >= 10 * k + 1000:
                break
            wanted *= 4
        return [
            (
                stored_passage(key, text, meta, 1.0 - float(distance), self.settings.collection),
                np.asarray(vec, dtype=np.float32),
            )
            for key, text, meta, distance, vec in kept[:k]
        ]

    def fetch(self, keys: Sequence[str]) -> dict[str, tuple[Passage, np.ndarray]]:
        """Chunks by key, with their vectors (keys no longer in the index are left out)."""
        if not keys:
            return {}
        result = self._read(
            "get", lambda collection: collection.get(ids=list(keys), include=["documents", "metadatas", "embeddings"])
        )
        return {
            key: (stored_passage(key, text, meta, 0.0, self.settings.collection), np.asarray(vec, dtype=np.float32))
            for key, text, meta, vec in zip(
                result["ids"], result["documents"], result["metadatas"], result["embeddings"], strict=True
            )
        }

    def document_passages(self, source: str) -> list[Passage]:
        """Every published chunk of one file, in the file's order (the MCP server's resources)."""
        keywords = self.keyword_index()
        published = keywords.key_set if keywords is not None else None
        result = self._read(
            "get", lambda collection: collection.get(where={"source": source}, include=["documents", "metadatas"])
        )
        passages = [
            stored_passage(key, text, meta, 0.0, self.settings.collection)
            for key, text, meta in zip(result["ids"], result["documents"], result["metadatas"], strict=True)
            if published is None or key in published
        ]
        return sorted(passages, key=lambda passage: (passage.start, passage.end))

    def keyword_index(self) -> KeywordIndex | None:
        """The keyword index the live pointer names, loaded once per version (None for an index
        published before keyword search existed: the next ingest adds it)."""
        with self._lock:
            while True:
                with store_errors("reading the index", self.settings.index_dir):
                    self._refresh()
                assert self.state is not None
                if not self.state.bm25:
                    return None
                if self._keywords is not None and self._keywords.path.name == self.state.bm25:
                    return self._keywords
                path = self.settings.index_dir / SNAPSHOT_DIR / self.state.bm25
                try:
                    self._keywords = KeywordIndex(path)
                    return self._keywords
                except (OSError, ValueError, IndexStoreError) as exc:
                    # A writer removes a snapshot only once a newer pointer names another: the
                    # pointer read just before may be that old one. Then the newer one is read.
                    if read_state(self.settings.index_dir) != self.state:
                        continue
                    log.warning("keyword index %s unreadable (%s); using vector search alone", path, exc)
                    return None

    def sentence_vectors(self, sentences: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these sentence texts (those not stored are left out: an index
        built before sentence vectors, or text split differently since)."""
        if not sentences:
            return {}
        hashes = {sentence_hash(text): text for text in sentences}
        with self._lock:
            with store_errors("reading the index", self.settings.index_dir):
                self._refresh()
                assert self.state is not None
                try:
                    if self._sentences is None:
                        path = self.settings.index_dir / self.state.records
                        self._sentences = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
                    found = read_vectors(self._sentences, list(hashes), self.state.dimension)
                except sqlite3.OperationalError as exc:  # no such table: an index from before them
                    log.debug("no sentence vectors in %s: %s", self.state.records, exc)
                    self._close_sentences()
                    return {}
        return {hashes[digest]: vector for digest, vector in found.items()}

    def _close_sentences(self) -> None:
        if self._sentences is not None:
            self._sentences.close()
            self._sentences = None

    def search(self, query: str, k: int = 4) -> list[Passage]:
        """The k chunks nearest to `query` by embedding alone (qa.answering.retrieval does hybrid)."""
        vector = self.embeddings.embed_query(query)
        return [passage for passage, _ in self.nearest(vector, k)]

    def close(self) -> None:
        self._close_sentences()
        if self._client is not None:
            close_client(self._client)
            self._client = None
