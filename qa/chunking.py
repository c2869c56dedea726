"""Token-aware chunking that prefers paragraph, then sentence, then word boundaries, and keeps
each chunk's character offsets in the extracted text (the app highlights quotes with them)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from .tokens import get_encoding

# Coarse to fine: paragraphs, lines, sentence ends, clauses, words, characters.
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int
    end: int
    page: int | None


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

    def split(self, text: str, page_starts: list[int] | None = None) -> list[Chunk]:
        """Chunks of `text`; `page_starts[i]` is the offset where page i+1 begins, if known."""
        chunks: list[Chunk] = []
        cursor = 0
        for piece in self._splitter.split_text(text):
            start = text.find(piece, cursor)
            if start < 0:  # cannot happen with strip_whitespace splitting, but never lose a chunk
                start = text.find(piece)
            end = start + len(piece)
            # The next chunk overlaps this one, so it starts at or after this chunk's start.
            cursor = start + 1
            page = bisect.bisect_right(page_starts, start) if page_starts else None
            chunks.append(Chunk(text=piece, start=start, end=end, page=page))
        return chunks
