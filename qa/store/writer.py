"""The one writer of an index folder: opens the live generation for incremental writes, or a new
one for a rebuild, publishes with `commit()`, and on opening finishes or undoes a run that died
(see the package docstring for the protocol)."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from chromadb.errors import ChromaError, NotFoundError

from ..config import Settings
from ..embeddings import Embedder
from ..errors import IndexStoreError, QAError
from .chroma import COLLECTION_PREFIX, all_ids, close_client, open_client
from .failures import STORE_ERRORS
from .keywords import build_snapshot, published_keys, remove_snapshots
from .lock import WriteLock
from .pointer import POINTER, IndexState, check_model, index_id, now, read_state, with_format, write_state
from .records import SQLiteRecordManager
from .vectors import StagedChroma, term_rows

log = logging.getLogger(__name__)


class IndexWriter:
    """Opens the live generation for incremental writes, or a new one for a rebuild; `commit()`
    publishes the work. Use as a context manager: it holds the write lock throughout."""

    def __init__(self, settings: Settings, embeddings: Embedder, rebuild: bool = False) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.rebuild = rebuild
        self.index_dir = settings.index_dir
        self._lock = WriteLock(self.index_dir, settings.lock_timeout_s)
        self.previous: IndexState | None = None
        self.state: IndexState | None = None
        self.new_generation = False  # writing a generation no pointer names yet (first ingest, rebuild)
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
            self.new_generation = False
        else:
            generation = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
            self.state = IndexState(
                generation=generation,
                collection=COLLECTION_PREFIX + generation,
                records=f"records-{generation}.sqlite",
                embedding_model=self.embeddings.name,
                dimension=self.embeddings.dimension,
                tokenizer=self.settings.tokenizer,
                chunk_tokens=self.settings.chunk_tokens,
                chunk_overlap=self.settings.chunk_overlap,
                created=now(),
                updated=now(),
                embedding_backend=self.embeddings.backend,
                chunk_embedding=self.settings.chunk_embedding,
            )
            self.new_generation = True
        self.records = SQLiteRecordManager(self.index_dir / self.state.records)
        self.records.create_schema()
        if not self.new_generation:
            self.known_roots = self.records.roots()
        self.collection = self._get_collection(create=self.new_generation)
        self.vector_store = StagedChroma(
            client=self.client,
            collection_name=self.state.collection,
            embedder=self.embeddings,
            whole_chunks=self.state.chunk_embedding == "whole",
            state=self.state,
            records=self.records,
        )
        if not self.new_generation:
            self._recover()
        if not self.new_generation and not self.state.bm25:
            self._backfill_terms()

    def _backfill_terms(self) -> None:
        """An index written before keyword search existed: take its chunks' terms from the store
        once, so the next commit publishes a keyword index for it."""
        assert self.records is not None
        if self.records.count_terms() >= self.count():
            return
        log.info("adding keyword-search terms to an index built without them")
        offset, page = 0, 1000
        while True:
            batch = self.collection.get(include=["documents", "metadatas"], limit=page, offset=offset)
            if not batch["ids"]:
                break
            self.records.put_terms(term_rows(batch))
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
        live = published_keys(self.index_dir, self.state.bm25)
        if live is None:  # an index from before keyword snapshots: nothing was held back
            self.records.forget_journal()
            return
        vectors = all_ids(self.collection)
        unpublished = (vectors | set(self.records.list_keys())) - live
        files = self.records.groups_of(sorted(unpublished | set(self.records.doomed("chunk"))))
        if not unpublished and not files:
            self.records.forget_journal()
            self.records.prune_sentences()  # links the dead run wrote before any vector
            return
        self.vector_store.purge(sorted(vectors - live))
        self.records.discard(sorted(unpublished))
        self.records.invalidate_files(sorted(files))
        self.records.forget_journal()
        self.records.prune_sentences()  # what the dead run linked to chunks it never recorded
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
            if not collection.name.startswith(COLLECTION_PREFIX) or collection.name == live:
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
        self.state = replace(self.state, updated=now(), version=version, bm25=bm25)
        if self.vector_store.texts_embedded:
            self.state = replace(
                self.state,
                embedding_dtype=with_format(self.state.embedding_dtype, self.embeddings.dtype),
                embedding_backend=self.embeddings.backend,
            )
        write_state(self.index_dir, self.state)  # the commit point
        self.vector_store.purge(doomed)
        self.records.finish(run_continues=not final)
        remove_snapshots(self.index_dir, keep=[bm25])
        if self.new_generation:  # the new generation is live now: the old one goes
            self.new_generation = False
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
            close_client(self.client)
            self.client = None
        self._lock.__exit__(None, None, None)

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        try:
            if exc_type is not None and self.state is not None and self.client is not None:
                if self.new_generation:
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
