#!/usr/bin/env python3
"""Placeholder edge until the Gradio chat lands (issue 4): builds the index from seeds/ if there
is none, then answers questions typed on stdin with cited answers (follow-ups use the
conversation)."""

from __future__ import annotations

import argparse
import sys

from qa.cli import guarded, print_answer, quiet_third_parties, setup_logging


@guarded
def main(argv: list[str] | None = None) -> int:
    quiet_third_parties()
    parser = argparse.ArgumentParser(description="Ask questions about your documents (terminal placeholder).")
    parser.add_argument("--index", dest="index_dir", help="index folder (QA_INDEX_DIR)")
    parser.add_argument("--backend", help="extractive (default), openai or ollama (QA_BACKEND)")
    args = parser.parse_args(argv)
    setup_logging(quiet=False)

    from qa import Engine, ingest, load_settings, read_state

    settings = load_settings(index_dir=args.index_dir, backend=args.backend)
    if read_state(settings.index_dir) is None:
        print(f"No index yet: building one from {settings.documents_dir}/ ...", file=sys.stderr)
        print(ingest(None, settings, progress=sys.stderr.isatty()).summary(), file=sys.stderr)
    engine = Engine(settings)
    history: list[dict[str, str]] = []
    print("Ask a question about your documents (empty line or Ctrl-D to quit).", file=sys.stderr)
    for line in sys.stdin:
        question = line.strip()
        if not question:
            break
        answer = engine.answer(question, history)
        print_answer(answer, "")
        print()
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
    return 0


if __name__ == "__main__":
    sys.exit(main())
