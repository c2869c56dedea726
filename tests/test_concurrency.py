"""A reader process and a writer process at once: no "database is locked", no errors, no
half-written passages; the reader follows the writer's commits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa import ingest, read_state

from .conftest import ROOT, write_articles
from .doubles import HashEmbeddings

# The outcomes here do not depend on the model: the hash double embeds, here and in every child.
pytestmark = pytest.mark.usefixtures("hash_model_children")


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    return hash_embeddings


READER = r"""
import json, sys
from pathlib import Path
from qa import IndexReader, load_settings

index_dir, stop = sys.argv[1], Path(sys.argv[2])
reader = IndexReader(load_settings(index_dir=index_dir))
counts, errors, bad = [], [], 0
print("ready", flush=True)
for _ in range(100000):
    done = stop.exists()
    try:
        counts.append(reader.count())
        for p in reader.search("council budgets and storms", k=8):
            bad += not (p.text and p.source and p.end > p.start)
    except Exception as exc:  # the test wants to see any error at all
        errors.append(f"{type(exc).__name__}: {exc}")
    if done:
        break
print(json.dumps({"counts": counts, "errors": errors, "bad": bad}))
"""


def test_reader_and_writer_processes(tmp_path: Path, make_settings, embeddings) -> None:
    settings = make_settings()
    write_articles(tmp_path / "first", 2, tag="a")
    first = ingest([tmp_path / "first"], settings, embeddings=embeddings)
    write_articles(tmp_path / "more", 40, tag="b")
    stop = tmp_path / "stop"
    env = {**os.environ, "QA_INDEX_BATCH_SIZE": "16", "QA_PUBLISH_EVERY_S": "0"}
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(settings.index_dir), str(stop)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None
    assert reader.stdout.readline().strip() == "ready"
    writer = subprocess.run(
        [sys.executable, "ingest.py", str(tmp_path / "more"), "--index", str(settings.index_dir), "--json", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    stop.touch()
    out, err = reader.communicate(timeout=120)
    assert writer.returncode == 0, writer.stderr
    total = json.loads(writer.stdout)["chunks"]["total"]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["errors"] == [], result["errors"][:5]
    assert "locked" not in err
    assert result["bad"] == 0
    counts = result["counts"]
    assert counts[0] >= first.chunks_total and counts[-1] == total
    assert counts == sorted(counts)  # only ever more chunks: never a rolled-back or half state
    assert len(set(counts)) > 2  # it saw intermediate commits while the writer ran


def test_a_reader_follows_a_commit_that_removed_the_snapshot_it_was_about_to_load(
    tmp_path: Path, make_settings, embeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader reads the pointer, then loads the keyword snapshot it names; a writer that
    commits in between removes that snapshot. The reader then loads the newer one (not vector
    search alone, which could return chunks no snapshot lists yet)."""
    from qa.store import reader as reader_module

    settings = make_settings()
    write_articles(tmp_path / "docs", 2, tag="a")
    ingest([tmp_path / "docs"], settings, embeddings=embeddings)
    reader = reader_module.IndexReader(settings, embeddings)
    load = reader_module.KeywordIndex

    def commit_first(path: Path) -> reader_module.KeywordIndex:
        monkeypatch.setattr(reader_module, "KeywordIndex", load)  # once
        write_articles(tmp_path / "docs", 3, tag="b")
        ingest([tmp_path / "docs"], settings, embeddings=embeddings)
        assert not path.exists()  # the commit removed the snapshot the reader's pointer named
        return load(path)

    monkeypatch.setattr(reader_module, "KeywordIndex", commit_first)
    try:
        keywords = reader.keyword_index()
        state = read_state(settings.index_dir)
        assert keywords is not None and state is not None and keywords.path.name == state.bm25
        assert (
            reader.count() == len(keywords) == ingest([tmp_path / "docs"], settings, embeddings=embeddings).chunks_total
        )
    finally:
        reader.close()
