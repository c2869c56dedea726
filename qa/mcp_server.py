"""The index as an MCP server (`python -m qa mcp`), on the official `mcp` SDK: stdio for desktop
assistants and editors, Streamable HTTP at /mcp for the rest.

Tools (read-only: ingest stays an admin action):
- `ask(question, history?, sources?)`: the checked answer, the object `qa ask --json` prints.
- `search(query, k?, sources?)`: the hybrid retrieval's passages.
- `list_documents()`: the indexed files with their chunk counts and dates.
Each returns `structuredContent` (its output schema is published with the tool) and a readable
text block for the model. Every indexed file is also a read-only resource, `qa://document/<source>`,
its text as indexed.

A bad argument (an empty question, k out of range, a source not in the index) is a tool error
the model can read and correct; a failing LLM backend gives the extractive answer as everywhere.
Answers run in threads, `QA_ANSWER_CONCURRENCY` at once. Over HTTP `QA_API_KEY`, when set, is
required as a bearer token, and a server bound beyond this machine without one refuses to start.
The engine (model, index) loads in the background, so a client's handshake is answered at once
and the first call waits for it.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from importlib import metadata
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote

import anyio
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import CallToolResult, Resource, TextContent, ToolAnnotations
from pydantic import AnyUrl, BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

from .answering.engine import Engine
from .config import Settings
from .errors import ConfigError, QAError
from .http_auth import BearerAuth, is_loopback
from .store.overview import overview
from .types import Answer, Passage

log = logging.getLogger(__name__)

RESOURCE_PREFIX = "qa://document/"
MAX_QUESTION_CHARS = 4000
MAX_K = 50
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
INSTRUCTIONS = (
    "Answers questions from the user's own indexed documents. Every sentence of an answer is checked "
    "against the passage it cites: claims[].verdict says supported, contradicted or unsupported, and "
    "not_found is true when the documents do not answer. Quote answers with their [n] citations; do not "
    "add facts the citations do not hold. list_documents names the files that `sources` may restrict to."
)


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


class SearchResult(BaseModel):
    passages: list[PassageOut] = Field(description="Best first.")


class DocumentOut(BaseModel):
    source: str = Field(description="The file as ingested: what `sources` takes.")
    chunks: int
    size: int = Field(description="Bytes.")
    modified: str = Field(description="When the file was last changed (ISO 8601, UTC).")
    uri: str = Field(description="The resource holding its text as indexed.")


class DocumentsResult(BaseModel):
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


class DocumentsServer(MCPServer):
    """MCPServer whose resources are the index's documents, listed as they are now."""

    def __init__(self, settings: Settings, engine: Future[Engine], **options: Any) -> None:
        super().__init__(**options)
        self.qa_settings = settings
        self.engine = engine

    async def list_resources(self) -> list[Resource]:
        documents = await anyio.to_thread.run_sync(lambda: overview(self.qa_settings).documents)
        return [
            Resource(
                uri=RESOURCE_PREFIX + quote(record.source, safe="/"),
                name=record.source,
                description=f"{record.chunks} chunks, as indexed",
                mime_type="text/plain",
            )
            for record in documents
        ] + await super().list_resources()

    async def read_resource(self, uri: AnyUrl | str, context: Any = None) -> Iterable[ReadResourceContents] | Any:
        if not str(uri).startswith(RESOURCE_PREFIX):
            return await super().read_resource(uri, context)
        source = unquote(str(uri)[len(RESOURCE_PREFIX) :])
        if await anyio.to_thread.run_sync(lambda: overview(self.qa_settings).document(source)) is None:
            raise ResourceNotFoundError(f"no indexed document {source!r}: list_documents names them")
        try:
            engine = await anyio.to_thread.run_sync(self.engine.result)
            passages = await anyio.to_thread.run_sync(engine.retriever.reader.document_passages, source)
        except QAError as exc:
            raise ResourceError(str(exc)) from exc
        return [ReadResourceContents(content=stitched(passages), mime_type="text/plain")]


def package_version() -> str:
    try:
        return metadata.version("qa")
    except metadata.PackageNotFoundError:  # run from a checkout without `pip install -e .`
        return "0"


