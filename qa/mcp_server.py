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
from collections.abc import Iterable
from concurrent.futures import Future
from contextvars import ContextVar
from datetime import UTC, datetime
from importlib import metadata
from typing import Annotated, Any
from urllib.parse import quote, unquote

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import CallToolResult, Resource, TextContent, ToolAnnotations
from pydantic import AnyUrl, Field
from starlette.responses import JSONResponse

from .answering.engines import EnginePool
from .config import Settings
from .errors import ConfigError, QAError
from .http_auth import KeyAuth, ServerAccess, is_loopback, request_user, server_access
from .mcp_results import (
    AskResult,
    CollectionsResult,
    DocumentsResult,
    SearchResult,
    Turn,
    answer_text,
    passage_json,
    stitched,
)
from .store import collections
from .store.overview import overview
from .types import Answer

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


#: the user the current call's key stands for (None: stdio, the server's own key, or no key)
CALLER: ContextVar[str | None] = ContextVar("qa_mcp_caller", default=None)


async def remember_caller(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Every message is handled knowing whose key sent it (KeyAuth left it in the HTTP scope)."""
    scope = getattr(ctx.request, "scope", None)
    token = CALLER.set(request_user(scope) if isinstance(scope, dict) else None)
    try:
        return await call_next(ctx)
    finally:
        CALLER.reset(token)


def resource_uri(source: str, collection: str, default: str) -> str:
    uri = RESOURCE_PREFIX + quote(source, safe="/")
    return uri if collection == default else f"{uri}?collection={quote(collection, safe='')}"


class DocumentsServer(MCPServer):
    """MCPServer whose resources are the documents of every collection, listed as they are now."""

    def __init__(self, engines: EnginePool, ready: Future[None], **options: Any) -> None:
        super().__init__(**options)
        self.engines = engines
        self.ready = ready  # set once the first engine (and the model) has loaded

    def _documents(self, user: str | None) -> list[tuple[str, Any]]:
        found = []
        for name in self.engines.names(user):
            found += [(name, record) for record in overview(self.engines.settings_of(name, user)).documents]
        return found

    async def list_resources(self) -> list[Resource]:
        documents = await anyio.to_thread.run_sync(self._documents, CALLER.get())
        return [
            Resource(
                uri=resource_uri(record.source, name, self.engines.default),
                name=record.source if name == self.engines.default else f"{name}: {record.source}",
                description=f"{record.chunks} chunks of collection {name}, as indexed",
                mime_type="text/plain",
            )
            for name, record in documents
        ] + await super().list_resources()

    async def read_resource(self, uri: AnyUrl | str, context: Any = None) -> Iterable[ReadResourceContents] | Any:
        if not str(uri).startswith(RESOURCE_PREFIX):
            return await super().read_resource(uri, context)
        path, _, query = str(uri)[len(RESOURCE_PREFIX) :].partition("?")
        source = unquote(path)
        collection = unquote(query.removeprefix("collection=")) if query.startswith("collection=") else None
        user = CALLER.get()

        def read() -> str:
            settings = self.engines.settings_of(collection, user)
            if overview(settings).document(source) is None:
                raise ResourceNotFoundError(f"no indexed document {source!r}: list_documents names them")
            return stitched(self.engines.get(collection, user).retriever.reader.document_passages(source))

        try:
            await anyio.to_thread.run_sync(self.ready.result)
            text = await anyio.to_thread.run_sync(read)
        except QAError as exc:
            raise ResourceError(str(exc)) from exc
        return [ReadResourceContents(content=text, mime_type="text/plain")]


def package_version() -> str:
    try:
        return metadata.version("qa")
    except metadata.PackageNotFoundError:  # run from a checkout without `pip install -e .`
        return "0"


COLLECTION_ARGUMENT = Field(description="The collection to use (list_collections names them); default: the server's.")


def create_server(engines: EnginePool, ready: Future[None] | None = None) -> DocumentsServer:
    """The MCP server over `engines` (`ready`: set when a background load has finished)."""
    if ready is None:
        ready = Future()
        ready.set_result(None)
    server = DocumentsServer(
        engines,
        ready,
        name="qa",
        version=package_version(),
        instructions=INSTRUCTIONS,
        middleware=[remember_caller],
    )
    limiter: list[anyio.CapacityLimiter] = []  # made in the event loop, on first use
    concurrency = engines.settings.answer_concurrency

    async def run(function: Any, collection: str | None, sources: list[str] | None) -> Any:
        """`function(engine, sources)` in a thread, on the collection's engine, sources checked."""
        if not limiter:
            limiter.append(anyio.CapacityLimiter(concurrency))

        user = CALLER.get()

        def call() -> Any:
            engine = engines.get(collection, user)
            return function(engine, checked_sources(engine.settings, sources))

        try:
            await anyio.to_thread.run_sync(ready.result)
            return await anyio.to_thread.run_sync(call, limiter=limiter[0])
        except QAError as exc:  # no such collection, no index yet, the store failed: the model may say so
            raise ToolError(str(exc)) from exc

    def checked_sources(settings: Settings, sources: list[str] | None) -> list[str] | None:
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
        collection: Annotated[str | None, COLLECTION_ARGUMENT] = None,
    ) -> Annotated[CallToolResult, AskResult]:
        if not question.strip():
            raise ToolError("the question is empty")
        turns = [turn.model_dump() for turn in history or []]
        answer: Answer = await run(
            lambda engine, chosen: engine.answer(question, turns, sources=chosen), collection, sources
        )
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
        collection: Annotated[str | None, COLLECTION_ARGUMENT] = None,
    ) -> Annotated[CallToolResult, SearchResult]:
        if not query.strip():
            raise ToolError("the query is empty")
        retrieval = await run(
            lambda engine, chosen: engine.retriever.search(query, k=k, sources=chosen), collection, sources
        )
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
        description="The files in a collection's index, with their chunk counts and when they were last changed.",
        annotations=READ_ONLY,
    )
    async def list_documents(
        collection: Annotated[str | None, COLLECTION_ARGUMENT] = None,
    ) -> Annotated[CallToolResult, DocumentsResult]:
        user = CALLER.get()

        def listing() -> Any:
            settings = engines.settings_of(collection, user)
            return settings.collection, overview(settings)

        try:
            name, current = await anyio.to_thread.run_sync(listing)
        except QAError as exc:
            raise ToolError(str(exc)) from exc
        documents = [
            {
                "source": record.source,
                "chunks": record.chunks,
                "size": record.size,
                "modified": datetime.fromtimestamp(record.mtime_ns / 1e9, UTC).isoformat(timespec="seconds"),
                "uri": resource_uri(record.source, name, engines.default),
            }
            for record in current.documents
        ]
        lines = [f"{d['source']} ({d['chunks']} chunks, {d['modified'][:10]})" for d in documents]
        text = "\n".join(lines) or "The collection holds no documents."
        return CallToolResult(
            content=[TextContent(text=text)],
            structured_content={"collection": name, "documents": documents, "chunks": current.chunks},
        )

    @server.tool(
        name="list_collections",
        title="List the collections",
        description="The collections of documents this server answers from, with their document and chunk "
        "counts; `ask`, `search` and `list_documents` take one as `collection`.",
        annotations=READ_ONLY,
    )
    async def list_collections() -> Annotated[CallToolResult, CollectionsResult]:
        visible = engines.visible_to(CALLER.get())
        listed = await anyio.to_thread.run_sync(collections.list_collections, engines.settings, visible)
        items = [
            {
                "name": info.name,
                "documents": info.documents,
                "chunks": info.chunks,
                "default": info.name == engines.default,
            }
            for info in listed
        ]
        text = "\n".join(f"{c['name']}: {c['documents']} documents, {c['chunks']} chunks" for c in items)
        return CallToolResult(content=[TextContent(text=text)], structured_content={"collections": items})

    return server


