"""Storage failures in one user's words: what the store's layers (Chroma, its HTTP client,
SQLite, the file system) raise becomes IndexStoreError with a line that names a full disk or an
unwritable folder as such."""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from chromadb.errors import ChromaError

from ..errors import IndexStoreError, QAError

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