def create_server(settings: Settings, engine: Engine | Future[Engine]) -> DocumentsServer:
    """The MCP server over `engine` (or the engine a background load will give)."""
    if isinstance(engine, Engine):
        ready: Future[Engine] = Future()
        ready.set_result(engine)
        engine = ready
    server = DocumentsServer(settings, engine, name="qa", version=package_version(), instructions=INSTRUCTIONS)
    limiter: list[anyio.CapacityLimiter] = []  # made in the event loop, on first use

    async def run(function: Any, *args: Any, **kwargs: Any) -> Any:
        if not limiter:
            limiter.append(anyio.CapacityLimiter(settings.answer_concurrency))
        try:
            loaded = await anyio.to_thread.run_sync(server.engine.result)
            return await anyio.to_thread.run_sync(lambda: function(loaded, *args, **kwargs), limiter=limiter[0])
        except QAError as exc:  # no index yet, the store failed, ...: the model may tell the user
            raise ToolError(str(exc)) from exc

    def checked_sources(sources: list[str] | None) -> list[str] | None:
        if not sources:
            return None
        known = {record.source for record in overview(settings).documents}
        unknown = [source for source in sources if source not in known]
        if unknown:
            raise ToolError(
                f"not in the index: {', '.join(map(repr, unknown))}. list_documents gives the indexed files' names."
            )
        return sources

    @server.tool(
        name="ask",
        title="Ask the documents",
        description="Answer a question from the indexed documents only, with [n] citations whose every sentence "
        "is checked against the passage it cites. Use it for questions about the user's files; "
        "not_found=true means the documents do not say.",
        annotations=READ_ONLY,
    )
    async def ask(
        question: Annotated[
            str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="The question, in natural language.")
        ],
        history: Annotated[
            list[Turn] | None, Field(description="Earlier turns, oldest first, for follow-up questions.")
        ] = None,
        sources: Annotated[
            list[str] | None, Field(description="Answer only from these files (names as list_documents gives).")
        ] = None,
    ) -> Annotated[CallToolResult, AskResult]:
        if not question.strip():
            raise ToolError("the question is empty")
        chosen = await anyio.to_thread.run_sync(checked_sources, sources)
        turns = [turn.model_dump() for turn in history or []]
        answer: Answer = await run(lambda engine: engine.answer(question, turns, sources=chosen))
        return CallToolResult(content=[TextContent(text=answer_text(answer))], structured_content=answer.to_json())

    @server.tool(
        name="search",
        title="Search the documents",
        description="The passages of the indexed documents nearest to a query (keyword and meaning search "
        "combined), best first, with file, page and score. For reading around a topic; `ask` answers questions.",
        annotations=READ_ONLY,
    )
    async def search(
        query: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="What to look for.")],
        k: Annotated[int, Field(ge=1, le=MAX_K, description="How many passages.")] = 4,
        sources: Annotated[list[str] | None, Field(description="Search only these files.")] = None,
    ) -> Annotated[CallToolResult, SearchResult]:
        if not query.strip():
            raise ToolError("the query is empty")
        chosen = await anyio.to_thread.run_sync(checked_sources, sources)
        retrieval = await run(lambda engine: engine.retriever.search(query, k=k, sources=chosen))
        passages = [passage_json(passage) for passage in retrieval.passages]
        lines = [
            f"[{rank}] {p['source']}{', ' + p['location'] if p['location'] else ''} ({p['score']:.2f})\n{p['text']}"
            for rank, p in enumerate(passages, 1)
        ]
        text = "\n\n".join(lines) or "No passages."
        return CallToolResult(content=[TextContent(text=text)], structured_content={"passages": passages})

    @server.tool(
        name="list_documents",
        title="List the documents",
        description="The files in the index, with their chunk counts and when they were last changed.",
        annotations=READ_ONLY,
    )
    async def list_documents() -> Annotated[CallToolResult, DocumentsResult]:
        current = await anyio.to_thread.run_sync(overview, settings)
        documents = [
            {
                "source": record.source,
                "chunks": record.chunks,
                "size": record.size,
                "modified": datetime.fromtimestamp(record.mtime_ns / 1e9, UTC).isoformat(timespec="seconds"),
                "uri": RESOURCE_PREFIX + quote(record.source, safe="/"),
            }
            for record in current.documents
        ]
        lines = [f"{d['source']} ({d['chunks']} chunks, {d['modified'][:10]})" for d in documents]
        text = "\n".join(lines) or "The index holds no documents."
        return CallToolResult(
            content=[TextContent(text=text)], structured_content={"documents": documents, "chunks": current.chunks}
        )

    return server


def load_in_background(settings: Settings) -> Future[Engine]:
    """Open the index and load the model in a thread; the future holds the engine or the error."""
    future: Future[Engine] = Future()

    def load() -> None:
        try:
            engine = Engine(settings)
            engine.retriever.search("warm up", k=1)  # the model and the keyword index, before the first call
        except BaseException as exc:  # handed to every call, which reports it
            future.set_exception(exc)
            return
        future.set_result(engine)

    threading.Thread(target=load, name="qa-engine-load", daemon=True).start()
    return future


def unauthorized() -> JSONResponse:
    return JSONResponse(
        {"error": "Missing or incorrect API key: send the header 'Authorization: Bearer <QA_API_KEY>'."},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def bound_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (IPv6 when the host is)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host.strip("[]"), port))
    except OSError as exc:
        listening.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    listening.listen(2048)
    return listening


def serve(settings: Settings, transport: str = "stdio", host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until stdin closes (stdio) or until interrupted (HTTP)."""
    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    if transport == "http":
        if key is not None and not key.strip():
            raise ConfigError("QA_API_KEY is empty: set a key, or unset it to serve without one")
        if key is None and not is_loopback(host):
            raise ConfigError(
                f"refusing to serve MCP on {host} without a key: set QA_API_KEY (clients send "
                "'Authorization: Bearer <key>'), or bind 127.0.0.1"
            )
    elif transport != "stdio":
        raise ConfigError(f"unknown transport {transport!r}: stdio or http")
    engine = load_in_background(settings)
    server = create_server(settings, engine)
    try:
        if transport == "stdio":
            anyio.run(server.run_stdio_async)
        else:
            import uvicorn

            app: Any = server.streamable_http_app(host=host)
            if key is not None:
                app = BearerAuth(app, key, unauthorized)
            listening = bound_socket(host, port)
            # said once connections are accepted, so a script (or a test) can wait for this line
            log.warning("MCP server listening on http://%s:%d/mcp", host, listening.getsockname()[1])
            config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)
            uvicorn.Server(config).run(sockets=[listening])
    finally:
        if engine.done() and engine.exception() is None:
            engine.result().close()
