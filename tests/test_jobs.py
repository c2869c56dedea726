"""The app's ingest runner: a real child process, progress reported, one job at a time, a clear
error when the child fails."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from qa.errors import IndexBusy
from qa.store.pointer import read_state
from qa.web.jobs import IngestJobError, IngestRunner

from .conftest import write_articles
from .doubles import HashEmbeddings

# The outcomes here do not depend on the model: the hash double embeds, here and in every child.
pytestmark = pytest.mark.usefixtures("hash_model_children")


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    return hash_embeddings


def test_runner_reports_progress_and_the_summary(tmp_path: Path, make_settings: Any) -> None:
    docs = tmp_path / "docs"
    write_articles(docs, 3)
    runner = IngestRunner(make_settings(docs_dir=docs))
    seen: list[Any] = []
    report = runner.run([docs], on_progress=seen.append)
    assert report.files_added == 3 and report.chunks_total > 0
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


def test_the_child_gets_the_whole_settings_object(
    tmp_path: Path, make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every override reaches the child (not only a few as flags), secrets too, and a relative
    index folder means the same folder in the child as in the app, whatever the child's cwd."""
    work = tmp_path / "work"
    docs = work / "docs"
    write_articles(docs, 2)
    monkeypatch.chdir(work)
    settings = make_settings(
        index_dir=Path("relative-index"),
        docs_dir=Path("docs"),
        chunk_tokens=64,
        chunk_overlap=8,
        outside_symlinks=False,
        openai_api_key="sk-secret-value",
    )
    runner = IngestRunner(settings)
    child = json.loads(runner.environment()["QA_SETTINGS_JSON"])
    assert child["outside_symlinks"] is False and child["openai_api_key"] == "sk-secret-value"
    assert child["index_dir"] == str(work / "relative-index")
    monkeypatch.chdir(tmp_path)  # the app's cwd no longer matters either
    report = runner.run()
    assert report.files_added == 2
    state = read_state(work / "relative-index")
    assert state is not None and state.chunk_tokens == 64 and state.chunk_overlap == 8
