#!/usr/bin/env python3
"""The web app: `python app.py` serves a chat over your documents on http://127.0.0.1:7860.

If there is no index yet it is built from the documents folder (seeds/ by default) first, with
progress on the terminal. See README.md for the settings (QA_* variables or the flags below)."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from qa.cli import guarded, quiet_third_parties, setup_logging

log = logging.getLogger("qa.app")


@guarded
def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    quiet_third_parties()  # before gradio is imported: no analytics, no hub calls
    parser = argparse.ArgumentParser(description="Serve the chat over your documents.")
    parser.add_argument("--index", dest="index_dir", help="index folder (QA_INDEX_DIR, default vectorstore/)")
    parser.add_argument("--docs", dest="docs_dir", help="documents folder: uploads and rebuilds (QA_DOCS_DIR, default seeds/)")
    parser.add_argument("--host", help="address to bind (QA_HOST, default 127.0.0.1; 0.0.0.0 exposes the app)")
    parser.add_argument("--port", type=int, help="port (QA_PORT, default 7860)")
    parser.add_argument("--backend", help="extractive (default), openai, ollama or local (QA_BACKEND)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(quiet=False, verbose=args.verbose)
    logging.getLogger("qa").setLevel(logging.INFO)

    from qa import Engine, ingest, load_settings, read_state

    # The documents folder is what web users may read: symlinks out of it are never followed.
    settings = load_settings(
        index_dir=args.index_dir,
        docs_dir=args.docs_dir,
        host=args.host,
        port=args.port,
        backend=args.backend,
        outside_symlinks=False,
    )
    if read_state(settings.index_dir) is None:
        log.info("no index in %s yet: building one from %s/", settings.index_dir, settings.docs_dir)
        report = ingest([settings.docs_dir], settings, progress=sys.stderr.isatty())
        log.info("%s", report.summary())
    engine = Engine(settings)
    engine.answer("warm-up")  # load the model before the first user waits for it

    from qa.webapp import CSS, build

    demo, app = build(settings, engine)
    demo.queue(default_concurrency_limit=settings.answer_concurrency)
    if settings.host not in ("127.0.0.1", "localhost", "::1") and app.users is None:
        log.warning("serving on %s without login: anyone who can reach it can read, upload and rebuild", settings.host)
    _, url, _ = demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=app.users.check if app.users else None,
        css=CSS,
        footer_links=["api"],
        prevent_thread_lock=True,
        quiet=True,
    )
    log.info("serving on %s (ready %.1f s after start)", url, time.perf_counter() - started)
    try:
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
