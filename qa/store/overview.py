"""What the live index holds, as the app's status line and documents list show it: read here so
that no interface opens the store's files itself."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Settings
from .pointer import IndexState, read_state
from .records import FileRecord, SQLiteRecordManager


@dataclass(frozen=True)
class Overview:
    """The indexed documents (by source), the published chunk count, and the pointer (None: no
    index yet)."""

    documents: list[FileRecord]
    chunks: int
    state: IndexState | None

    def document(self, source: str) -> FileRecord | None:
        return next((record for record in self.documents if record.source == source), None)


def has_index(settings: Settings) -> bool:
    """Has an index been published at settings.index_dir yet?"""
    return read_state(settings.index_dir) is not None


def overview(settings: Settings) -> Overview:
    """Read from the pointer and the live record file; cheap enough for every page refresh."""
    state = read_state(settings.index_dir)
    if state is None:
        return Overview([], 0, None)
    records = SQLiteRecordManager(settings.index_dir / state.records)
    try:
        documents = sorted(records.all_files(), key=lambda record: record.source)
        chunks = records.count_terms()
    finally:
        records.close()
    return Overview(documents, chunks, state)
