"""`ingest.py PATH --watch`: the real command in a child process keeps the index in step with the
folder. The test waits on the command's own events (the "watching" line, one JSON report per
sync), never on a clock: a file added, changed and removed is reflected in answers, a sync that
fails keeps the watch going, and Ctrl-C stops it cleanly with the index answering."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from qa import load_settings
from qa.answering.engine import Engine

from .conftest import ROOT, hash_model_env
from .doubles import HASH_THRESHOLDS, HashEmbeddings

EVENT_TIMEOUT_S = 120  # a deadline for each event, not a wait: events come in about a second


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    return hash_embeddings


class Watcher:
    """The running `ingest.py --watch --json`, its stdout and stderr read line by line."""

    def __init__(self, folder: Path, index: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "ingest.py", str(folder), "--index", str(index), "--watch", "--json"],
            cwd=ROOT,
            env={**os.environ, **hash_model_env()},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.reports: queue.Queue[dict[str, Any]] = queue.Queue()
        self.notes: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(self.process.stdout, self.reports, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.process.stderr, self.notes, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _pump(stream: IO[str], into: queue.Queue[Any], parse: bool) -> None:
        for line in stream:
            into.put(json.loads(line) if parse else line.strip())

    def report(self) -> dict[str, Any]:
        return self.reports.get(timeout=EVENT_TIMEOUT_S)

    def note(self, starting: str) -> str:
        while True:
            line = self.notes.get(timeout=EVENT_TIMEOUT_S)
            if line.startswith(starting):
                return line

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=EVENT_TIMEOUT_S)


@pytest.fixture
def watcher(tmp_path: Path) -> Iterator[tuple[Watcher, Path, Path]]:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "harbour.txt").write_text("The harbour office opens at nine every weekday.\n", encoding="utf-8")
    index = tmp_path / "index"
    running = Watcher(folder, index)
    try:
        yield running, folder, index
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def ask(index: Path, embeddings: HashEmbeddings, question: str) -> Any:
    engine = Engine(load_settings(index_dir=index, **HASH_THRESHOLDS), embeddings=embeddings)
    try:
        return engine.answer(question)
    finally:
        engine.close()


def test_added_changed_and_removed_files_reach_the_answers(
    watcher: tuple[Watcher, Path, Path], embeddings: HashEmbeddings
) -> None:
    running, folder, index = watcher
    first = running.report()
    assert first["files"]["added"] == 1
    running.note("watching ")

    (folder / "ferry.md").write_text("# Ferry\n\nThe Gull ferry leaves the north pier at 07:15.\n", encoding="utf-8")
    added = running.report()
    assert added["files"]["added"] == 1 and added["files"]["unchanged"] == 1
    answer = ask(index, embeddings, "When does the Gull ferry leave the north pier?")
    assert "07:15" in answer.text and answer.citations[0].source.endswith("ferry.md")

    (folder / "ferry.md").write_text("# Ferry\n\nThe Gull ferry leaves the north pier at 08:40.\n", encoding="utf-8")
    changed = running.report()
    assert changed["files"]["updated"] == 1
    answer = ask(index, embeddings, "When does the Gull ferry leave the north pier?")
    assert "08:40" in answer.text and "07:15" not in answer.text

    (folder / "ferry.md").unlink()
    removed = running.report()
    assert removed["files"]["deleted"] == 1
    answer = ask(index, embeddings, "When does the Gull ferry leave the north pier?")
    assert all(not citation.source.endswith("ferry.md") for citation in answer.citations)

    assert running.stop() == 0
    running.note("stopped watching")
    assert "nine" in ask(index, embeddings, "When does the harbour office open?").text


def test_a_bad_file_is_reported_and_the_watch_goes_on(
    watcher: tuple[Watcher, Path, Path], embeddings: HashEmbeddings
) -> None:
    running, folder, index = watcher
    running.report()
    running.note("watching ")
    (folder / "broken.pptx").write_bytes(b"PK\x03\x04 not a zip")
    report = running.report()
    assert [item["path"] for item in report["skipped"]] == ["broken.pptx"]
    (folder / "tides.txt").write_text("High water on Monday is at 06:12.\n", encoding="utf-8")
    assert running.report()["files"]["added"] == 1
    assert "06:12" in ask(index, embeddings, "When is high water on Monday?").text
    assert running.stop() == 0
