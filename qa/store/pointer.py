"""The pointer `index.json`: which generation is live, and at which version. Replaced
atomically, so a reader sees the old pointer or the new one, never half of one."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from ..embeddings import Embedder
from ..errors import IndexMismatch, IndexStoreError

POINTER = "index.json"
FORMAT = 1


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
    # What built the vectors: number format(s) ("float32", "bfloat16,float32" after runs in two),
    # "local" or the embedding server's host, and how chunk vectors are made (see store.sentences;
    # indexes from before sentence vectors embedded chunks whole).
    embedding_dtype: str = ""
    embedding_backend: str = ""
    chunk_embedding: str = "whole"


def now() -> str:
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
        raise IndexStoreError(
            f"{index_dir / POINTER} is damaged ({exc}); rebuild with: python ingest.py --rebuild"
        ) from exc


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


def index_id(index_dir: Path) -> str:
    """A random id for this index folder, created once; tags its collections on a shared server."""
    path = index_dir / "index-id"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        value = secrets.token_hex(8)
        path.write_text(value, encoding="utf-8")
        return value


def check_model(state: IndexState, embeddings: Embedder, dimension: bool = False) -> None:
    """Refuse to mix vectors of two models (peers crash later with a dimension mismatch); with
    `dimension`, also check the vectors' size (a writer, or a server serving another model under
    the same name). Vectors of another number format of the same model are compatible."""
    if state.embedding_model != embeddings.name:
        raise IndexMismatch(
            f"the index was built with embedding model {state.embedding_model!r} but "
            f"QA_EMBEDDING_MODEL is {embeddings.name!r}; rebuild it with: python ingest.py --rebuild "
            f"(or set QA_EMBEDDING_MODEL back)"
        )
    if dimension and embeddings.dimension != state.dimension:
        raise IndexMismatch(
            f"the index holds {state.dimension}-dimensional vectors of {state.embedding_model!r}, but the "
            f"embedder ({embeddings.backend}) makes {embeddings.dimension}-dimensional ones: it serves another "
            "model under that name; fix QA_EMBEDDINGS_URL / QA_EMBEDDINGS_MODEL, or rebuild with: "
            "python ingest.py --rebuild"
        )


def with_format(recorded: str, dtype: str) -> str:
    """The formats an index was built in, after a run in `dtype` added vectors."""
    return ",".join(sorted({*filter(None, recorded.split(",")), dtype}))
