"""The vector store as the writer uses it: LangChain's Chroma, with each chunk's keyword terms
recorded in the same call that writes its vector, and deletions staged until the run is
published (so readers never see a file half replaced)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_chroma import Chroma
from langchain_core.documents import Document

from ..text.terms import indexed_terms
from .records import SQLiteRecordManager

#: (chunk key, source, space-joined terms): a row of the record file's chunk_terms table.
TermRow = tuple[str, str, str]


def term_row(key: str, text: str | None, metadata: Mapping[str, Any] | None) -> TermRow:
    """The keyword row of one stored chunk (the one builder of these rows)."""
    metadata = metadata or {}
    return key, str(metadata.get("source", "")), indexed_terms(str(metadata.get("title", "")), text or "")


def term_rows(batch: Mapping[str, Any]) -> list[TermRow]:
    """The rows of a Chroma `get()` result that included documents and metadatas."""
    return [
        term_row(key, text, meta)
        for key, text, meta in zip(batch["ids"], batch["documents"], batch["metadatas"], strict=True)
    ]


class StagedChroma(Chroma):
    """Chroma that records each chunk's terms when its vector is written (LangChain's indexing API
    calls `add_documents`), and only notes a deletion until the run is published (`delete`; see
    `purge`)."""

    def __init__(self, *args: Any, records: SQLiteRecordManager, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._records = records
        self.terms_changed = False

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        self._records.mark_writing()  # before the vectors: a crash right after them is rolled back
        ids = super().add_documents(documents, **kwargs)
        self._records.put_terms(
            [term_row(key, doc.page_content, doc.metadata) for key, doc in zip(ids, documents, strict=True)]
        )
        self.terms_changed = True
        return ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> None:
        if ids:
            self._records.delete_keys(ids)
            self.terms_changed = True

    def purge(self, ids: Sequence[str]) -> None:
        """Really delete these vectors (after the commit that stopped readers from using them)."""
        for start in range(0, len(ids), 5000):
            super().delete(ids=list(ids[start : start + 5000]))
