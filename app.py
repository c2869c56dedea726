#!/usr/bin/env python3
"""Placeholder edge until the Gradio chat lands (issue 4): builds the index from seeds/ if there
is none, then answers questions typed on stdin with the passages that match best."""

from __future__ import annotations

import argparse
import sys

from qa.cli import guarded, quiet_third_parties, setup_logging


@guarded
def main(argv: list[str] | None = None) -> int:
    quiet_third_parties()
    parser = argparse.ArgumentParser(description="Ask questions about your documents (terminal placeholder).")
    parser.add_argument("--index", dest="index_dir", help="index folder (QA_INDEX_DIR)")
    parser.add_argument("-k", type=int, default=3, help="passages to show per question")
    args = parser.parse_args(argv)
    setup_logging(quiet=False)

    from qa import IndexReader, ingest, load_settings, read_state

    settings = load_settings(index_dir=args.index_dir)
    if read_state(settings.index_dir) is None:
        print(f"No index yet: building one from {settings.documents_dir}/ ...", file=sys.stderr)
        print(ingest(None, settings, progress=sys.stderr.isatty()).summary(), file=sys.stderr)
    reader = IndexReader(settings)
    print("Ask a question about your documents (empty line or Ctrl-D to quit).", file=sys.stderr)
    for line in sys.stdin:
        question = line.strip()
        if not question:
            break
        for rank, passage in enumerate(reader.search(question, k=args.k), 1):
            page = f", page {passage.page}" if passage.page else ""
            print(f"[{rank}] {passage.source}{page} (score {passage.score:.2f})\n{passage.text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
