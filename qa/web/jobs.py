"""Ingest and rebuild for the app, in a child process (`python -m qa ingest --progress-json`).

Why a child: the app keeps answering from the live index while the child writes a new batch or
a new generation (readers follow the pointer, see qa.store); the writer lock still allows one
writer; and a crash or an out-of-memory kill of the child cannot take the app down. The child
gets the app's whole settings object (QA_SETTINGS_JSON), so every override reaches it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from ..config import Settings
from ..errors import IndexBusy, IngestJobError
from ..types import IngestReport, Progress

log = logging.getLogger(__name__)
#: The folder holding the qa package: the child imports the same code, installed or not.
PACKAGE_PARENT = Path(__file__).resolve().parents[2]


class IngestRunner:
    """Runs one ingest child at a time and reports its progress."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def wait_idle(self) -> None:
        """Return once no job runs (the next may start at once: `run` still says IndexBusy)."""
        with self._lock:
            pass

    def command(self, paths: Sequence[Path] | None, rebuild: bool) -> list[str]:
        command = [sys.executable, "-m", "qa", "ingest", *(str(p) for p in paths or []), "--json", "--progress-json"]
        return command + ["--rebuild"] if rebuild else command

    def environment(self) -> dict[str, str]:
        """This process's environment, the settings, and the package on the import path."""
        path = os.pathsep.join(p for p in (str(PACKAGE_PARENT), os.environ.get("PYTHONPATH", "")) if p)
        return {**os.environ, **self.settings.for_child(), "PYTHONPATH": path}

    def run(
        self,
        paths: Sequence[Path] | None = None,
        *,
        rebuild: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> IngestReport:
        """The child's report. Raises IndexBusy when a job already runs, IngestJobError when the
        child fails."""
        if not self._lock.acquire(blocking=False):
            raise IndexBusy("an ingest or rebuild is already running; try again when it has finished")
        try:
            return self._run(self.command(paths, rebuild), on_progress)
        finally:
            self._lock.release()

    def _run(self, command: list[str], on_progress: Callable[[Progress], None] | None) -> IngestReport:
        log.info("running %s", " ".join(command))
        process = subprocess.Popen(
            command,
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        problems: list[str] = []
        assert process.stderr is not None and process.stdout is not None
        for line in process.stderr:  # the report on stdout is small: reading stderr first cannot deadlock
            line = line.rstrip("\n")
            if line.startswith('{"progress"'):
                if on_progress is not None:
                    on_progress(Progress.from_json(json.loads(line)["progress"]))
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
            return IngestReport.from_json(json.loads(output))
        except (ValueError, KeyError, TypeError) as exc:
            raise IngestJobError(f"ingest printed no report: {output[:200]!r}") from exc
