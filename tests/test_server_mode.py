"""The same code against a real `chroma run` server (QA_CHROMA_URL): ingest, incremental
re-run, search, and an atomic rebuild that leaves exactly one collection on the server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from qa import IndexReader, ingest, read_state

from .conftest import ROOT, run_cli
from .doubles import HashEmbeddings


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    """Where the vectors are stored does not depend on the model: the hash double embeds."""
    return hash_embeddings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    chroma = Path(sys.executable).parent / "chroma"
    log = open(data / "server.log", "w")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:  # wait for the server to accept requests (a readiness poll, not a timed test)
        try:
            chromadb.HttpClient(
                host="127.0.0.1", port=port, settings=ChromaSettings(anonymized_telemetry=False)
            ).heartbeat()
            break
        except Exception:  # connection refused until it listens
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"chroma run did not start: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_ingest_search_and_rebuild_on_a_server(chroma_server: str, tmp_path: Path, make_settings, embeddings) -> None:
    settings = make_settings(chroma_url=chroma_server)
    first = ingest([ROOT / "seeds"], settings, embeddings=embeddings)
    assert first.files_added == 1 and first.chunks_total > 5
    assert not (settings.index_dir / "chroma").exists()  # vectors live on the server
    again = ingest([ROOT / "seeds"], settings, embeddings=embeddings)
    assert again.chunks_added == 0 and again.chunks_total == first.chunks_total
    hits = IndexReader(settings, embeddings).search("Which two Chinese banks restricted financing?", k=4)
    assert any("bank" in h.text.lower() for h in hits)

    rebuilt = ingest([ROOT / "seeds"], settings, rebuild=True, embeddings=embeddings)
    assert rebuilt.rebuilt and rebuilt.chunks_total == first.chunks_total
    state = read_state(settings.index_dir)
    server = chromadb.HttpClient(
        host="127.0.0.1", port=int(chroma_server.rsplit(":", 1)[1]), settings=ChromaSettings(anonymized_telemetry=False)
    )
    assert state is not None and [c.name for c in server.list_collections()] == [state.collection]


def test_cli_uses_the_server_from_the_environment(chroma_server: str, tmp_path: Path) -> None:
    env = {"QA_CHROMA_URL": chroma_server, "QA_INDEX_DIR": str(tmp_path / "state")}
    result = run_cli(["ingest.py", "seeds", "--json", "--quiet"], env=env)
    assert result.returncode == 0, result.stderr
    search = run_cli(["-m", "qa", "search", "UN Security Council abstained", "--json"], env=env)
    assert search.returncode == 0, search.stderr
    assert "abstain" in search.stdout


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    env = {"QA_CHROMA_URL": f"http://127.0.0.1:{free_port()}", "QA_INDEX_DIR": str(tmp_path / "state")}
    result = run_cli(["ingest.py", "seeds", "--quiet"], env=env)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot open the Chroma store at http://127.0.0.1:")


def test_two_indexes_share_a_server_safely(chroma_server: str, tmp_path: Path, make_settings, embeddings) -> None:
    one = make_settings(chroma_url=chroma_server, index_dir=tmp_path / "one")
    two = make_settings(chroma_url=chroma_server, index_dir=tmp_path / "two")
    ingest([ROOT / "seeds"], one, embeddings=embeddings)
    ingest([ROOT / "seeds"], two, embeddings=embeddings)
    ingest([ROOT / "seeds"], one, rebuild=True, embeddings=embeddings)  # cleans only its own leftovers
    state_two = read_state(two.index_dir)
    assert state_two is not None
    reader = IndexReader(two, embeddings)
    assert reader.count() > 0 and reader.state == state_two
