"""Command-line edges: argument parsing, logging setup, and QAError -> one line + exit 1.

`qa` (and `python -m qa`) ask | ingest | search | stats | check | serve | mcp | app; `python ingest.py`
and `python app.py` are the same as `qa ingest` and `qa app`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from .errors import QAError

log = logging.getLogger("qa")


def quiet_third_parties() -> None:
    """No telemetry or hub calls from the libraries, before any of them is imported."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("LANGSMITH_TRACING", "false")  # LangChain traces only when asked to
    os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")


def setup_logging(quiet: bool, verbose: bool = False) -> None:
    level = logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)
    for noisy in ("bm25s", "chromadb", "httpx", "sentence_transformers", "transformers", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def ingest_parser(prog: str = "ingest.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Ingest documents (text, HTML, PDF, Office, OpenDocument, mail, e-books, scans) into the index, "
        "incrementally.",
    )
    parser.add_argument("paths", nargs="*", help="files or folders (default: those already indexed, else seeds/)")
    parser.add_argument("--index", dest="index_dir", help="index folder (QA_INDEX_DIR, default vectorstore/)")
    parser.add_argument("--docs", dest="docs_dir", help="documents folder used when no PATH is given (QA_DOCS_DIR)")
    parser.add_argument("--chroma-url", help="use a Chroma server, e.g. http://127.0.0.1:8000 (QA_CHROMA_URL)")
    parser.add_argument("--model", dest="embedding_model", help="embedding model name or folder (QA_EMBEDDING_MODEL)")
    parser.add_argument("--rebuild", action="store_true", help="build a fresh index, switch to it when complete")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no summary, only errors")
    parser.add_argument("--strict", action="store_true", help="fail on the first file that cannot be ingested")
    parser.add_argument(
        "--confine-symlinks",
        action="store_true",
        help="do not follow symlinks that lead outside the folders given (QA_OUTSIDE_SYMLINKS=false)",
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="after ingesting, keep the index in step with the folders (re-ingest on every change; Ctrl-C stops)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log each batch written")
    parser.add_argument(
        "--progress-json", action="store_true", help="print progress as JSON lines on stderr (for the app)"
    )
    return parser


def run_ingest(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .ingestion.pipeline import ingest

    settings = load_settings(
        index_dir=args.index_dir,
        chroma_url=args.chroma_url,
        embedding_model=args.embedding_model,
        docs_dir=args.docs_dir,
        outside_symlinks=False if args.confine_symlinks else None,
    )
    show_progress = not args.quiet and not args.progress_json and sys.stderr.isatty()

    def emit(progress: Any) -> None:
        print(json.dumps({"progress": progress.to_json()}), file=sys.stderr, flush=True)

    report = ingest(
        args.paths or None,
        settings,
        rebuild=args.rebuild,
        strict=args.strict,
        progress=show_progress,
        on_progress=emit if args.progress_json else None,
    )
    print_report(report, args)
    if args.watch:
        return keep_in_sync(report.roots, settings, args)
    return 0


def print_report(report: Any, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(report.to_json()), flush=True)
    elif not args.quiet:
        print(report.summary(), flush=True)


def keep_in_sync(roots: list[str], settings: Any, args: argparse.Namespace) -> int:
    """`ingest.py --watch`: one report (or error line) per sync, until Ctrl-C."""
    from .ingestion.pipeline import ingest
    from .ingestion.watch import Sync, watch

    def ready() -> None:
        print(f"watching {', '.join(roots)} for changes (Ctrl-C stops)", file=sys.stderr, flush=True)

    def synced(sync: Sync) -> None:
        if sync.error is not None:
            print(f"error: {sync.error} (still watching)", file=sys.stderr, flush=True)
        else:
            print_report(sync.report, args)

    try:
        watch(roots, settings.index_dir, lambda: ingest(roots, settings), synced, ready=ready)
    except KeyboardInterrupt:
        print("stopped watching", file=sys.stderr, flush=True)
    return 0


def guarded(main: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], int]:
    """Run `main`; a QAError becomes one line on stderr and exit code 1."""

    def wrapper(argv: Sequence[str] | None = None) -> int:
        try:
            return main(argv)
        except QAError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return 130

    return wrapper


@guarded
def ingest_main(argv: Sequence[str] | None = None) -> int:
    quiet_third_parties()
    args = ingest_parser().parse_args(argv)
    setup_logging(args.quiet, args.verbose)
    return run_ingest(args)


def _search_cmd(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .store.reader import IndexReader

    settings = load_settings(index_dir=args.index_dir, chroma_url=args.chroma_url)
    reader = IndexReader(settings)
    passages = reader.search(args.query, k=args.k)
    if args.json:
        print(json.dumps([passage.__dict__ for passage in passages]))
    else:
        for rank, passage in enumerate(passages, 1):
            where = passage.source + (
                f", {passage.location}" if passage.location else f" p.{passage.page}" if passage.page else ""
            )
            print(f"[{rank}] {where} ({passage.score:.3f})\n    {passage.text[:300]!s}\n")
    return 0


def _stats_cmd(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .store.reader import IndexReader

    settings = load_settings(index_dir=args.index_dir, chroma_url=args.chroma_url)
    reader = IndexReader(settings)
    assert reader.state is not None
    state, embeddings = reader.state, reader.embeddings
    stats = {
        **state.__dict__,
        "chunks": reader.count(),
        "index_dir": str(settings.index_dir),
        # what built the vectors (an index from before this was recorded: what embeds now)
        "embedding_dtype": state.embedding_dtype or embeddings.dtype,
        "embedding_backend": state.embedding_backend or embeddings.backend,
        # what this configuration embeds questions with (another format of the same model is fine)
        "query_embedding": {"dtype": embeddings.dtype, "backend": embeddings.backend},
    }
    print(json.dumps(stats, indent=None if args.json else 2))
    return 0


def print_answer(answer: Any, streamed: str) -> None:
    """The short answer, the checked answer (again, if it differs from what streamed), then its
    sources."""
    if answer.short:
        print(("\n\n" if streamed else "") + f"Answer: {answer.short}\n")
    if answer.text != streamed.strip():
        if streamed:
            print("\n\nChecked answer:")
        print(answer.text)
    else:
        print()
    if answer.fallback:
        print(f"\n(The {answer.backend} backend failed: {answer.error}. This is the extractive answer.)")
    for claim in answer.claims:
        if claim.verdict == "contradicted":
            sources = ", ".join(f"[{n}]" for n in claim.citations)
            print(f"\n(Contradicted by {sources}: {claim.text!r}: {claim.reason})")
        elif claim.verdict == "unsupported":
            print(f"\n(Not supported by the documents: {claim.text!r}: {claim.reason})")
    if answer.citations:
        print("\nSources:")
    for citation in answer.citations:
        where = citation.source + (
            f", {citation.location}" if citation.location else f", p. {citation.page}" if citation.page else ""
        )
        title = f" - {citation.title}" if citation.title else ""
        print(f"[{citation.n}] {where}{title} (score {citation.score:.2f})\n    \u201c{citation.quote}\u201d")


def _ask_cmd(args: argparse.Namespace) -> int:
    from datetime import date

    from .answering.engine import Engine
    from .config import load_settings
    from .errors import ConfigError
    from .types import Answer

    settings = load_settings(index_dir=args.index_dir, chroma_url=args.chroma_url, backend=args.backend, top_k=args.k)
    try:
        as_of = date.fromisoformat(args.as_of) if args.as_of else None
    except ValueError as exc:
        raise ConfigError(f"--as-of wants a date like 2022-06-16, got {args.as_of!r}") from exc
    engine = Engine(settings)
    streamed = ""
    final = None
    live = not args.json and settings.backend != "extractive"
    for event in engine.stream(args.question, sources=args.source or None, as_of=as_of):
        if isinstance(event, Answer):
            final = event
        elif live:
            streamed += event
            print(event, end="", flush=True)
    assert final is not None
    if args.json:
        print(json.dumps(final.to_json(), ensure_ascii=False))
    else:
        print_answer(final, streamed)
    return 0


def _check_cmd(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .store.check import check, format_report

    settings = load_settings(index_dir=args.index_dir, chroma_url=args.chroma_url)
    report = check(settings, repair=args.repair)
    print(format_report(report, args.json))
    return 0 if report.consistent or report.repaired else 1


def _serve_cmd(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .openai_api import serve

    settings = load_settings(index_dir=args.index_dir, chroma_url=args.chroma_url, backend=args.backend)
    level = "error" if args.quiet else "debug" if args.verbose else "info"
    serve(settings, host=args.host, port=args.port, log_level=level)
    return 0


def _mcp_cmd(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .mcp_server import serve

    settings = load_settings(index_dir=args.index_dir, chroma_url=args.chroma_url, backend=args.backend)
    serve(settings, transport=args.transport, host=args.host, port=args.port)
    return 0


def _index_options(command: argparse.ArgumentParser, json_output: bool = True) -> None:
    """The options every reading command shares."""
    command.add_argument("--index", dest="index_dir", help="index folder (QA_INDEX_DIR)")
    command.add_argument("--chroma-url", help="Chroma server (QA_CHROMA_URL)")
    if json_output:
        command.add_argument("--json", action="store_true", help="print one JSON object")
    command.add_argument("--quiet", action="store_true")
    command.add_argument("-v", "--verbose", action="store_true")


def app_parser(prog: str = "app.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Serve the chat over your documents.", add_help=False)
    parser.add_argument("-h", "--help", action="help", help="show this help message and exit")
    parser.add_argument("--index", dest="index_dir", help="index folder (QA_INDEX_DIR, default vectorstore/)")
    parser.add_argument(
        "--docs", dest="docs_dir", help="documents folder: uploads and rebuilds (QA_DOCS_DIR, default seeds/)"
    )
    parser.add_argument("--host", help="address to bind (QA_HOST, default 127.0.0.1; 0.0.0.0 exposes the app)")
    parser.add_argument("--port", type=int, help="port (QA_PORT, default 7860)")
    parser.add_argument("--backend", help="extractive (default), openai, ollama or local (QA_BACKEND)")
    parser.add_argument(
        "--watch", action="store_true", help="keep the index in step with the documents folder as files change"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.set_defaults(quiet=False)
    return parser


def run_app(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .web.launch import serve_app

    logging.getLogger("qa").setLevel(logging.INFO)
    # The documents folder is what web users may read: symlinks out of it are never followed.
    settings = load_settings(
        index_dir=args.index_dir,
        docs_dir=args.docs_dir,
        host=args.host,
        port=args.port,
        backend=args.backend,
        outside_symlinks=False,
    )
    serve_app(settings, started=args.started, watch=args.watch)
    return 0


@guarded
def app_main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    quiet_third_parties()  # before gradio is imported: no analytics, no hub calls
    args = app_parser().parse_args(argv)
    args.started = started
    setup_logging(quiet=False, verbose=args.verbose)
    return run_app(args)


@guarded
def qa_main(argv: Sequence[str] | None = None) -> int:
    """qa ask|ingest|search|stats|check|serve|mcp|app"""
    started = time.perf_counter()
    quiet_third_parties()
    parser = argparse.ArgumentParser(prog="qa", description="Ask your documents; every answer cites its sources.")
    commands = parser.add_subparsers(dest="command", required=True)
    ingest_cmd = commands.add_parser("ingest", parents=[ingest_parser("ingest")], add_help=False)
    ingest_cmd.set_defaults(handler=run_ingest)
    ask = commands.add_parser("ask", help="answer a question from the documents, with citations")
    ask.add_argument("question")
    ask.add_argument("--backend", help="extractive (default), openai, ollama or local (QA_BACKEND)")
    ask.add_argument("--k", "-k", type=int, help="passages to answer from (QA_TOP_K, default 4)")
    ask.add_argument("--source", action="append", help="only passages of this file (as ingested); repeatable")
    ask.add_argument("--as-of", help="the date the question is asked on, for 'this week' (default today)")
    _index_options(ask)
    ask.set_defaults(handler=_ask_cmd)
    for name, handler, text in (("search", _search_cmd, "nearest passages"), ("stats", _stats_cmd, "index facts")):
        sub = commands.add_parser(name, help=text)
        if name == "search":
            sub.add_argument("query")
            sub.add_argument("-k", type=int, default=4)
        _index_options(sub)
        sub.set_defaults(handler=handler)
    check_cmd = commands.add_parser("check", help="find (and --repair) drift between vectors, records and BM25")
    check_cmd.add_argument("--repair", action="store_true", help="fix what is found (takes the write lock)")
    _index_options(check_cmd)
    check_cmd.set_defaults(handler=_check_cmd)
    serve_cmd = commands.add_parser("serve", help="OpenAI-compatible chat API (/v1/chat/completions) with citations")
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve_cmd.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve_cmd.add_argument("--backend", help="extractive (default), openai, ollama or local (QA_BACKEND)")
    _index_options(serve_cmd, json_output=False)
    serve_cmd.set_defaults(handler=_serve_cmd)
    mcp_cmd = commands.add_parser(
        "mcp", help="MCP server: ask, search and list_documents tools for assistants and editors"
    )
    mcp_cmd.add_argument(
        "--transport",
        choices=("stdio", "http"),
        default="stdio",
        help="stdio (default; what a client launches) or http (Streamable HTTP at http://HOST:PORT/mcp)",
    )
    mcp_cmd.add_argument("--host", default="127.0.0.1", help="address to bind over http (default 127.0.0.1)")
    mcp_cmd.add_argument("--port", type=int, default=8765, help="port over http (default 8765)")
    mcp_cmd.add_argument("--backend", help="extractive (default), openai, ollama or local (QA_BACKEND)")
    _index_options(mcp_cmd, json_output=False)
    mcp_cmd.set_defaults(handler=_mcp_cmd)
    app_cmd = commands.add_parser(
        "app", parents=[app_parser("qa app")], add_help=False, help="the web app (same as python app.py)"
    )
    app_cmd.set_defaults(handler=run_app, started=started)
    args = parser.parse_args(argv)
    setup_logging(args.quiet, args.verbose)
    return int(args.handler(args))
