"""Local-first question answering over your own documents: the public API.

The names below are imported on first use (PEP 562), so `import qa` and the `qa` command's help
stay light: `qa.Engine` loads the answer stage, `qa.chain` LangChain, `qa.ingest` the ingest
pipeline, each only when asked for. `from qa import X` works as before."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Each public name and the module that defines it.
_SOURCES = {
    "Engine": ".answering.engine",
    "answer": ".answering.engine",
    "stream_answer": ".answering.engine",
    "Retriever": ".answering.retrieval",
    "Settings": ".config",
    "load_settings": ".config",
    "BackendError": ".errors",
    "ConfigError": ".errors",
    "IndexBusy": ".errors",
    "IndexMismatch": ".errors",
    "IndexMissing": ".errors",
    "IndexStoreError": ".errors",
    "IngestError": ".errors",
    "QAError": ".errors",
    "ingest": ".ingestion.pipeline",
    "QARetriever": ".langchain",
    "chain": ".langchain",
    "read_state": ".store.pointer",
    "IndexReader": ".store.reader",
    "Answer": ".types",
    "Citation": ".types",
    "IngestReport": ".types",
    "Passage": ".types",
    "Progress": ".types",
    "Skipped": ".types",
}

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


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (then kept in this module)."""
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(source, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
