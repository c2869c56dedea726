"""Local-first question answering over your own documents: the public API."""

from __future__ import annotations

from .answering import Engine, answer, stream_answer
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
from .retrieval import Retriever
from .retriever import QARetriever, chain
from .types import Answer, Citation, IngestReport, Passage, Skipped

__all__ = [
    "Answer",
    "BackendError",
    "Citation",
    "ConfigError",
    "Engine",
    "IndexBusy",
    "IndexMismatch",
    "IndexMissing",
    "IndexReader",
    "IndexStoreError",
    "IngestError",
    "IngestReport",
    "Passage",
    "QAError",
    "QARetriever",
    "Retriever",
    "Settings",
    "Skipped",
    "answer",
    "chain",
    "ingest",
    "load_settings",
    "read_state",
    "stream_answer",
]
