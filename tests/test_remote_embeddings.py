"""QA_EMBEDDINGS_URL: ingest through a real OpenAI-compatible embedding server (one written here,
serving the real model) and query with the local model; batches and concurrency; every way the
server can fail is one clear error and the previous index keeps answering."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa import Engine, IndexReader, ingest, load_settings
from qa.embeddings import RemoteEmbeddings, SentenceEmbeddings
from qa.embeddings.remote import base_url, host_of
from qa.errors import EmbeddingError, IndexMismatch

from .conftest import SEEDS, run_cli
from .embedding_server import EmbeddingServer

QUESTION = "What did China do at the UN Security Council vote?"


@pytest.fixture(scope="module")
def server(real_embeddings: SentenceEmbeddings):
    with EmbeddingServer(real_embeddings) as running:
        yield running


@pytest.fixture(scope="module")
def remote_index(tmp_path_factory: pytest.TempPathFactory, server: EmbeddingServer) -> Path:
    index = tmp_path_factory.mktemp("remote") / "index"
    server.mode = "unnormalised"  # the client normalises
    settings = load_settings(index_dir=index, embeddings_url=server.url, embeddings_batch_size=8)
    ingest([SEEDS], settings)
    server.mode = "ok"
    return index


def test_urls_users_type_reach_the_embeddings_endpoint() -> None:
    for typed in ("http://gpu:8080", "http://gpu:8080/", "http://gpu:8080/v1", "http://gpu:8080/v1/embeddings"):
        assert base_url(typed) == "http://gpu:8080/v1"
    assert host_of("http://user:secret@gpu-box:8080/v1") == "gpu-box:8080"


def test_an_index_embedded_on_the_server_answers_with_the_local_model(
    remote_index: Path, server: EmbeddingServer, real_embeddings: SentenceEmbeddings
) -> None:
    state = json.loads((remote_index / "index.json").read_text(encoding="utf-8"))
    assert state["embedding_model"] == real_embeddings.name  # recorded like the local model
    assert state["embedding_backend"] == f"127.0.0.1:{server.port}"
    assert max(server.batches) <= 8 and len(server.batches) > 1
    assert set(server.models) == {real_embeddings.name}
    reader = IndexReader(load_settings(index_dir=remote_index), real_embeddings)
    try:
        passage, stored = reader.nearest(real_embeddings.embed_query(QUESTION), 1)[0]
        assert abs(float(np.linalg.norm(stored)) - 1.0) < 1e-3  # normalised although the server was not
    finally:
        reader.close()
    answer = Engine(load_settings(index_dir=remote_index), real_embeddings).answer(QUESTION)
    assert not answer.not_found and answer.citations
    assert "abstain" in answer.text.lower() and not answer.unsupported


def test_stats_names_the_server_as_the_backend(remote_index: Path, server: EmbeddingServer) -> None:
    result = run_cli(["-m", "qa", "stats", "--index", str(remote_index), "--json"], real_model=True)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["embedding_backend"] == f"127.0.0.1:{server.port}"
    assert stats["query_embedding"]["backend"] == "local"
    assert stats["embedding_dtype"] and stats["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_requests_are_batched_and_sent_several_at_once(real_embeddings: SentenceEmbeddings) -> None:
    texts = [f"Sentence number {i} about the harbour council." for i in range(40)]
    with EmbeddingServer(real_embeddings, hold_for_pairs=True) as held:
        remote = RemoteEmbeddings(held.url, "all-MiniLM-L6-v2", batch_size=10, concurrency=4)
        vectors = remote.embed_array(texts)
        assert held.most_in_flight >= 2
        assert sorted(held.batches) == [10, 10, 10, 10]
    local = real_embeddings.embed_array(texts)
    assert vectors.shape == (40, 384)
    assert float(np.min(np.sum(vectors * local, axis=1))) > 0.995  # same texts, same order (bf16 batches vary)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("http_500", "answered 500: the GPU fell over"),
        ("http_400", "answered 400: input too long"),
        ("wrong_count", "returned 3 vectors for 4 texts"),
        ("not_json", "not embeddings"),
    ],
)
def test_a_failing_server_is_one_clear_error(server: EmbeddingServer, mode: str, message: str) -> None:
    server.mode = mode
    try:
        with pytest.raises(EmbeddingError, match=message):
            RemoteEmbeddings(server.url, "all-MiniLM-L6-v2").embed_array(["a", "b", "c", "d"])
    finally:
        server.mode = "ok"


def copy_and_new_file(tmp_path: Path, remote_index: Path) -> tuple[Path, Path]:
    """A copy of the server-built index, and a folder with a file it does not hold yet."""
    index = tmp_path / "index"
    shutil.copytree(remote_index, index)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "new.txt").write_text("The harbour council met on Tuesday.\n\nIt agreed on a budget.", encoding="utf-8")
    return index, docs


def test_an_unreachable_server_fails_the_ingest_and_keeps_the_index(
    tmp_path: Path, remote_index: Path, real_embeddings: SentenceEmbeddings
) -> None:
    index, docs = copy_and_new_file(tmp_path, remote_index)
    result = run_cli(
        ["ingest.py", str(docs), "--index", str(index)],
        env={"QA_EMBEDDINGS_URL": "http://127.0.0.1:9/v1", "QA_EMBEDDINGS_TIMEOUT_S": "5"},
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error:") and "is unreachable" in lines[-1] and "Traceback" not in result.stderr
    answer = Engine(load_settings(index_dir=index), real_embeddings).answer(QUESTION)
    assert answer.citations and not answer.not_found


def test_a_server_of_another_dimension_is_refused_before_it_writes(
    tmp_path: Path, remote_index: Path, server: EmbeddingServer
) -> None:
    index, docs = copy_and_new_file(tmp_path, remote_index)
    settings = load_settings(index_dir=index, embeddings_url=server.url)
    before = json.loads((index / "index.json").read_text(encoding="utf-8"))
    server.mode = "wrong_dimension"
    try:
        with pytest.raises(IndexMismatch, match="100-dimensional"):
            ingest([docs], settings)
        with pytest.raises(IndexMismatch, match="100 dimensions, the index's 384"):
            Engine(settings).answer(QUESTION)
    finally:
        server.mode = "ok"
    assert json.loads((index / "index.json").read_text(encoding="utf-8")) == before  # nothing published
    remote = RemoteEmbeddings(server.url, "all-MiniLM-L6-v2", batch_size=2, concurrency=1)
    remote.embed_array(["first", "second"])
    server.mode = "wrong_dimension"
    try:
        with pytest.raises(EmbeddingError, match="dimension 100, earlier ones had 384"):
            remote.embed_array(["third"])
    finally:
        server.mode = "ok"
