"""The Chroma side of the store: the client (embedded under the index folder, or a server),
paging through a collection's ids, and a stored chunk as a Passage."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlparse

import chromadb
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError

from ..config import Settings
from ..errors import ConfigError, IndexStoreError
from ..types import Passage
from .failures import describe_store_error

#: Collections of this project start with it (a shared server holds others too).
COLLECTION_PREFIX = "qa-"
#: embedded clients by path: [client, users] (see _shared_client)
_shared: dict[str, list[Any]] = {}
_shared_lock = threading.Lock()


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
        return _shared_client(str(settings.index_dir / "chroma"), chroma_settings)
    except (ChromaError, ValueError, OSError) as exc:
        where = settings.chroma_url or str(settings.index_dir)
        reason = describe_store_error(exc, None if settings.chroma_url else settings.index_dir)
        if reason.startswith("the index folder is not writable"):
            reason += "; Chroma writes to its folder even to read: give write access or copy the index"
        raise IndexStoreError(f"cannot open the Chroma store at {where}: {reason}") from exc


def stored_passage(key: str, text: str | None, meta: Any, score: float, collection: str = "default") -> Passage:
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
        location=str(meta["location"]) if meta.get("location") else None,
        collection=collection,
    )


def _shared_client(path: str, chroma_settings: ChromaSettings) -> Any:
    """The process's one embedded client of `path`. Chroma shares one system per path between
    all its clients, and closing any client stops that system for all: a writer (an ingest in a
    thread) and a reader (reopening after each publish) in one process then broke each other
    (KeyError, "no attribute 'bindings'"). So the client is shared, counted, closed by its last user."""
    with _shared_lock:
        entry = _shared.get(path)
        if entry is None:
            entry = _shared[path] = [chromadb.PersistentClient(path=path, settings=chroma_settings), 0]
        entry[1] += 1
        return entry[0]


def close_client(client: Any) -> None:
    """Let go of a client from open_client (an embedded one closes when its last user lets go)."""
    with _shared_lock:
        for path, entry in _shared.items():
            if entry[0] is client:
                entry[1] -= 1
                if entry[1] > 0:
                    return
                del _shared[path]
                break
    close = getattr(client, "close", None)
    if close is not None:
        close()
