"""Command-line edges: argument parsing, logging setup, and QAError -> one line + exit 1.

`qa` (and `python -m qa`) ask | ingest | search | stats | check | collections | serve | mcp | app; `python ingest.py`
and `python app.py` are the same as `qa ingest` and `qa app`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import commands
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
    parser.add_argument(
        "--collection", help="the collection to ingest into, made if new (QA_COLLECTION, default: default)"
    )
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
    from .store.collections import ensure

    settings = load_settings(
        index_dir=args.index_dir,
        collection=args.collection,
        chroma_url=args.chroma_url,
        embedding_model=args.embedding_model,
        docs_dir=args.docs_dir,
        outside_symlinks=False if args.confine_symlinks else None,
    )
    ensure(settings)
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

    _stop_on_signals()
    try:
        watch(roots, settings.index_dir, lambda: ingest(roots, settings), synced, ready=ready)
    except KeyboardInterrupt:
        print("stopped watching", file=sys.stderr, flush=True)
    return 0


def _stop_on_signals() -> None:
    """Ctrl-C (SIGINT) stops a watch cleanly, whatever the parent left behind: a process started
    in the background by a shell inherits SIGINT ignored, and one started by a process that has
    it blocked (seen from a pytest worker after other tests) inherits it blocked; either would
    never stop on it."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


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


def _index_options(command: argparse.ArgumentParser, json_output: bool = True) -> None:
    """The options every reading command shares."""
    command.add_argument("--index", dest="index_dir", help="index folder (QA_INDEX_DIR)")
    command.add_argument("--collection", help="the collection (QA_COLLECTION, default: default)")
    command.add_argument("--chroma-url", help="Chroma server (QA_CHROMA_URL)")
    if json_output:
        command.add_argument("--json", action="store_true", help="print one JSON object")
    command.add_argument("--quiet", action="store_true")
    command.add_argument("-v", "--verbose", action="store_true")


def _server_options(command: argparse.ArgumentParser, port: int) -> None:
    """The options of a command that serves over HTTP (serve; mcp with --transport http)."""
    command.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    command.add_argument("--port", type=int, default=port, help=f"port (default {port})")
    command.add_argument("--backend", help="extractive (default), openai, ollama or local (QA_BACKEND)")
    _index_options(command, json_output=False)


def app_parser(prog: str = "app.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Serve the chat over your documents.", add_help=False)
    parser.add_argument("-h", "--help", action="help", help="show this help message and exit")
    parser.add_argument("--index", dest="index_dir", help="index folder (QA_INDEX_DIR, default vectorstore/)")
    parser.add_argument(
        "--docs", dest="docs_dir", help="documents folder: uploads and rebuilds (QA_DOCS_DIR, default seeds/)"
    )
    parser.add_argument("--collection", help="the collection the app serves and manages (QA_COLLECTION)")
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
    from .store.collections import ensure
    from .web.launch import serve_app

    logging.getLogger("qa").setLevel(logging.INFO)
    # The documents folder is what web users may read: symlinks out of it are never followed.
    settings = load_settings(
        index_dir=args.index_dir,
        collection=args.collection,
        docs_dir=args.docs_dir,
        host=args.host,
        port=args.port,
        backend=args.backend,
        outside_symlinks=False,
    )
    ensure(settings)
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
    """qa ask|ingest|search|stats|check|collections|serve|mcp|app"""
    started = time.perf_counter()
    quiet_third_parties()
    parser = argparse.ArgumentParser(prog="qa", description="Ask your documents; every answer cites its sources.")
    subcommands = parser.add_subparsers(dest="command", required=True)
    ingest_cmd = subcommands.add_parser("ingest", parents=[ingest_parser("ingest")], add_help=False)
    ingest_cmd.set_defaults(handler=run_ingest)
    ask = subcommands.add_parser("ask", help="answer a question from the documents, with citations")
    ask.add_argument("question")
    ask.add_argument("--backend", help="extractive (default), openai, ollama or local (QA_BACKEND)")
    ask.add_argument("--k", "-k", type=int, help="passages to answer from (QA_TOP_K, default 4)")
    ask.add_argument("--source", action="append", help="only passages of this file (as ingested); repeatable")
    ask.add_argument("--as-of", help="the date the question is asked on, for 'this week' (default today)")
    _index_options(ask)
    ask.set_defaults(handler=commands.ask_cmd)
    for name, handler, text in (
        ("search", commands.search_cmd, "nearest passages"),
        ("stats", commands.stats_cmd, "index facts"),
    ):
        sub = subcommands.add_parser(name, help=text)
        if name == "search":
            sub.add_argument("query")
            sub.add_argument("-k", type=int, default=4)
        _index_options(sub)
        sub.set_defaults(handler=handler)
    check_cmd = subcommands.add_parser("check", help="find (and --repair) drift between vectors, records and BM25")
    check_cmd.add_argument("--repair", action="store_true", help="fix what is found (takes the write lock)")
    _index_options(check_cmd)
    check_cmd.set_defaults(handler=commands.check_cmd)
    serve_cmd = subcommands.add_parser("serve", help="OpenAI-compatible chat API (/v1/chat/completions) with citations")
    _server_options(serve_cmd, port=8000)
    serve_cmd.set_defaults(handler=commands.serve_cmd)
    collections_cmd = subcommands.add_parser(
        "collections", help="list the collections (documents, chunks); create, rename or delete one"
    )
    _index_options(collections_cmd)
    where = argparse.ArgumentParser(add_help=False)  # --index after the action too
    where.add_argument("--index", dest="index_dir", default=argparse.SUPPRESS, help="index folder (QA_INDEX_DIR)")
    where.add_argument("--chroma-url", default=argparse.SUPPRESS, help="Chroma server (QA_CHROMA_URL)")
    actions = collections_cmd.add_subparsers(dest="action")
    create = actions.add_parser("create", parents=[where], help="a new, empty collection")
    create.add_argument("name")
    create.add_argument("--docs", help="its documents folder (default: INDEX/documents/NAME)")
    rename = actions.add_parser("rename", parents=[where], help="rename a collection (not while it is being ingested)")
    rename.add_argument("name")
    rename.add_argument("new_name")
    delete = actions.add_parser("delete", parents=[where], help="delete a collection's index (asks first)")
    delete.add_argument("name")
    delete.add_argument("--documents", action="store_true", help="also delete its documents folder")
    delete.add_argument("--yes", action="store_true", help="do not ask")
    collections_cmd.set_defaults(handler=commands.collections_cmd)
    mcp_cmd = subcommands.add_parser(
        "mcp", help="MCP server: ask, search and list_documents tools for assistants and editors"
    )
    mcp_cmd.add_argument(
        "--transport",
        choices=("stdio", "http"),
        default="stdio",
        help="stdio (default; what a client launches) or http (Streamable HTTP at http://HOST:PORT/mcp)",
    )
    _server_options(mcp_cmd, port=8765)
    mcp_cmd.set_defaults(handler=commands.mcp_cmd)
    app_cmd = subcommands.add_parser(
        "app", parents=[app_parser("qa app")], add_help=False, help="the web app (same as python app.py)"
    )
    app_cmd.set_defaults(handler=run_app, started=started)
    args = parser.parse_args(argv)
    setup_logging(args.quiet, args.verbose)
    return int(args.handler(args))
