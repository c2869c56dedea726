"""The app under load, on 127.0.0.1, bounded in requests and time: 20 chat sessions while an
ingest writes to the same index (no errors, every answer valid, memory bounded, the new documents
answerable afterwards); and 20 sessions against an LLM server that fails at random (every chat
gets an answer or a clear fallback; none waits for a stalled server past the timeout).
The 2-minute, 500-document version with the numbers is benchmarks/load_test.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, SEED_FILE, write_articles
from .doubles import HashEmbeddings
from .llm_server import LLMServer
from .load import AppProcess, app_process, drive, quote_first_passage, session_client

# The outcomes here do not depend on the model: the hash double embeds, here and in every child.
pytestmark = pytest.mark.usefixtures("hash_model_children")


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    return hash_embeddings


SEED_QUESTIONS = [
    "Which banks restricted financing for Russian commodities?",
    "What did China say about the war in Ukraine?",
    "Who is buying Russian oil?",
    "What is the capital of Australia?",  # off-topic: not found
]
MEMORY_GROWTH_BOUND_MB = 400
SECRET = "Vault memo\n\nThe vault code is 7731 and the launch word for the vault is heliotrope.\n"


@pytest.fixture
def seed_app(tmp_path: Path) -> Iterator[AppProcess]:
    yield from _app(tmp_path, {}, plant_outside_link=True)


def _app(tmp_path: Path, env: dict[str, str], plant_outside_link: bool = False) -> Iterator[AppProcess]:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SEED_FILE, docs / SEED_FILE.name)
    if plant_outside_link:  # a file outside the documents folder, linked into it: never served
        (tmp_path / "private").mkdir()
        (tmp_path / "private" / "vault.txt").write_text(SECRET, encoding="utf-8")
        (docs / "vault.txt").symlink_to(tmp_path / "private" / "vault.txt")
    with app_process(docs, tmp_path / "index", tmp_path / "app.log", env) as app:
        yield app


def test_twenty_sessions_during_an_ingest(tmp_path: Path, seed_app: AppProcess) -> None:
    more = tmp_path / "more"
    write_articles(more, 40, tag="load")
    ingest = subprocess.Popen(
        [sys.executable, "ingest.py", str(more), "--index", str(seed_app.index), "--json", "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        result = drive(seed_app.url, seed_app.pid, SEED_QUESTIONS, sessions=20, seconds=60, max_per_session=6)
    finally:
        out, err = ingest.communicate(timeout=600)
    print(json.dumps(result.summary()))
    assert ingest.returncode == 0, err
    assert result.errors == [], result.errors[:5]
    assert len(result.latencies_ms) >= 20 and result.follow_ups > 0
    assert 0 < result.not_found < len(result.latencies_ms)
    assert result.rss_after_mb - result.rss_before_mb < MEMORY_GROWTH_BOUND_MB, result.summary()
    # the app follows the ingest's commit: the new documents answer now
    after = drive(seed_app.url, seed_app.pid, ["What did the orchard council of town 3 agree?"], 1, 60, 1)
    assert after.errors == [] and after.not_found == 0
    # the symlink out of the documents folder was never followed
    client = session_client(seed_app.url)
    vault = client.predict("What is the vault code and the launch word?", [], api_name="/ask")
    client.close()
    assert "heliotrope" not in vault["text"] and "7731" not in vault["text"]
    assert all(citation["source"] != "vault.txt" for citation in vault["citations"])


@pytest.fixture
def faulty_llm() -> Iterator[LLMServer]:
    with LLMServer(reply=quote_first_passage, delay_s=300) as server:
        server.mix = {"ok": 2, "http_500": 1, "drop": 1, "slow": 1, "cut_stream": 1, "slow_stream": 1}
        yield server


def test_llm_faults_under_load(tmp_path: Path, faulty_llm: LLMServer) -> None:
    env = {
        "QA_BACKEND": "openai",
        "QA_OPENAI_BASE_URL": faulty_llm.openai_base_url,
        "QA_OPENAI_MODEL": "test",
        "QA_LLM_TIMEOUT_S": "1.5",
    }
    for app in _app(tmp_path, env):
        result = drive(app.url, app.pid, SEED_QUESTIONS[:3], sessions=20, seconds=120, max_per_session=4)
    print(json.dumps(result.summary()))
    assert result.errors == [], result.errors[:5]
    assert len(result.latencies_ms) == 80  # every chat got an answer, none was left hanging
    assert 0 < result.fallbacks < 80  # some answers came from the LLM, the failed ones fell back
    # the server stalls for 300 s; answers wait at most for the 1.5 s timeout (plus their turn in
    # the queue of 4 concurrent answers), never for the server
    assert result.percentile(1.0) < 60_000, result.summary()
    assert len(faulty_llm.chat_requests) >= 80
