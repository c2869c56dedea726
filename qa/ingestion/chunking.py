"""Token-aware chunking that prefers paragraph, then sentence, then word boundaries, and keeps
each chunk's character offsets in the extracted text (the app highlights quotes with them)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ..text.tokens import get_encoding
from .extracted import Section

# Coarse to fine: paragraphs, lines, sentence ends, clauses, words, characters.
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int
    end: int
    page: int | None
    location: str | None = None


class Chunker:
    """Splits text into chunks of at most `size` tokens with about `overlap` tokens shared."""

    def __init__(self, size: int, overlap: int, encoding_name: str = "cl100k_base") -> None:
        encoding = get_encoding(encoding_name)
        self.size = size
        self.overlap = overlap
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=size,
            chunk_overlap=overlap,
            separators=SEPARATORS,
            keep_separator="end",
            length_function=lambda text: len(encoding.encode_ordinary(text)),
            strip_whitespace=True,
        )

    def split(self, text: str, sections: Sequence[Section] | None = None) -> list[Chunk]:
        """Chunks of `text`, each section (page, slide, sheet, ...) chunked on its own so that no
        chunk (and so no citation) straddles two; a chunk of table rows says which rows it holds."""
        if not sections:
            return self._split_span(text, Section(0), len(text))
        ends = [section.start for section in sections[1:]] + [len(text)]
        chunks: list[Chunk] = []
        for section, end in zip(sections, ends, strict=True):
            chunks.extend(self._split_span(text, section, end))
        return chunks

    def _split_span(self, text: str, section: Section, end: int) -> list[Chunk]:
        start = section.start
        span = text[start:end]
        chunks: list[Chunk] = []
        cursor = 0
        for piece in self._splitter.split_text(span):
            at = span.find(piece, cursor)
            if at < 0:  # cannot happen with whitespace-stripped splits, but never lose a chunk
                at = span.find(piece)
            # the next chunk may overlap this one, so it starts after this chunk's start
            cursor = at + 1
            begin, finish = start + at, start + at + len(piece)
            chunks.append(Chunk(piece, begin, finish, section.page, location(section, begin, finish)))
        return chunks


def location(section: Section, start: int, end: int) -> str | None:
    """Where a chunk is: its section's location, with the rows it holds when the section is a
    table ("sheet Budget, rows 12-30")."""
    if not section.rows:
        return section.location
    offsets = [offset for offset, _ in section.rows]
    first = max(bisect.bisect_right(offsets, start) - 1, 0)
    last = max(bisect.bisect_left(offsets, end) - 1, first)
    low, high = section.rows[first][1], section.rows[last][1]
    rows = f"row {low}" if low == high else f"rows {low}-{high}"
    return f"{section.location}, {rows}" if section.location else rows
