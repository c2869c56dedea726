"""`ingest(paths, settings)`: files -> text -> chunks -> vectors in the index, incrementally.

Unchanged files are recognised from the manifest (size + mtime, then sha256) and cost nothing;
changed files go through LangChain's indexing API, which skips chunks already stored and removes
the file's stale chunks; files gone from an ingested folder leave the index. A rebuild writes a
new generation and switches to it only when complete (see qa.store).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.indexing import index as langchain_index
from tqdm import tqdm

from ..config import Settings
from ..embeddings import Embedder, embedder
from ..errors import IndexStoreError, IngestError
from ..store.failures import store_errors
from ..store.records import FileRecord, SQLiteRecordManager
from ..store.writer import IndexWriter
from ..types import IngestReport, Progress, Skipped
from .chunking import Chunker
from .discovery import FoundFile, discover
from .documents import PreparedFile, chunk_key, prefetched, prepare_file
from .extracted import ReadOptions

log = logging.getLogger(__name__)


@dataclass
class QueuedFile:
    """A changed or new file, chunked, waiting for its batch to be written."""

    record: FileRecord
    documents: list[Document]
    is_new: bool


class IngestRun:
    """State of one ingest run; methods are its steps."""

    def __init__(self, writer: IndexWriter, settings: Settings, strict: bool) -> None:
        self.writer = writer
        self.settings = settings
        self.strict = strict
        self.records: SQLiteRecordManager = writer.records  # type: ignore[assignment]
        self.report = IngestReport(embedding_model=writer.embeddings.name, index_dir=str(settings.index_dir))
        self.chunker = Chunker(settings.chunk_tokens, settings.chunk_overlap, settings.tokenizer)
        self.pending: list[QueuedFile] = []
        self.pending_chunks = 0
        self.chunk_bar: tqdm | None = None
        self.on_progress: Callable[[Progress], None] | None = None
        self.files_done = 0
        self.files_total = 0

    def report_progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(Progress(self.files_done, self.files_total, self.report.chunks_added))

    def skip(self, path: str, reason: str) -> None:
        if self.strict:
            raise IngestError(path, reason)
        log.warning("skipped %s: %s", path, reason)
        self.report.skipped.append(Skipped(path, reason))

    def accept(self, prepared: PreparedFile) -> None:
        """Take one prepared file: count it, record it, or queue its chunks for the next batch."""
        found = prepared.found
        if prepared.failure is not None:
            self.skip(found.source, prepared.failure)
            return
        if prepared.record is None:  # same size and mtime as recorded
            self.report.files_unchanged += 1
            return
        if prepared.documents is None:  # touched, same content
            self.records.put_files([prepared.record])
            self.report.files_unchanged += 1
            return
        for warning in prepared.warnings:
            log.warning("%s: %s", found.source, warning)
            self.report.warnings.append(Skipped(found.source, warning))
        documents = prepared.documents
        self.pending.append(QueuedFile(replace(prepared.record, chunks=len(documents)), documents, prepared.is_new))
        self.pending_chunks += len(documents)
        if self.pending_chunks >= self.settings.index_batch_size:
            self.flush()

    def flush(self, final: bool = False) -> None:
        """Embed and write the pending files' chunks, then record the files as done. `final`: the
        run's commit follows at once, so none is made here."""
        if not self.pending:
            return
        documents = [doc for item in self.pending for doc in item.documents]
        try:
            result = langchain_index(
                documents,
                self.records,
                self.writer.vector_store,
                # Each flush holds whole files: clean up their old chunks once, at the end of the
                # call ("incremental" cleans after every internal batch and would delete, then
                # re-embed, unchanged chunks of a file that straddles two batches).
                cleanup="scoped_full",
                source_id_key="source_id",
                batch_size=self.settings.index_batch_size,
                key_encoder=chunk_key,
            )
        except ValueError as exc:  # LangChain's own checks
            raise IndexStoreError(f"writing to the index failed: {exc}") from exc
        self.records.put_files([item.record for item in self.pending])
        self.report.chunks_added += result["num_added"]
        self.report.chunks_deleted += result["num_deleted"]
        self.report.files_added += sum(item.is_new for item in self.pending)
        self.report.files_updated += sum(not item.is_new for item in self.pending)
        if self.chunk_bar is not None:
            self.chunk_bar.update(len(documents))
        self.report_progress()
        log.info("indexed batch: %d chunks from %d files", len(documents), len(self.pending))
        self.pending.clear()
        self.pending_chunks = 0
        if not self.writer.new_generation and not final:
            # Publishes the files done so far when a commit is due (readers see them; a crash
            # rolls back to here); a rebuild publishes only at the end.
            self.writer.commit(final=False)

    def remove_missing(self, root: Path, seen: set[str]) -> None:
        """Files recorded under `root` that are gone from disk leave the index."""
        for record in self.records.files_under(str(root)):
            if record.source_id in seen:
                continue
            keys = self.records.list_keys(group_ids=[record.source_id])
            if keys:
                self.writer.vector_store.delete(ids=keys)
                self.records.delete_keys(keys)
            self.records.delete_file(record.source_id)
            self.report.files_deleted += 1
            self.report.chunks_deleted += len(keys)
            log.info("removed %s (%d chunks): no longer on disk", record.source, len(keys))


