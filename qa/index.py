"""The index on disk: Chroma collections, the record manager, and the pointer that names the live
generation.

Layout of `index_dir`:
    index.json              the pointer: live collection, records file, embedding model, version
    index-id                random id of this index (marks its collections on a shared server)
    chroma/                 the embedded Chroma store (absent in server mode)
    records-<gen>.sqlite    record manager, file manifest and chunk terms of generation <gen>
    bm25/<gen>-v<n>/        the keyword index (bm25s) published with pointer version n
    write.lock              held by the one writer

A rebuild (and the very first ingest) writes a new generation beside the live one and switches
by atomically replacing index.json, so a crash at any moment leaves the previous index answering.
Leftovers of a crashed run are removed by the next writer.

An incremental run writes into the live generation, but publishes like a rebuild: readers only
return chunks listed in the keyword snapshot the pointer names, and the deletions of a run (a
changed file's old chunks, a removed file) are journaled and carried out only after the commit
that publishes it. So at every moment, crash or not, each file is seen wholly in its old version
or wholly in its new one. A run that dies is rolled back by the next writer (its unpublished
chunks deleted, its files read again), or rolled forward if it died just after its commit.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
import httpx
import numpy as np
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError, NotFoundError

from .bm25 import SNAPSHOT_DIR, KeywordIndex, TermTrackingChroma, build_snapshot, chunk_terms, remove_snapshots
from .config import Settings
from .embeddings import SentenceEmbeddings, resolve_model
from .errors import ConfigError, IndexBusy, IndexMismatch, IndexMissing, IndexStoreError, QAError
from .records import SQLiteRecordManager
from .types import Passage

log = logging.getLogger(__name__)

POINTER = "index.json"
FORMAT = 1
_COLLECTION_PREFIX = "qa-"


# What the store's layers raise when the disk, the database or the server fails.
STORE_ERRORS = (ChromaError, httpx.HTTPError, sqlite3.Error, OSError)


_DISK_FULL = ("no space left", "disk is full", "database or disk is full", "disk quota")
_READ_ONLY = ("read-only file system", "readonly database", "permission denied", "read-only database")


LOW_SPACE_BYTES = 64_000_000


def _free_bytes(folder: Path | None) -> int | None:
    try:
        return shutil.disk_usage(folder).free if folder is not None and folder.exists() else None
    except OSError:
        return None


def describe_store_error(exc: BaseException, index_dir: Path | None = None) -> str:
    """One line a user can act on: full disk and read-only folders named as such (SQLite and
    Chroma report them in their own words, Chroma's compactor sometimes without saying why, so
    the free space is looked at too)."""
    text = f"{type(exc).__name__}: {exc}"
    number = getattr(exc, "errno", None)
    lowered = text.lower()
    free = _free_bytes(index_dir)
    if (
        number in (errno.ENOSPC, errno.EDQUOT)
        or any(words in lowered for words in _DISK_FULL)
        or (free is not None and free < LOW_SPACE_BYTES)
    ):
        left = f"{free / 1e6:.1f} MB free" if free is not None else "no space left"
        return f"the disk holding the index is full ({left}; {text}); free some space and run again"
    if number in (errno.EACCES, errno.EPERM, errno.EROFS) or any(words in lowered for words in _READ_ONLY):
        return f"the index folder is not writable ({text})"
    return text


@contextmanager
def store_errors(action: str, index_dir: Path | None = None) -> Iterator[None]:
    """Turn a storage failure into IndexStoreError, so edges show one line, not a traceback."""
    try:
        yield
    except QAError:
        raise
    except STORE_ERRORS as exc:
        raise IndexStoreError(f"{action} failed: {describe_store_error(exc, index_dir)}") from exc


@dataclass(frozen=True)
class IndexState:
    """What index.json says about the live generation."""

    generation: str
    collection: str
    records: str
    embedding_model: str
    dimension: int
    tokenizer: str
    chunk_tokens: int
    chunk_overlap: int
    created: str
    updated: str
    version: int = 0
    format: int = FORMAT
    bm25: str = ""  # folder under bm25/ holding the keyword index of this version ("" = none yet)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_state(index_dir: Path) -> IndexState | None:
    """The live generation, or None when no index has been committed yet."""
    try:
        raw = (index_dir / POINTER).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IndexStoreError(f"cannot read {index_dir / POINTER}: {exc}") from exc
    try:
        data = json.loads(raw)
        known = {field.name for field in fields(IndexState)}
        return IndexState(**{key: value for key, value in data.items() if key in known})
    except (ValueError, TypeError) as exc:
        raise IndexStoreError(f"{index_dir / POINTER} is damaged ({exc}); rebuild with: python ingest.py --rebuild") from exc


def write_state(index_dir: Path, state: IndexState) -> None:
    """Replace index.json atomically: readers see the old pointer or the new one, never half."""
    tmp = index_dir / f".{POINTER}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(asdict(state), handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / POINTER)
    dir_fd = os.open(index_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def published_keys(index_dir: Path, state: IndexState) -> set[str] | None:
    """The chunks the pointer's keyword snapshot lists (None when it names none)."""
    if not state.bm25:
        return None
    listing = index_dir / SNAPSHOT_DIR / state.bm25 / "ids.json"
    try:
        return set(json.loads(listing.read_text(encoding="utf-8"))["keys"])
    except (OSError, ValueError, KeyError) as exc:
        raise IndexStoreError(f"the keyword index {listing.parent} is unreadable ({exc}); run: python -m qa check --repair") from exc