def load_in_background(engines: EnginePool) -> Future[None]:
    """Open the default collection and load the model in a thread; the future is set when done
    (or holds the error, which every call then reports)."""
    future: Future[None] = Future()

    def load() -> None:
        try:
            engines.get().retriever.search("warm up", k=1)  # the model and the keyword index, before a call
        except BaseException as exc:  # handed to every call, which reports it
            future.set_exception(exc)
            return
        future.set_result(None)

    threading.Thread(target=load, name="qa-engine-load", daemon=True).start()
    return future


def unauthorized() -> JSONResponse:
    return JSONResponse(
        {"error": "Missing or incorrect API key: send the header 'Authorization: Bearer <QA_API_KEY>'."},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def too_many(seconds: int) -> JSONResponse:
    return JSONResponse(
        {"error": f"Too many requests with a wrong API key from this address: try again in {seconds} s."},
        status_code=429,
        headers={"Retry-After": str(seconds)},
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


def http_app(server: DocumentsServer, access: ServerAccess, host: str = "127.0.0.1") -> Any:
    """The server's Streamable HTTP app, behind the keys `access` names (if any)."""
    app: Any = server.streamable_http_app(host=host)
    if access.needs_key:
        app = KeyAuth(app, **access.guard_options(unauthorized, too_many))
    return app


def serve(settings: Settings, transport: str = "stdio", host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until stdin closes (stdio) or until interrupted (HTTP)."""
    access = server_access(settings)
    if transport == "http":
        if not access.needs_key and not is_loopback(host):
            raise ConfigError(
                f"refusing to serve MCP on {host} without a key: set QA_API_KEY or QA_API_KEYS (clients "
                "send 'Authorization: Bearer <key>'), or bind 127.0.0.1"
            )
    elif transport != "stdio":
        raise ConfigError(f"unknown transport {transport!r}: stdio or http")
    engines = EnginePool(settings, users=access.users if transport == "http" else None)
    server = create_server(engines, load_in_background(engines))
    try:
        if transport == "stdio":
            anyio.run(server.run_stdio_async)
        else:
            import uvicorn

            app = http_app(server, access, host)
            listening = bound_socket(host, port)
            # said once connections are accepted, so a script (or a test) can wait for this line
            log.warning("MCP server listening on http://%s:%d/mcp", host, listening.getsockname()[1])
            config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)
            uvicorn.Server(config).run(sockets=[listening])
    finally:
        engines.close()
