"""Local-first question answering over your own documents: the public API."""

from __future__ import annotations

from .answering.engine import Engine, answer, stream_answer
from .answering.retrieval import Retriever
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
from .ingestion.pipeline import ingest
from .langchain import QARetriever, chain
from .store.pointer import read_state
from .store.reader import IndexReader
from .types import Answer, Citation, IngestReport, Passage, Progress, Skipped

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
    "Progress",
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