def all_ids(collection: Any) -> set[str]:
    """Every id in a Chroma collection, a page at a time."""
    ids: set[str] = set()
    offset, page = 0, 5000
    while True:
        batch = collection.get(include=[], limit=page, offset=offset)
        if not batch["ids"]:
            return ids
        ids.update(batch["ids"])
        offset += len(batch["ids"])


def index_id(index_dir: Path) -> str:
    """A random id for this index folder, created once; tags its collections on a shared server."""
    path = index_dir / "index-id"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        value = secrets.token_hex(8)
        path.write_text(value, encoding="utf-8")
        return value


def open_client(settings: Settings) -> Any:
    """A Chroma client with telemetry off: embedded under index_dir, or a server via chroma_url."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.chroma_url:
            url = urlparse(settings.chroma_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ConfigError(f"QA_CHROMA_URL must look like http://host:port, got {settings.chroma_url!r}")
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        return chromadb.PersistentClient(path=str(settings.index_dir / "chroma"), settings=chroma_settings)
    except (ChromaError, ValueError, OSError) as exc:
        where = settings.chroma_url or str(settings.index_dir)
        reason = describe_store_error(exc, None if settings.chroma_url else settings.index_dir)
        if reason.startswith("the index folder is not writable"):
            reason += "; Chroma writes to its folder even to read: give write access or copy the index"
        raise IndexStoreError(f"cannot open the Chroma store at {where}: {reason}") from exc


def _passage(key: str, text: str | None, meta: Any, score: float) -> Passage:
    meta = meta or {}
    return Passage(
        chunk_id=key,
        text=text or "",
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        page=int(meta["page"]) if "page" in meta else None,
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        score=score,
        date=str(meta["modified"]) if "modified" in meta else None,
    )


def _close_client(client: Any) -> None:
    close = getattr(client, "close", None)
    if close is not None:
        close()


class WriteLock:
    """One writer per index folder (fcntl lock; released by the kernel if the process dies)."""

    def __init__(self, index_dir: Path, timeout_s: float) -> None:
        self.path = index_dir / "write.lock"
        self.timeout_s = timeout_s
        self._fd: int | None = None

    def __enter__(self) -> WriteLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                    os.close(fd)
                    raise IndexBusy(
                        f"another ingest is writing to {self.path.parent} (waited {self.timeout_s:.0f} s, "
                        "QA_LOCK_TIMEOUT_S)"
                    ) from exc
                time.sleep(0.2)
        self._fd = fd
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def check_model(state: IndexState, embeddings: SentenceEmbeddings) -> None:
    """Refuse to mix vectors of two models (peers crash later with a dimension mismatch)."""
    if state.embedding_model != embeddings.name:
        raise IndexMismatch(
            f"the index was built with embedding model {state.embedding_model!r} but "
            f"QA_EMBEDDING_MODEL is {embeddings.name!r}; rebuild it with: python ingest.py --rebuild "
            f"(or set QA_EMBEDDING_MODEL back)"
        )


class IndexWriter:
    """Opens the live generation for incremental writes, or a new one for a rebuild; `commit()`
    publishes the work. Use as a context manager: it holds the write lock throughout."""

    def __init__(self, settings: Settings, embeddings: SentenceEmbeddings, rebuild: bool = False) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.rebuild = rebuild
        self.index_dir = settings.index_dir
        self._lock = WriteLock(self.index_dir, settings.lock_timeout_s)
        self.previous: IndexState | None = None
        self.state: IndexState | None = None
        self.fresh = False
        self.client: Any = None
        self.records: SQLiteRecordManager | None = None
        self.collection: Any = None
        self.vector_store: Any = None
        self.known_roots: list[str] = []
        self.previous_count = 0
        self._bm25_built_at = time.monotonic()  # the live keyword index is current when a run starts
        self._bm25_build_s = 0.0

    def __enter__(self) -> IndexWriter:
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IndexStoreError(f"cannot create the index folder {self.index_dir}: {exc}") from exc
        self._lock.__enter__()
        try:
            self._open()
        except BaseException:
            self._release()
            raise
        return self

    def _open(self) -> None:
        try:
            self.previous = read_state(self.index_dir)
        except IndexStoreError:
            if not self.rebuild:
                raise
            log.warning("%s is damaged; rebuilding from scratch", self.index_dir / POINTER)
            self.previous = None
        self.client = open_client(self.settings)
        self._remove_leftovers()
        if self.previous is not None and self.rebuild:
            self._inspect_previous(self.previous)
        if self.previous is not None and not self.rebuild:
            check_model(self.previous, self.embeddings)
            self.state = self.previous
            self.fresh = False
        else:
            generation = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
            self.state = IndexState(
                generation=generation,
                collection=_COLLECTION_PREFIX + generation,
                records=f"records-{generation}.sqlite",
                embedding_model=self.embeddings.name,
                dimension=self.embeddings.dimension,
                tokenizer=self.settings.tokenizer,
                chunk_tokens=self.settings.chunk_tokens,
                chunk_overlap=self.settings.chunk_overlap,
                created=_now(),
                updated=_now(),
            )
            self.fresh = True
        self.records = SQLiteRecordManager(self.index_dir / self.state.records)
        self.records.create_schema()
        if not self.fresh:
            self.known_roots = self.records.roots()
        self.collection = self._get_collection(create=self.fresh)
        self.vector_store = TermTrackingChroma(
            client=self.client,
            collection_name=self.state.collection,
            embedding_function=self.embeddings,
            records=self.records,
        )
        if not self.fresh:
            self._recover()
        if not self.fresh and not self.state.bm25:
            self._backfill_terms()

    def _backfill_terms(self) -> None:
        """An index written before keyword search existed: take its chunks' terms from the store
        once, so the next commit publishes a keyword index for it."""
        from langchain_core.documents import Document

        assert self.records is not None
        if self.records.count_terms() >= self.count():
            return
        log.info("adding keyword-search terms to an index built without them")
        offset, page = 0, 1000
        while True:
            batch = self.collection.get(include=["documents", "metadatas"], limit=page, offset=offset)
            if not batch["ids"]:
                break
            rows = []
            for key, text, meta in zip(batch["ids"], batch["documents"], batch["metadatas"], strict=True):
                document = Document(page_content=text or "", metadata=dict(meta or {}))
                rows.append((key, str(document.metadata.get("source", "")), chunk_terms(document)))
            self.records.put_terms(rows)
            offset += len(batch["ids"])
        self.vector_store.terms_changed = True

    def _recover(self) -> None:
        """Finish or undo a run that ended without publishing (killed, or failed)."""
        assert self.records is not None and self.state is not None
        publishing = self.records.get_run_state("publishing")
        if publishing is not None and self.state.version >= int(publishing):
            doomed = self.records.doomed("chunk")
            log.warning("completing an interrupted commit: deleting %d replaced chunks", len(doomed))
            self.vector_store.purge(doomed)
            self.records.finish(run_continues=False)
        elif publishing is not None or self.records.get_run_state("writing") is not None:
            self.rollback()

    def rollback(self) -> None:
        """Undo what this generation holds beyond its last commit: chunks no published snapshot
        lists are deleted, journaled deletions are forgotten, and the files involved are read
        again by the next run (it re-embeds nothing that is still stored)."""
        assert self.records is not None and self.state is not None
        live = published_keys(self.index_dir, self.state)
        if live is None:  # an index from before keyword snapshots: nothing was held back
            self.records.forget_journal()
            return
        vectors = all_ids(self.collection)
        unpublished = (vectors | set(self.records.list_keys())) - live
        files = self.records.groups_of(sorted(unpublished | set(self.records.doomed("chunk"))))
        if not unpublished and not files:
            self.records.forget_journal()
            return
        self.vector_store.purge(sorted(vectors - live))
        self.records.discard(sorted(unpublished))
        self.records.invalidate_files(sorted(files))
        self.records.forget_journal()
        log.warning(
            "rolled back an unfinished ingest: %d unpublished chunks removed, %d file(s) to read again",
            len(unpublished),
            len(files),
        )

    def _inspect_previous(self, previous: IndexState) -> None:
        """What a rebuild needs from the generation it replaces: its folders and its size."""
        previous_records = SQLiteRecordManager(self.index_dir / previous.records)
        try:
            previous_records.create_schema()
            self.known_roots = previous_records.roots()
        finally:
            previous_records.close()
        try:
            self.previous_count = int(self.client.get_collection(previous.collection, embedding_function=None).count())
        except NotFoundError:
            self.previous_count = 0

    def _get_collection(self, create: bool) -> Any:
        assert self.state is not None
        try:
            if create:
                return self.client.create_collection(
                    name=self.state.collection,
                    embedding_function=None,
                    metadata={
                        "hnsw:space": "cosine",
                        "embedding_model": self.state.embedding_model,
                        "dimension": self.state.dimension,
                        "index_id": index_id(self.index_dir),
                    },
                )
            return self.client.get_collection(name=self.state.collection, embedding_function=None)
        except NotFoundError as exc:
            raise IndexStoreError(
                f"collection {self.state.collection} named by {self.index_dir / POINTER} is missing from the "
                "store; rebuild with: python ingest.py --rebuild"
            ) from exc
        except ChromaError as exc:
            raise IndexStoreError(f"Chroma failed: {exc}") from exc

    def _remove_leftovers(self) -> None:
        """Delete generations of this index that no pointer names (a crashed rebuild's)."""
        live = self.previous.collection if self.previous else None
        live_records = self.previous.records if self.previous else None
        ours = index_id(self.index_dir)
        for collection in self.client.list_collections():
            if not collection.name.startswith(_COLLECTION_PREFIX) or collection.name == live:
                continue
            if (collection.metadata or {}).get("index_id") != ours:
                continue  # another index's collection on a shared server
            log.info("removing leftover collection %s", collection.name)
            try:
                self.client.delete_collection(collection.name)
            except NotFoundError:
                pass
        for path in self.index_dir.glob("records-*.sqlite*"):
            if live_records is None or not path.name.startswith(live_records):
                log.info("removing leftover record file %s", path.name)
                path.unlink(missing_ok=True)
        remove_snapshots(self.index_dir, keep=[self.previous.bm25] if self.previous else [])

    def count(self) -> int:
        return int(self.collection.count())

    def commit(self, final: bool = True) -> IndexState:
        """Publish what was written: switch to a fresh generation, or bump the live one's version.

        The keyword snapshot (which also lists the chunks readers may return) is rebuilt from the
        recorded terms when anything changed. A commit in the middle of a run (`final=False`)
        happens only if the last one is at least `publish_every_s` (QA_PUBLISH_EVERY_S) and ten
        times its keyword-index build old, so a long ingest into a large index does not spend its time rebuilding."""
        assert self.state is not None and self.records is not None
        doomed = self.records.doomed("chunk")
        changed = self.vector_store.terms_changed or bool(doomed) or not self.state.bm25
        if not final:
            wait = max(self.settings.publish_every_s, 10 * self._bm25_build_s)
            if not changed or time.monotonic() - self._bm25_built_at < wait:
                return self.state
        version = self.state.version + 1
        bm25 = self.state.bm25
        if changed:
            bm25 = f"{self.state.generation}-v{version}"
            started = time.perf_counter()
            size = build_snapshot(self.index_dir, bm25, self.records)
            self._bm25_build_s = time.perf_counter() - started
            log.info("keyword index of %d chunks built in %.2f s", size, self._bm25_build_s)
            self.vector_store.terms_changed = False
            self._bm25_built_at = time.monotonic()
        self.records.set_run_state("publishing", str(version))
        self.state = replace(self.state, updated=_now(), version=version, bm25=bm25)
        write_state(self.index_dir, self.state)  # the commit point
        self.vector_store.purge(doomed)
        self.records.finish(run_continues=not final)
        remove_snapshots(self.index_dir, keep=[bm25])
        if self.fresh:  # the new generation is live now: the old one goes
            self.fresh = False
            if self.previous is not None and self.previous.collection != self.state.collection:
                self._drop(self.previous)
                self.previous = None
        return self.state

    def _drop(self, old: IndexState) -> None:
        try:
            self.client.delete_collection(old.collection)
        except (NotFoundError, ValueError):
            pass
        for path in self.index_dir.glob(old.records + "*"):
            path.unlink(missing_ok=True)

    def _release(self) -> None:
        if self.records is not None:
            self.records.close()
            self.records = None
        if self.client is not None:
            _close_client(self.client)
            self.client = None
        self._lock.__exit__(None, None, None)

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        try:
            if exc_type is not None and self.state is not None and self.client is not None:
                if self.fresh:
                    self._drop_unpublished(self.state)
                elif self.records is not None:
                    self._rollback_quietly()
        finally:
            self._release()

    def _rollback_quietly(self) -> None:
        """A failed incremental run leaves the index as its last commit (the next writer would
        roll back anyway; doing it now frees the space and keeps `qa check` clean)."""
        try:
            self.rollback()
        except (QAError, *STORE_ERRORS) as exc:  # keep the first error; the next writer retries
            log.warning("could not roll back the unfinished ingest now: %s", exc)

    def _drop_unpublished(self, state: IndexState) -> None:
        """Remove a generation that failed before it was published (never the live one)."""
        try:
            live = read_state(self.index_dir)
            if live is None or live.collection != state.collection:
                self._drop(state)
        except (QAError, *STORE_ERRORS) as exc:  # the next writer cleans up; keep the first error
            log.warning("could not remove the unfinished generation %s: %s", state.generation, exc)


class IndexReader:
    """Queries the live generation. Picks up commits of other processes: a new pointer version
    reopens the store, because Chroma keeps a process's vector index in memory. Safe to share
    between threads (the app's concurrent answers): store access is serialised, which costs
    little next to embedding the question."""

    def __init__(self, settings: Settings, embeddings: SentenceEmbeddings | None = None) -> None:
        self.settings = settings
        self.embeddings = embeddings or SentenceEmbeddings.from_settings(settings)
        self._lock = threading.RLock()
        self.state: IndexState | None = None
        self._client: Any = None
        self._collection: Any = None
        self._keywords: KeywordIndex | None = None
        with store_errors("opening the index", settings.index_dir):
            self._refresh()

    def _refresh(self) -> None:
        with self._lock:
            self._reopen_if_changed()

    def _reopen_if_changed(self) -> None:
        state = read_state(self.settings.index_dir)
        if state is None:
            raise IndexMissing(
                f"no index in {self.settings.index_dir}; build it with: python ingest.py [PATH ...]"
            )
        if state == self.state and self._collection is not None:
            return
        if resolve_model(self.settings.embedding_model).name != state.embedding_model:
            check_model(state, self.embeddings)
        if self._client is not None:
            _close_client(self._client)
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
        keywords = self.keyword_index()
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
            (_passage(key, text, meta, 1.0 - float(distance)), np.asarray(vec, dtype=np.float32))
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
            key: (_passage(key, text, meta, 0.0), np.asarray(vec, dtype=np.float32))
            for key, text, meta, vec in zip(
                result["ids"], result["documents"], result["metadatas"], result["embeddings"], strict=True
            )
        }

    def keyword_index(self) -> KeywordIndex | None:
        """The keyword index the live pointer names, loaded once per version (None for an index
        published before keyword search existed: the next ingest adds it)."""
        with self._lock:
            with store_errors("reading the index", self.settings.index_dir):
                self._refresh()
            assert self.state is not None
            if not self.state.bm25:
                return None
            if self._keywords is None or self._keywords.path.name != self.state.bm25:
                path = self.settings.index_dir / SNAPSHOT_DIR / self.state.bm25
                try:
                    self._keywords = KeywordIndex(path)
                except (OSError, ValueError) as exc:
                    log.warning("keyword index %s unreadable (%s); using vector search alone", path, exc)
                    return None
            return self._keywords

    def search(self, query: str, k: int = 4) -> list[Passage]:
        """The k chunks nearest to `query` by embedding alone (see retrieval.py for hybrid)."""
        vector = self.embeddings.embed_query(query)
        return [passage for passage, _ in self.nearest(vector, k)]

    def close(self) -> None:
        if self._client is not None:
            _close_client(self._client)
            self._client = None
