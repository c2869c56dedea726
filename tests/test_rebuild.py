"""--rebuild is atomic: SIGKILL in the middle leaves the previous index answering; leftovers are
cleaned by the next run; a different embedding model is refused until a rebuild."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Dense

from qa import IndexMismatch, IndexMissing, IndexReader, ingest, read_state

from .conftest import ROOT, write_articles
from .doubles import HashEmbeddings

# The outcomes here do not depend on the model: the hash double embeds, here and in every child.
pytestmark = pytest.mark.usefixtures("hash_model_children")


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    return hash_embeddings


def kill_after_first_batch(args: list[str], env: dict[str, str]) -> None:
    """Start the CLI, wait until it has written one batch to the new generation, SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, *args, "-v"], cwd=ROOT, env={**os.environ, **env}, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            if "indexed batch" in line:
                proc.send_signal(signal.SIGKILL)
                break
        else:
            pytest.fail("the child finished without writing a batch")
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def leftovers(settings) -> tuple[list[str], list[str]]:
    """Collections and record files in the index folder, seen without opening a writer (which
    would clean up)."""
    client = chromadb.PersistentClient(
        path=str(settings.index_dir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    try:
        names = sorted(c.name for c in client.list_collections())
    finally:
        client.close()
    return names, sorted(p.name for p in settings.index_dir.glob("records-*.sqlite"))


def test_sigkill_during_rebuild_keeps_previous_index(tmp_path: Path, make_settings, embeddings) -> None:
    settings = make_settings()
    old_docs, new_docs = tmp_path / "old", tmp_path / "new"
    write_articles(old_docs, 2, tag="old")
    write_articles(new_docs, 30, tag="new")
    before = ingest([old_docs], settings, embeddings=embeddings)
    state = read_state(settings.index_dir)
    env = {"QA_INDEX_DIR": str(settings.index_dir), "QA_INDEX_BATCH_SIZE": "8"}

    kill_after_first_batch(["ingest.py", str(new_docs), "--rebuild"], env)

    assert read_state(settings.index_dir) == state
    reader = IndexReader(settings, embeddings)
    assert reader.count() == before.chunks_total
    assert {p.source for p in reader.search("council budgets", k=20)} <= {f"article-old{i:03d}.txt" for i in range(2)}

    # the next rebuild completes, switches, and removes the crashed run's leftovers
    report = ingest([new_docs], settings, rebuild=True, embeddings=embeddings)
    assert report.rebuilt and report.files_added == 30 and report.chunks_deleted == before.chunks_total
    assert reader.count() == report.chunks_total  # the open reader follows the switch
    assert all(p.source.startswith("article-new") for p in reader.search("council budgets", k=20))
    collections, records = leftovers(settings)
    new_state = read_state(settings.index_dir)
    assert new_state is not None
    assert collections == [new_state.collection] and records == [new_state.records]


def test_sigkill_during_first_ingest_leaves_no_index(tmp_path: Path, make_settings, embeddings) -> None:
    settings = make_settings()
    write_articles(tmp_path / "d", 20)
    kill_after_first_batch(
        ["ingest.py", str(tmp_path / "d")], {"QA_INDEX_DIR": str(settings.index_dir), "QA_INDEX_BATCH_SIZE": "8"}
    )
    with pytest.raises(IndexMissing):
        IndexReader(settings, embeddings)
    report = ingest([tmp_path / "d"], settings, embeddings=embeddings)
    assert report.files_added == 20
    collections, _ = leftovers(settings)
    assert len(collections) == 1


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory, real_embeddings) -> Path:
    """A genuinely different model: the packaged one plus a 384->128 projection."""
    folder = tmp_path_factory.mktemp("model-128d")
    base = real_embeddings.model
    dense = Dense(in_features=384, out_features=128)
    SentenceTransformer(modules=[*base, dense], device="cpu").save(str(folder))
    return folder


def test_model_change_is_refused_until_rebuild(tmp_path: Path, make_settings, embeddings, small_model: Path) -> None:
    from qa.embeddings import SentenceEmbeddings

    settings = make_settings()
    ingest([ROOT / "seeds"], settings, embeddings=embeddings)
    other_settings = make_settings(embedding_model=str(small_model))
    other = SentenceEmbeddings(str(small_model), dtype="float32")  # a set format: no calibration of a new model
    with pytest.raises(IndexMismatch, match="--rebuild"):
        ingest([ROOT / "seeds"], other_settings, embeddings=other)
    with pytest.raises(IndexMismatch, match="all-MiniLM-L6-v2"):
        IndexReader(other_settings, other).search("banks", k=1)
    report = ingest([ROOT / "seeds"], other_settings, rebuild=True, embeddings=other)
    assert report.rebuilt and report.chunks_total > 0
    state = read_state(settings.index_dir)
    assert state is not None and state.dimension == 128 and state.embedding_model == str(small_model.resolve())
    assert len(IndexReader(other_settings, other).search("Which banks restricted financing?", k=3)) == 3
    with pytest.raises(IndexMismatch):
        IndexReader(settings, embeddings)  # and now the old model is the wrong one


def test_model_change_via_cli_says_to_rebuild(tmp_path: Path, small_model: Path, embeddings) -> None:
    from qa import load_settings

    from .conftest import run_cli

    index = str(tmp_path / "idx")
    # built with the default model's name (what the CLI records too), in this process: only the refusal is the CLI's
    assert ingest([ROOT / "seeds"], load_settings(index_dir=index), embeddings=embeddings).chunks_total > 0
    refused = run_cli(["ingest.py", "seeds", "--index", index, "--model", str(small_model)])
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert "python ingest.py --rebuild" in line


def test_failed_rebuild_keeps_previous_and_cleans_up(tmp_path: Path, make_settings, embeddings) -> None:
    from qa import IngestError

    settings = make_settings()
    write_articles(tmp_path / "old", 2, tag="old")
    before = ingest([tmp_path / "old"], settings, embeddings=embeddings)
    state = read_state(settings.index_dir)
    write_articles(tmp_path / "new", 3, tag="new")
    (tmp_path / "new" / "zz-broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    with pytest.raises(IngestError, match="corrupt PDF"):
        ingest([tmp_path / "new"], settings, rebuild=True, strict=True, embeddings=embeddings)
    assert read_state(settings.index_dir) == state
    assert IndexReader(settings, embeddings).count() == before.chunks_total
    assert state is not None and leftovers(settings) == ([state.collection], [state.records])


def test_rebuild_that_finds_nothing_keeps_the_index(tmp_path: Path, make_settings, embeddings) -> None:
    from qa import IngestError

    settings = make_settings()
    before = ingest([ROOT / "seeds"], settings, embeddings=embeddings)
    state = read_state(settings.index_dir)
    with pytest.raises(IngestError, match="no documents could be ingested; the previous index is kept"):
        ingest([tmp_path / "typo"], settings, rebuild=True, embeddings=embeddings)
    assert read_state(settings.index_dir) == state
    assert IndexReader(settings, embeddings).count() == before.chunks_total
    assert state is not None and leftovers(settings) == ([state.collection], [state.records])


def test_damaged_pointer_is_repaired_by_rebuild(make_settings, embeddings) -> None:
    from qa import IndexStoreError

    settings = make_settings()
    ingest([ROOT / "seeds"], settings, embeddings=embeddings)
    (settings.index_dir / "index.json").write_text('{"generation": "trunc', encoding="utf-8")
    with pytest.raises(IndexStoreError, match="--rebuild"):
        ingest([ROOT / "seeds"], settings, embeddings=embeddings)
    report = ingest([ROOT / "seeds"], settings, rebuild=True, embeddings=embeddings)
    assert report.chunks_total > 0
    state = read_state(settings.index_dir)
    assert state is not None and leftovers(settings) == ([state.collection], [state.records])
