"""The `qa` subcommands that read a collection or manage them (search, stats, ask, check, serve,
mcp, collections): each turns its parsed arguments into settings, runs, and prints. Parsing, logging
and the error edge are `cli`'s."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def reading_settings(args: argparse.Namespace, **overrides: Any) -> Any:
    """The settings of a command that reads a collection, which must exist."""
    from .config import load_settings
    from .store.collections import settings_for

    settings = load_settings(
        index_dir=args.index_dir, collection=args.collection, chroma_url=args.chroma_url, **overrides
    )
    return settings_for(settings, settings.collection)


def search_cmd(args: argparse.Namespace) -> int:
    from .store.reader import IndexReader

    settings = reading_settings(args)
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


def stats_cmd(args: argparse.Namespace) -> int:
    from .store.reader import IndexReader

    settings = reading_settings(args)
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


def ask_cmd(args: argparse.Namespace) -> int:
    from datetime import date

    from .answering.engine import Engine
    from .errors import ConfigError
    from .types import Answer

    settings = reading_settings(args, backend=args.backend, top_k=args.k)
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


def check_cmd(args: argparse.Namespace) -> int:
    from .store.check import check, format_report

    settings = reading_settings(args)
    report = check(settings, repair=args.repair)
    print(format_report(report, args.json))
    return 0 if report.consistent or report.repaired else 1


def serve_cmd(args: argparse.Namespace) -> int:
    from .openai_api import serve

    settings = reading_settings(args, backend=args.backend)
    level = "error" if args.quiet else "debug" if args.verbose else "info"
    serve(settings, host=args.host, port=args.port, log_level=level)
    return 0


def mcp_cmd(args: argparse.Namespace) -> int:
    from .mcp_server import serve

    settings = reading_settings(args, backend=args.backend)
    serve(settings, transport=args.transport, host=args.host, port=args.port)
    return 0


def collections_cmd(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .config import load_settings
    from .errors import ConfigError
    from .store import collections

    settings = load_settings(index_dir=args.index_dir, chroma_url=args.chroma_url)
    action = args.action or "list"
    if action == "create":
        made = collections.create(settings, args.name, Path(args.docs) if args.docs else None)
        print(f"created collection {args.name!r}: documents in {made.docs_dir}; ingest with --collection {args.name}")
    elif action == "rename":
        collections.rename(settings, args.name, args.new_name)
        print(f"renamed collection {args.name!r} to {args.new_name!r}")
    elif action == "delete":
        target = collections.settings_for(settings, args.name)
        documents = f" and its documents in {target.docs_dir}" if args.documents else ""
        what = f"collection {args.name!r} (its index{documents})"
        if not args.yes:
            if not sys.stdin.isatty():
                raise ConfigError(f"deleting {what} needs --yes when not asked at a terminal")
            reply = input(f"Delete {what}? This cannot be undone. Type the collection's name to confirm: ")
            if reply.strip() != args.name:
                print("not deleted", file=sys.stderr)
                return 1
        collections.delete(settings, args.name, remove_documents=args.documents)
        print(f"deleted {what}")
    else:
        listed = collections.list_collections(settings)
        if args.json:
            print(json.dumps([info.to_json() for info in listed]))
        else:
            for info in listed:
                print(f"{info.name}: {info.documents} documents, {info.chunks} chunks (documents in {info.docs_dir})")
    return 0
