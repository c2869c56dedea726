"""Chunks respect the token budget, keep exact offsets, and prefer sentence boundaries."""

from __future__ import annotations

from qa.ingestion.chunking import Chunker
from qa.ingestion.extracted import Section
from qa.text.tokens import get_encoding

from .conftest import SEED_FILE


def test_offsets_locate_each_chunk_exactly() -> None:
    text = SEED_FILE.read_text(encoding="utf-8")
    chunks = Chunker(120, 20).split(text)
    assert len(chunks) > 3
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text


def test_token_budget() -> None:
    text = SEED_FILE.read_text(encoding="utf-8")
    encoding = get_encoding("cl100k_base")
    chunks = Chunker(100, 25).split(text)
    assert all(len(encoding.encode_ordinary(c.text)) <= 100 for c in chunks)


def test_overlap_inside_long_paragraphs() -> None:
    """Paragraph breaks are clean cuts; within one long paragraph, neighbours share sentences."""
    text = " ".join(f"Clause {i} of the treaty covers fishing rights near island {i}." for i in range(120))
    chunks = Chunker(100, 30).split(text)
    assert len(chunks) > 5
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:], strict=False))


def test_prefers_sentence_ends() -> None:
    sentences = [f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(200)]
    text = " ".join(sentences)
    chunks = Chunker(60, 0).split(text)
    assert len(chunks) > 5
    assert all(c.text.endswith(".") for c in chunks[:-1])


def test_pages_follow_offsets() -> None:
    pages = ["alpha " * 300, "beta " * 300, "gamma " * 300]
    text = "\n\n".join(pages)
    starts = [0, len(pages[0]) + 2, len(pages[0]) + len(pages[1]) + 4]
    chunks = Chunker(80, 0).split(text, [Section(start, page=number) for number, start in enumerate(starts, 1)])
    for chunk in chunks:
        word = chunk.text.split()[0]
        assert chunk.page == {"alpha": 1, "beta": 2, "gamma": 3}[word]
