"""The exception tree. Every error this package raises on purpose is a QAError, raised with its
cause chained; the edges (CLI, app, API) catch QAError and show its message, nothing else.

    QAError
    ├── ConfigError            a setting is invalid or names something that is not there
    │   └── NoSuchCollection   no collection of that name that the caller may see
    ├── IngestError            one file could not be ingested (the run goes on and reports it)
    ├── IndexMissing           no index at the configured location yet
    ├── IndexMismatch          the index was built with another embedding model
    ├── IndexBusy              another process is writing to the index
    ├── IndexStoreError        the store failed (Chroma unreachable, disk full, damaged files)
    ├── EmbeddingError         the embedding server failed (unreachable, HTTP error, wrong vectors)
    ├── BackendError           an answer backend failed (the engine falls back to extractive)
    ├── IngestJobError         the app's ingest child failed
    ├── DocumentsError         a change to the documents folder is refused
    │   └── UploadRejected     one uploaded file cannot be stored
    ├── ConversationNotFound   no saved conversation of this user has that id
    └── APIError               a request the OpenAI-compatible API refuses (status + fields)
"""

from __future__ import annotations


class QAError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(QAError):
    """A setting is invalid or names something that is not there."""


class NoSuchCollection(ConfigError):
    """No collection of that name that the caller may see: missing and forbidden read the same,
    so a name never tells another user's collection exists."""


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


class EmbeddingError(QAError):
    """The embedding server failed: unreachable, an HTTP error, or vectors of the wrong count or
    dimension."""


class BackendError(QAError):
    """An answer backend failed."""


class IngestJobError(QAError):
    """The app's ingest child failed; the message is its one-line error."""


class DocumentsError(QAError):
    """A change to the documents folder is refused; the message is shown to the user."""


class UploadRejected(DocumentsError):
    """One uploaded file cannot be stored; `reason` is shown to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConversationNotFound(QAError):
    """No saved conversation of this user has that id (it may be another user's: they are not told)."""


class APIError(QAError):
    """A request the OpenAI-compatible API refuses, with its HTTP status and OpenAI-style fields
    (rendered by qa.openai_api)."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
