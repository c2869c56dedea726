"""Ingest and rebuild for the app, in a child process (`python -m qa ingest --progress-json`).

Why a child: the app keeps answering from the live index while the child writes a new batch or
a new generation (readers follow the pointer, see index.py); the writer lock still allows one
writer; and a crash or an out-of-memory kill of the child cannot take the app down.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import IndexBusy, QAError
from .ingestion import Progress

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


class IngestJobError(QAError):
    """The ingest child failed; the message is its one-line error."""


class IngestRunner:
    """Runs one ingest child at a time and reports its progress."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def command(self, paths: Sequence[Path] | None, rebuild: bool) -> list[str]:
        settings = self.settings
        command = [sys.executable, "-m", "qa", "ingest", *(str(p) for p in paths or [])]
        command += ["--index", str(settings.index_dir), "--docs", str(settings.docs_dir), "--json", "--progress-json"]
        command += ["--model", settings.embedding_model]
        if not settings.outside_symlinks:
            command.append("--confine-symlinks")
        if settings.chroma_url:
            command += ["--chroma-url", settings.chroma_url]
        if rebuild:
            command.append("--rebuild")
        return command

    def run(
        self,
        paths: Sequence[Path] | None = None,
        *,
        rebuild: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> dict[str, Any]:
        """The child's `--json` report. Raises IndexBusy when a job already runs, IngestJobError
        when the child fails."""
        if not self._lock.acquire(blocking=False):
            raise IndexBusy("an ingest or rebuild is already running; try again when it has finished")
        try:
            return self._run(self.command(paths, rebuild), on_progress)
        finally:
            self._lock.release()

    def _run(self, command: list[str], on_progress: Callable[[Progress], None] | None) -> dict[str, Any]:
        log.info("running %s", " ".join(command))
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8"
        )
        problems: list[str] = []
        assert process.stderr is not None and process.stdout is not None
        for line in process.stderr:  # the report on stdout is small: reading stderr first cannot deadlock
            line = line.rstrip("\n")
            if line.startswith('{"progress"'):
                if on_progress is not None:
                    on_progress(Progress(**json.loads(line)["progress"]))
                continue
            if line:
                log.info("ingest: %s", line)
                problems.append(line)
        output = process.stdout.read()
        code = process.wait()
        if code != 0:
            errors = [line for line in problems if line.startswith("error:")]
            reason = errors[-1].removeprefix("error:").strip() if errors else (problems[-1] if problems else "")
            raise IngestJobError(f"ingest failed (exit code {code}): {reason or 'no message'}")
        try:
            return dict(json.loads(output))
        except ValueError as exc:
            raise IngestJobError(f"ingest printed no report: {output[:200]!r}") from exc
