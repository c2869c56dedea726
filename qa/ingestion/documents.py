"""One file -> the chunks to index: read it (size-limited), recognise it unchanged from the
manifest (size + mtime, then sha256), parse and chunk it, and give each chunk its key and
metadata. Runs on a prefetch thread ahead of the embedding loop, so it touches no shared state."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from langchain_core.documents import Document

from ..errors import IngestError
from ..store.records import FileRecord
from .chunking import Chunker
from .discovery import FoundFile
from .extracted import ReadOptions
from .loaders import load_bytes

PREFETCH_FILES = 8  # files read and chunked ahead of the embedding loop


def read_file(found: FoundFile, max_bytes: int) -> tuple[bytes, os.stat_result]:
    path = found.path
    try:
        st = path.stat()
    except OSError as exc:
        reason = "symlink loop" if exc.errno == errno.ELOOP else f"cannot access: {exc.strerror}"
        if exc.errno == errno.ENOENT and path.is_symlink():
            reason = "broken symlink"
        raise IngestError(found.source, reason) from exc
    if st.st_size > max_bytes:
        raise IngestError(
            found.source,
            f"too large: {st.st_size / 1e6:.1f} MB over the {max_bytes / 1e6:.1f} MB limit (QA_MAX_FILE_MB)",
        )
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except PermissionError as exc:
        raise IngestError(found.source, "permission denied") from exc
    except OSError as exc:
        raise IngestError(found.source, f"cannot read: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise IngestError(found.source, f"too large: over the {max_bytes / 1e6:.1f} MB limit (QA_MAX_FILE_MB)")
    return data, st


# Metadata that may change while a chunk's text does not; left out of the chunk's key, so a
# touched or extended file re-embeds only its changed chunks (a chunk keeps the date its text
# first appeared).
_VOLATILE = ("modified", "modified_ts")


def chunk_key(document: Document) -> str:
    """The chunk's id in the index: a hash of its text and its stable metadata."""
    stable = {key: value for key, value in document.metadata.items() if key not in _VOLATILE}
    payload = json.dumps([document.page_content, stable], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def chunk_documents(
    found: FoundFile,
    data: bytes,
    st: os.stat_result,
    chunker: Chunker,
    model: str,
    options: ReadOptions | None = None,
) -> tuple[list[Document], list[str]]:
    loaded = load_bytes(data, found.path, options)
    modified = loaded.date or datetime.fromtimestamp(st.st_mtime, UTC)
    chunks = chunker.split(loaded.text, loaded.sections)
    if not chunks:
        raise IngestError(found.source, "no text in file")
    documents = []
    for number, chunk in enumerate(chunks):
        metadata: dict[str, str | int] = {
            "source": found.source,
            "source_id": str(found.path),
            "title": loaded.title,
            "start": chunk.start,
            "end": chunk.end,
            "chunk_index": number,
            "content_hash": hashlib.sha256(chunk.text.encode("utf-8")).hexdigest()[:32],
            "embedding_model": model,
            "modified": modified.date().isoformat(),
            "modified_ts": int(st.st_mtime),
        }
        if chunk.page is not None:
            metadata["page"] = chunk.page
        if chunk.location is not None:
            metadata["location"] = chunk.location
        documents.append(Document(page_content=chunk.text, metadata=metadata))
    return documents, loaded.warnings


@dataclass
class PreparedFile:
    """What reading one file found: unchanged (`record` None), touched but the same content
    (`documents` None), changed or new (`documents`), or a `failure` to report."""

    found: FoundFile
    record: FileRecord | None = None
    documents: list[Document] | None = None
    warnings: list[str] = field(default_factory=list)
    is_new: bool = False
    failure: str | None = None


def prepare_file(
    found: FoundFile,
    known: FileRecord | None,
    chunker: Chunker,
    model: str,
    max_bytes: int,
    options: ReadOptions | None = None,
) -> PreparedFile:
    """Read, hash, parse and chunk one file. Touches no shared state, so it runs on the
    prefetch thread while the main thread embeds the previous batch."""
    try:
        if known is not None:
            st = found.path.stat()
            if st.st_size == known.size and st.st_mtime_ns == known.mtime_ns:
                return PreparedFile(found)
        data, st = read_file(found, max_bytes)
        digest = hashlib.sha256(data).hexdigest()
        record = FileRecord(str(found.path), str(found.root), found.source, st.st_size, st.st_mtime_ns, digest, 0)
        if known is not None and known.sha256 == digest:
            return PreparedFile(found, replace(record, chunks=known.chunks))
        documents, warnings = chunk_documents(found, data, st, chunker, model, options)
    except IngestError as exc:
        return PreparedFile(found, failure=exc.reason)
    except OSError as exc:
        return PreparedFile(found, failure=f"cannot read: {exc.strerror or exc}")
    return PreparedFile(found, record, documents, warnings, known is None)


def prefetched(
    files: Sequence[FoundFile], known: Callable[[FoundFile], FileRecord | None], prepare: Callable[..., PreparedFile]
) -> Iterator[PreparedFile]:
    """`prepare` each file on one background thread, at most PREFETCH_FILES ahead of the consumer,
    yielding results in order: reading and parsing overlap with embedding, and memory stays
    bounded by the look-ahead (never the corpus)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-prefetch") as pool:
        window: deque[Future[PreparedFile]] = deque()
        upcoming = iter(files)
        for found in upcoming:
            window.append(pool.submit(prepare, found, known(found)))
            if len(window) >= PREFETCH_FILES:
                break
        while window:
            prepared = window.popleft().result()
            following = next(upcoming, None)
            if following is not None:
                window.append(pool.submit(prepare, following, known(following)))
            yield prepared
