"""The app's ingest runner: a real child process, progress reported, one job at a time, a clear
error when the child fails."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from qa.errors import IndexBusy
from qa.jobs import IngestJobError, IngestRunner

from .conftest import write_articles


def test_runner_reports_progress_and_the_summary(tmp_path: Path, make_settings: Any) -> None:
    docs = tmp_path / "docs"
    write_articles(docs, 3)
    runner = IngestRunner(make_settings(docs_dir=docs))
    seen: list[Any] = []
    report = runner.run([docs], on_progress=seen.append)
    assert report["files"]["added"] == 3 and report["chunks"]["total"] > 0
    assert seen and seen[-1].files_done == seen[-1].files_total == 3
    assert [step.files_done for step in seen] == sorted(step.files_done for step in seen)
    assert not runner.busy


def test_one_job_at_a_time(tmp_path: Path, make_settings: Any) -> None:
    docs = tmp_path / "docs"
    write_articles(docs, 2)
    runner = IngestRunner(make_settings(docs_dir=docs))
    started = threading.Event()
    release = threading.Event()

    def first_progress(_: Any) -> None:
        started.set()
        release.wait(timeout=60)

    worker = threading.Thread(target=lambda: runner.run([docs], on_progress=first_progress))
    worker.start()
    assert started.wait(timeout=120)
    with pytest.raises(IndexBusy):
        runner.run([docs])
    release.set()
    worker.join(timeout=120)
    assert not runner.busy


def test_child_failure_is_one_clear_error(tmp_path: Path, make_settings: Any) -> None:
    runner = IngestRunner(make_settings(docs_dir=tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestJobError, match="no documents could be ingested"):
        runner.run([tmp_path / "empty"])


def test_the_app_confines_symlinks(make_settings: Any) -> None:
    assert "--confine-symlinks" in IngestRunner(make_settings(outside_symlinks=False)).command(None, rebuild=False)
    assert "--confine-symlinks" not in IngestRunner(make_settings()).command(None, rebuild=False)
