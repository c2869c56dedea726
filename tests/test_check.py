"""`python -m qa check`: drift between Chroma, the record manager and the keyword index is found,
repaired, and the next ingest restores what was lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qa.ingestion.pipeline import ingest
from qa.store.check import check
from qa.store.chroma import open_client
from qa.store.pointer import read_state
from qa.store.writer import IndexWriter

from .conftest import run_cli, write_articles
from .doubles import HashEmbeddings

# The outcomes here do not depend on the model: the hash double embeds, here and in every child.
pytestmark = pytest.mark.usefixtures("hash_model_children")


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    return hash_embeddings


def collection_of(settings: Any) -> Any:
    state = read_state(settings.index_dir)
    assert state is not None
    return open_client(settings).get_collection(state.collection)


def test_check_finds_and_repairs_drift(tmp_path: Path, make_settings: Any, embeddings: Any) -> None:
    settings = make_settings()
    docs = tmp_path / "docs"
    write_articles(docs, 3)
    ingest([docs], settings, embeddings=embeddings)
    assert check(settings, embeddings=embeddings).consistent

    collection = collection_of(settings)
    victim = collection.get(limit=1, include=["metadatas"])
    lost_key, lost_source = victim["ids"][0], victim["metadatas"][0]["source_id"]
    collection.delete(ids=[lost_key])  # a vector gone behind the record manager's back
    collection.add(ids=["orphan"], embeddings=[[0.1] * 384], documents=["orphan text"], metadatas=[{"source": "x"}])
    with IndexWriter(settings, embeddings) as writer:  # a keyword entry lost
        assert writer.records is not None
        other = next(key for key, _, _ in writer.records.iter_terms() if key != lost_key)
        writer.records.delete_terms([other])

    report = check(settings, embeddings=embeddings)
    assert not report.consistent and not report.repaired
    assert report.vectors_without_record == ["orphan"]
    assert report.records_without_vector == [lost_key]
    assert report.vectors_without_terms == [other]
    assert report.files_to_reingest == [lost_source]

    repaired = check(settings, repair=True, embeddings=embeddings)
    assert repaired.repaired
    assert check(settings, embeddings=embeddings).consistent
    again = ingest([docs], settings, embeddings=embeddings)  # the damaged file is embedded again
    assert again.files_updated + again.files_added == 1 and again.chunks_added >= 1
    assert check(settings, embeddings=embeddings).consistent
    assert lost_key in set(collection_of(settings).get(include=[])["ids"])


def test_check_cli(tmp_path: Path, make_settings: Any, embeddings: Any) -> None:
    settings = make_settings()
    write_articles(tmp_path / "docs", 2)
    ingest([tmp_path / "docs"], settings, embeddings=embeddings)
    result = run_cli(["-m", "qa", "check", "--index", str(settings.index_dir), "--json"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["consistent"] is True
    collection_of(settings).add(ids=["orphan"], embeddings=[[0.1] * 384], documents=["x"], metadatas=[{"source": "x"}])
    drift = run_cli(["-m", "qa", "check", "--index", str(settings.index_dir)])
    assert drift.returncode == 1 and "1 vectors without a record" in drift.stdout
    fixed = run_cli(["-m", "qa", "check", "--index", str(settings.index_dir), "--repair"])
    assert fixed.returncode == 0 and fixed.stdout.startswith("repaired")
