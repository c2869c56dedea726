"""Local-first question answering over your own documents: the public API."""

from __future__ import annotations

from .config import Settings, load_settings
from .errors import (
    BackendError,
    ConfigError,
    IndexBusy,
    IndexMismatch,
    IndexMissing,
    IndexStoreError,
    IngestError,
    QAError,
)
from .index import IndexReader, read_state
from .ingestion import ingest
from .types import IngestReport, Passage, Skipped

__all__ = [
    "BackendError",
    "ConfigError",
    "IndexBusy",
    "IndexMismatch",
    "IndexMissing",
    "IndexReader",
    "IndexStoreError",
    "IngestError",
    "IngestReport",
    "Passage",
    "QAError",
    "Settings",
    "Skipped",
    "ingest",
    "load_settings",
    "read_state",
]
