"""The vector store as the writer uses it: LangChain's Chroma, with each chunk's keyword terms and
sentence vectors recorded in the same call that writes its vector (the chunk vector is made from
the sentence vectors, see `sentences`), and deletions staged until the run is published (so
readers never see a file half replaced)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_chroma import Chroma
from langchain_core.documents import Document

from ..embeddings import Embedder
from ..errors import IndexStoreError
from ..text.terms import indexed_terms
from .pointer import IndexState, check_model
from .records import SQLiteRecordManager
from .sentences import embed_chunks

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
    """Chroma that embeds chunks through their sentences and records each chunk's terms and
    sentence vectors when its vector is written (LangChain's indexing API calls `add_documents`),
    and only notes a deletion until the run is published (`delete`; see `purge`)."""

    def __init__(
        self,
        *args: Any,
        records: SQLiteRecordManager,
        embedder: Embedder,
        whole_chunks: bool,
        state: IndexState,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, embedding_function=embedder, **kwargs)
        self._records = records
        self._embedder = embedder
        self._state = state
        self._whole = whole_chunks
        self.terms_changed = False
        self.texts_embedded = 0  # what the model ran on, for the report
        self.sentences_reused = 0
        self.chunks_written = 0

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        ids = kwargs.get("ids") or [doc.id for doc in documents]
        if len(ids) != len(documents) or not all(ids):
            raise IndexStoreError("every chunk needs its key to be written")
        if not self.chunks_written:  # checked here, not on opening: a run with nothing to embed loads no model
            check_model(self._state, self._embedder, dimension=True)
        self._records.mark_writing()  # before the vectors: a crash right after them is rolled back
        texts = [doc.page_content for doc in documents]
        dimension = self._embedder.dimension
        embedded = embed_chunks(
            texts, self._embedder, lambda hashes: self._records.stored_sentences(hashes, dimension), whole=self._whole
        )
        self._records.put_sentences(ids, embedded)
        self._collection.upsert(
            ids=list(ids),
            embeddings=embedded.vectors,
            metadatas=[doc.metadata for doc in documents],
            documents=texts,
        )
        self._records.put_terms(
            [term_row(key, doc.page_content, doc.metadata) for key, doc in zip(ids, documents, strict=True)]
        )
        self.terms_changed = True
        self.texts_embedded += embedded.embedded
        self.chunks_written += len(ids)
        self.sentences_reused += embedded.reused
        return list(ids)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> None:
        if ids:
            self._records.delete_keys(ids)
            self.terms_changed = True

    def purge(self, ids: Sequence[str]) -> None:
        """Really delete these vectors (after the commit that stopped readers from using them)."""
        for start in range(0, len(ids), 5000):
            super().delete(ids=list(ids[start : start + 5000]))
