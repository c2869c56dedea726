"""Token-aware chunking that prefers paragraph, then sentence, then word boundaries, and keeps
each chunk's character offsets in the extracted text (the app highlights quotes with them)."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ..text.tokens import get_encoding

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
        """Chunks of `text`; `page_starts[i]` is the offset where page i+1 begins, if known.

        Pages are chunked separately so that no chunk (and so no citation) straddles two pages.
        """
        if not page_starts:
            return self._split_span(text, 0, len(text), None)
        bounds = [*page_starts, len(text)]
        chunks: list[Chunk] = []
        for number, (start, end) in enumerate(zip(bounds, bounds[1:], strict=False), 1):
            chunks.extend(self._split_span(text, start, end, number))
        return chunks

    def _split_span(self, text: str, start: int, end: int, page: int | None) -> list[Chunk]:
        span = text[start:end]
        chunks: list[Chunk] = []
        cursor = 0
        for piece in self._splitter.split_text(span):
            at = span.find(piece, cursor)
            if at < 0:  # cannot happen with whitespace-stripped splits, but never lose a chunk
                at = span.find(piece)
            # the next chunk may overlap this one, so it starts after this chunk's start
            cursor = at + 1
            chunks.append(Chunk(text=piece, start=start + at, end=start + at + len(piece), page=page))
        return chunks
