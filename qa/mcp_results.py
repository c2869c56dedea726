"""What the MCP server's tools return: the output schemas published with each tool (pydantic
models: the shapes of `qa ask --json`, the search passages, the documents and collections), and
the readable text each result carries for the model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .types import Answer, Passage


class Turn(BaseModel):
    """One earlier message of the conversation (follow-up questions are read in its light)."""

    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class CitationOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    n: int = Field(description="The [n] marker in the answer text.")
    source: str = Field(description="The file, as ingested.")
    title: str
    page: int | None = Field(description="Page or slide number, when the file has pages.")
    location: str | None = Field(None, description='Where in the file: "slide 3", "sheet Budget, rows 12-30", ...')
    quote: str = Field(description="The sentence of the passage that the cited answer sentence rests on.")
    passage: str = Field("", description="The whole cited passage.")
    score: float
    date: str | None = None
    chunk_id: str
    start: int
    end: int
    collection: str = Field("default", description="The collection the passage came from.")


class ClaimOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    text: str = Field(description="One sentence of the answer.")
    verdict: Literal["supported", "contradicted", "unsupported"]
    citations: list[int]
    reason: str = ""
    quote: str = ""


class AskResult(BaseModel):
    """The checked answer: the fields of `qa ask --json`."""

    model_config = ConfigDict(extra="allow")

    short: str | None = Field(description="The answer in a few words (a name, a number, a date), or null.")
    text: str = Field(description="The answer, its sentences cited [n]; flagged ones marked [unsupported].")
    citations: list[CitationOut]
    unsupported: list[str] = Field(description="Answer sentences no passage supports.")
    claims: list[ClaimOut] = Field(description="The check's verdict on each sentence, in order.")
    backend: str
    not_found: bool = Field(description="True when the documents hold no answer.")
    fallback: bool = Field(description="True when the configured LLM failed and this is the extractive answer.")
    error: str | None
    question: str
    standalone_question: str


class PassageOut(BaseModel):
    source: str
    page: int | None
    location: str | None
    title: str
    text: str
    score: float = Field(description="Cosine similarity to the query.")
    date: str | None
    chunk_id: str
    collection: str


class SearchResult(BaseModel):
    passages: list[PassageOut] = Field(description="Best first.")


class CollectionOut(BaseModel):
    name: str
    documents: int
    chunks: int
    default: bool = Field(description="The collection calls get when they name none.")


class CollectionsResult(BaseModel):
    collections: list[CollectionOut]


class DocumentOut(BaseModel):
    source: str = Field(description="The file as ingested: what `sources` takes.")
    chunks: int
    size: int = Field(description="Bytes.")
    modified: str = Field(description="When the file was last changed (ISO 8601, UTC).")
    uri: str = Field(description="The resource holding its text as indexed.")


class DocumentsResult(BaseModel):
    collection: str
    documents: list[DocumentOut]
    chunks: int = Field(description="Chunks in the whole index.")


def answer_text(answer: Answer) -> str:
    """The answer as a model or a person reads it: the short answer, the text, the quotes."""
    lines = [f"Answer: {answer.short}", ""] if answer.short else []
    lines.append(answer.text)
    if answer.fallback:
        lines += ["", f"(The {answer.backend} backend failed: {answer.error}. This is the extractive answer.)"]
    if answer.citations:
        lines += ["", "Sources:"]
    for citation in answer.citations:
        where = citation.location or (f"p. {citation.page}" if citation.page else "")
        lines.append(f"[{citation.n}] {citation.source}{', ' + where if where else ''}: \u201c{citation.quote}\u201d")
    return "\n".join(lines)


def passage_json(passage: Passage) -> dict[str, Any]:
    return {
        "source": passage.source,
        "page": passage.page,
        "location": passage.location,
        "title": passage.title,
        "text": passage.text,
        "score": passage.score,
        "date": passage.date,
        "chunk_id": passage.chunk_id,
        "collection": passage.collection,
    }


def stitched(passages: Sequence[Passage]) -> str:
    """A document's text from its chunks (which overlap): each chunk from where the last ended."""
    parts: list[str] = []
    covered = -1
    for passage in sorted(passages, key=lambda p: (p.start, p.end)):
        if passage.end <= covered:
            continue
        skip = max(0, covered - passage.start)
        if parts and skip == 0:
            parts.append("\n\n")
        parts.append(passage.text[skip:])
        covered = passage.end
    return "".join(parts)
