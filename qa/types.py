"""Plain data passed between modules and returned by the public API."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Skipped:
    """A file that was not ingested, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class Progress:
    """Where an ingest run is: files looked at, of how many, and chunks written so far. The app's
    ingest child sends these as JSON lines (`to_json` / `from_json`)."""

    files_done: int
    files_total: int
    chunks_added: int

    def to_json(self) -> dict[str, int]:
        return {"files_done": self.files_done, "files_total": self.files_total, "chunks_added": self.chunks_added}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Progress:
        return cls(int(data["files_done"]), int(data["files_total"]), int(data["chunks_added"]))


@dataclass
class IngestReport:
    """What one ingest run did. `to_json()` is the `ingest.py --json` contract."""

    files_added: int = 0
    files_updated: int = 0
    files_unchanged: int = 0
    files_deleted: int = 0
    chunks_added: int = 0
    chunks_deleted: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[Skipped] = field(default_factory=list)  # ingested, but with a caveat (encoding)
    rebuilt: bool = False
    embedding_model: str = ""
    index_dir: str = ""
    # the model's work: texts it embedded (sentences, and whole chunks if so configured), and
    # sentences whose vector was already stored or repeated (overlap, captions, boilerplate)
    texts_embedded: int = 0
    sentences_reused: int = 0
    embedding_dtype: str = ""
    embedding_backend: str = ""
    roots: list[str] = field(default_factory=list)  # the files and folders this run brought in line

    @property
    def files_skipped(self) -> int:
        return len(self.skipped)

    def to_json(self) -> dict[str, Any]:
        return {
            "files": {
                "added": self.files_added,
                "updated": self.files_updated,
                "unchanged": self.files_unchanged,
                "deleted": self.files_deleted,
                "skipped": self.files_skipped,
            },
            "chunks": {"added": self.chunks_added, "deleted": self.chunks_deleted, "total": self.chunks_total},
            "seconds": round(self.seconds, 3),
            "skipped": [asdict(s) for s in self.skipped],
            "warnings": [{"path": w.path, "warning": w.reason} for w in self.warnings],
            "rebuilt": self.rebuilt,
            "embedding_model": self.embedding_model,
            "index_dir": self.index_dir,
            "embedding": {
                "dtype": self.embedding_dtype,
                "backend": self.embedding_backend,
                "texts_embedded": self.texts_embedded,
                "sentences_reused": self.sentences_reused,
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IngestReport:
        """The report back from its `to_json()` (the app reads its ingest child's)."""
        files, chunks = data["files"], data["chunks"]
        return cls(
            files_added=int(files["added"]),
            files_updated=int(files["updated"]),
            files_unchanged=int(files["unchanged"]),
            files_deleted=int(files["deleted"]),
            chunks_added=int(chunks["added"]),
            chunks_deleted=int(chunks["deleted"]),
            chunks_total=int(chunks["total"]),
            seconds=float(data["seconds"]),
            skipped=[Skipped(str(item["path"]), str(item["reason"])) for item in data.get("skipped", [])],
            warnings=[Skipped(str(item["path"]), str(item["warning"])) for item in data.get("warnings", [])],
            rebuilt=bool(data.get("rebuilt", False)),
            embedding_model=str(data.get("embedding_model", "")),
            index_dir=str(data.get("index_dir", "")),
            texts_embedded=int(data.get("embedding", {}).get("texts_embedded", 0)),
            sentences_reused=int(data.get("embedding", {}).get("sentences_reused", 0)),
            embedding_dtype=str(data.get("embedding", {}).get("dtype", "")),
            embedding_backend=str(data.get("embedding", {}).get("backend", "")),
        )

    def summary(self) -> str:
        """One human line for the CLI."""
        return (
            f"files: {self.files_added} added, {self.files_updated} updated, "
            f"{self.files_unchanged} unchanged, {self.files_deleted} deleted, {self.files_skipped} skipped; "
            f"chunks: {self.chunks_added} added, {self.chunks_deleted} deleted, {self.chunks_total} in index; "
            f"{self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk with where it came from."""

    chunk_id: str
    text: str
    source: str
    title: str
    page: int | None
    start: int
    end: int
    score: float
    date: str | None = None  # ISO date the document was last modified, when known
    # where in the file: "slide 3", "sheet Budget, rows 12-30", "chapter 2", a mail's subject
    location: str | None = None
    collection: str = "default"  # the collection whose index holds it


# One turn of a conversation, as Gradio and the OpenAI API spell it: {"role": "user" | "assistant", "content": str}.
Message = dict[str, str]


@dataclass(frozen=True)
class Citation:
    """A passage an answer cites as [n]; `quote` is the sentence of the passage that supports the
    answer, and passage[start:end] == quote (the app highlights it)."""

    n: int
    source: str
    title: str
    page: int | None
    chunk_id: str
    quote: str
    start: int
    end: int
    score: float
    passage: str = ""
    date: str | None = None
    location: str | None = None  # where in the file (see Passage.location)
    collection: str = "default"  # the collection it came from


@dataclass(frozen=True)
class ClaimCheck:
    """The check's verdict on one answer sentence: `supported` (the cited passages say it),
    `contradicted` (a passage says otherwise: `reason` gives its words, `citations` that passage)
    or `unsupported` (no passage says it). `quote` is the passage sentence the verdict rests on."""

    text: str
    verdict: str
    citations: list[int] = field(default_factory=list)
    reason: str = ""
    quote: str = ""


@dataclass
class Answer:
    """The result of one question. `to_json()` is the `python -m qa ask --json` contract."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # answer sentences no cited passage supports
    backend: str = "extractive"
    not_found: bool = False
    fallback: bool = False  # the configured backend failed; this is the extractive answer
    error: str | None = None  # why the backend failed, when fallback
    question: str = ""
    standalone_question: str = ""  # the question after condensing it with the chat history
    claims: list[ClaimCheck] = field(default_factory=list)  # one per checked sentence, in order
    # the answer in a few words, first: a name, a number with its unit, a date; verbatim from the
    # answer's first sentence (extractive) or the model's checked first line; None when the
    # question asks for no single thing or nothing checked says it
    short: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        """The answer `to_json` gave (a saved conversation's), fields it does not know ignored."""
        known = {f.name for f in fields(Citation)}
        citations = [Citation(**{k: v for k, v in c.items() if k in known}) for c in data.get("citations", [])]
        claim_fields = {f.name for f in fields(ClaimCheck)}
        claims = [ClaimCheck(**{k: v for k, v in c.items() if k in claim_fields}) for c in data.get("claims", [])]
        simple = {f.name for f in fields(cls)} - {"citations", "claims"}
        return cls(citations=citations, claims=claims, **{k: v for k, v in data.items() if k in simple})

    def to_json(self) -> dict[str, Any]:
        return {
            "short": self.short,
            "text": self.text,
            "citations": [asdict(citation) for citation in self.citations],
            "unsupported": list(self.unsupported),
            "claims": [asdict(claim) for claim in self.claims],
            "backend": self.backend,
            "not_found": self.not_found,
            "fallback": self.fallback,
            "error": self.error,
            "question": self.question,
            "standalone_question": self.standalone_question,
        }
