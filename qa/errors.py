"""The exception tree. Edges (CLI, app) catch QAError and show its message; nothing else."""

from __future__ import annotations


class QAError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(QAError):
    """A setting is invalid or names something that is not there."""


class IngestError(QAError):
    """One file could not be ingested; the run goes on and reports it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexMissing(QAError):
    """No index exists yet at the configured location."""


class IndexMismatch(QAError):
    """The index was built with another embedding model than the one configured."""


class IndexBusy(QAError):
    """Another process is writing to the index."""


class IndexStoreError(QAError):
    """The vector store failed (Chroma unreachable, disk full, ...)."""


class BackendError(QAError):
    """An answer backend failed."""
