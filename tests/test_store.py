"""Chroma is opened with telemetry off and never with its default embedding function (which
would try to download an ONNX model); the index records which model built it."""

from __future__ import annotations

import pytest

from qa import IndexReader, ingest
from qa.store.writer import IndexWriter

from .conftest import ROOT
from .doubles import HashEmbeddings

# The outcomes here do not depend on the model: the hash double embeds, here and in every child.
pytestmark = pytest.mark.usefixtures("hash_model_children")


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    return hash_embeddings


def test_telemetry_off_and_no_default_embedding_function(make_settings, embeddings) -> None:
    settings = make_settings()
    ingest([ROOT / "seeds"], settings, embeddings=embeddings)
    with IndexWriter(settings, embeddings) as writer:
        assert writer.client.get_settings().anonymized_telemetry is False
        assert writer.collection._embedding_function is None
        meta = writer.collection.metadata
        assert meta["embedding_model"] == embeddings.name and meta["dimension"] == 384
        assert meta["hnsw:space"] == "cosine"
    reader = IndexReader(settings, embeddings)
    reader.count()
    assert reader._collection._embedding_function is None


def test_scores_are_cosine_similarities(make_settings, embeddings) -> None:
    settings = make_settings()
    ingest([ROOT / "seeds"], settings, embeddings=embeddings)
    hits = IndexReader(settings, embeddings).search("China abstained on the UN resolution", k=5)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and 0.3 < scores[0] <= 1.0
