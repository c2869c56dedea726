"""Folders that stay in sync: after a first ingest, watch the folders (watchfiles) and run the
same incremental ingest whenever files under them are added, changed or removed, debounced so a
burst of saves is one run (`ingest.py --watch` runs it in-process, the app in its ingest child).
Each run is an ordinary ingest (crash-safe, atomic to readers); a run that fails is reported and
the watching goes on. Stops when `stop` is set (or on Ctrl-C)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from ..errors import QAError
from ..types import IngestReport
from .loaders import is_supported

log = logging.getLogger(__name__)

DEBOUNCE_MS = 1000  # changes this close together make one run


class Sync:
    """One run the watcher made: its report, or the error that stopped it, and when it ended."""

    def __init__(self, report: IngestReport | None, error: QAError | None) -> None:
        self.report = report
        self.error = error
        self.at = datetime.now(UTC)


def relevant(index_dir: Path) -> Callable[[object, str], bool]:
    """A watchfiles filter: files ingest reads (by extension; any path without one, a folder
    maybe), not hidden or an editor's temporary file, not inside the index folder (its own
    writes would start run after run)."""
    index = index_dir.resolve()

    def accept(_change: object, path: str) -> bool:
        candidate = Path(path)
        if candidate.name.startswith((".", "~")) or candidate.name.endswith("~"):
            return False
        if candidate.absolute().is_relative_to(index) or candidate.absolute().is_relative_to(index_dir.absolute()):
            return False
        return is_supported(candidate) or not candidate.suffix

    return accept


def watch(
    roots: Sequence[str | Path],
    index_dir: Path,
    run: Callable[[], IngestReport],
    on_sync: Callable[[Sync], None],
    *,
    stop: threading.Event | None = None,
    debounce_ms: int = DEBOUNCE_MS,
    ready: Callable[[], None] | None = None,
) -> None:
    """Call `run` (an incremental ingest of `roots`) after each burst of changes under them,
    until `stop` is set. `ready` is called once the watch is in place (a test waits on it before
    touching files)."""
    import watchfiles

    folders = [Path(root) for root in roots]
    watched = [folder if folder.is_dir() else folder.parent for folder in folders]
    changes = watchfiles.watch(
        *watched,
        watch_filter=relevant(index_dir),
        debounce=debounce_ms,
        stop_event=stop,
        yield_on_timeout=True,
        rust_timeout=500,
        raise_interrupt=True,
    )
    announced = False
    for batch in changes:
        if not announced and ready is not None:
            ready()
            announced = True
        if not batch:
            continue
        log.info("%d change(s): syncing %s", len(batch), ", ".join(map(str, folders)))
        try:
            report = run()
        except QAError as exc:
            log.warning("sync failed: %s", exc)
            on_sync(Sync(None, exc))
            continue
        on_sync(Sync(report, None))