def ingest(
    paths: Sequence[str | Path] | None,
    settings: Settings,
    *,
    rebuild: bool = False,
    strict: bool = False,
    progress: bool = False,
    embeddings: Embedder | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> IngestReport:
    """Bring the index in line with `paths` (default: the folders already in the index, or
    settings.docs_dir). Raises QAError subclasses; a bad file is reported, not raised,
    unless `strict`. `progress` draws bars on the terminal; `on_progress` is called after each
    file and each written batch (the app's progress bar)."""
    started = time.perf_counter()
    embeddings = embeddings or embedder(settings)
    with store_errors("ingest", settings.index_dir), IndexWriter(settings, embeddings, rebuild=rebuild) as writer:
        targets = [Path(p) for p in paths] if paths else [Path(r) for r in writer.known_roots] or [settings.docs_dir]
        found = discover(targets, confined=not settings.outside_symlinks)
        run = IngestRun(writer, settings, strict)
        run.report.roots = [str(target) for target in targets]
        for skipped in found.skipped:
            run.skip(skipped.path, skipped.reason)
        if rebuild and writer.previous is not None:
            run.report.chunks_deleted = writer.previous_count
        run.report.rebuilt = writer.new_generation and writer.previous is not None
        file_bar = tqdm(total=len(found.files), unit="file", desc="files", disable=not progress, position=0)
        run.chunk_bar = tqdm(unit="chunk", desc="chunks", disable=not progress, position=1)
        seen: set[str] = set()
        run.on_progress = on_progress
        run.files_total = len(found.files)
        with file_bar, run.chunk_bar:
            max_bytes = int(settings.max_file_mb * 1_000_000)
            options = ReadOptions(settings.ocr == "on", settings.ocr_timeout_s, settings.ocr_languages)

            def known(item: FoundFile) -> FileRecord | None:
                return None if writer.new_generation else run.records.get_file(str(item.path))

            def prepare(item: FoundFile, record: FileRecord | None) -> PreparedFile:
                return prepare_file(item, record, run.chunker, writer.embeddings.name, max_bytes, options)

            for prepared in prefetched(found.files, known, prepare):
                seen.add(str(prepared.found.path))
                run.accept(prepared)
                file_bar.update(1)
                run.files_done += 1
                run.report_progress()
            run.flush(final=True)
        for root in found.roots:
            run.remove_missing(root, seen)
        if writer.new_generation and writer.count() == 0:
            # Never publish an empty generation: a typo in a path must not wipe an index.
            where = ", ".join(str(t) for t in targets)
            kept = "; the previous index is kept" if writer.previous is not None else ""
            raise IngestError(where, f"no documents could be ingested{kept}")
        writer.commit()
        run.report.chunks_total = writer.count()
        run.report.texts_embedded = writer.vector_store.texts_embedded
        run.report.sentences_reused = writer.vector_store.sentences_reused
        if run.report.texts_embedded:
            run.report.embedding_dtype = writer.embeddings.dtype
            run.report.embedding_backend = writer.embeddings.backend
    run.report.seconds = time.perf_counter() - started
    return run.report
