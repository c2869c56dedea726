"""Start the web app: build the index first if there is none, load the model, serve the page."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from ..answering.engine import Engine
from ..config import Settings
from ..ingestion.pipeline import ingest
from ..store.overview import has_index

log = logging.getLogger("qa.app")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve_app(settings: Settings, started: float | None = None, watch: bool = False) -> None:
    """Serve until interrupted. `started`: when the process started, for the ready message;
    `watch`: keep the index in step with the documents folder as its files change."""
    started = time.perf_counter() if started is None else started
    if not has_index(settings):
        log.info("no index in %s yet: building one from %s/", settings.index_dir, settings.docs_dir)
        report = ingest([settings.docs_dir], settings, progress=sys.stderr.isatty())
        log.info("%s", report.summary())
    engine = Engine(settings)
    engine.answer("warm-up")  # load the model before the first user waits for it

    from .page import build  # imports gradio: after the index exists, so errors come first

    demo, app = build(settings, engine, watching=watch)
    url = launch(demo, app, settings)
    if watch:
        app.start_watching()
    log.info("serving on %s (ready %.1f s after start)", url, time.perf_counter() - started)
    try:
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        app.stop_watching()


def launch(demo: Any, app: Any, settings: Settings) -> str:
    """Serve the page `build` made in a thread: its queue, the login (failed ones throttled per
    user and address, sessions that end after settings.session_hours); the URL it serves on."""
    from starlette.middleware import Middleware

    from ..access.throttle import WINDOW_S, Throttle
    from .auth import ExpiringTokens, LoginGuard
    from .render import CSS

    demo.queue(default_concurrency_limit=settings.answer_concurrency)
    guard = []
    if app.users is not None:
        guard = [Middleware(LoginGuard, throttle=Throttle(settings.max_failed_logins, WINDOW_S, "login"))]
    elif settings.host not in LOCAL_HOSTS:
        log.warning("serving on %s without login: anyone who can reach it can read, upload and rebuild", settings.host)
    _, url, _ = demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=app.users.check if app.users else None,
        css=CSS,
        footer_links=["api"],
        prevent_thread_lock=True,
        quiet=True,
        app_kwargs={"middleware": guard},
    )
    if app.users is not None:  # before anyone can have logged in: the URL is only known now
        demo.server_app.tokens = ExpiringTokens(settings.session_hours * 3600)
    return str(url)
