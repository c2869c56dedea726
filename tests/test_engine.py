"""The engine around any backend, with a scripted backend and the hash embedder (the outcomes here
do not depend on the model): what the backend writes is streamed, then checked; a citation to
the wrong passage moves to the right one; "not found" and failures are handled the same for all
backends; the backend gets the conversation normalised."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import load_settings
from qa.answering.engine import Engine, engine_for
from qa.answering.prompting import NOT_FOUND_TEXT
from qa.errors import BackendError
from qa.text.sentences import sentences
from qa.types import Answer

from .conftest import SEED_FILE, seed_index_in
from .doubles import HASH_THRESHOLDS, HashEmbeddings, ScriptedBackend

ABSTAINED = next(sentence for sentence in sentences(SEED_FILE.read_text(encoding="utf-8")) if "abstained" in sentence)
QUESTION = "Which countries abstained at the UN Security Council?"


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory: pytest.TempPathFactory, hash_embeddings: HashEmbeddings) -> Path:
    return seed_index_in(tmp_path_factory.mktemp("engine"), hash_embeddings)


def scripted(seed_index: Path, embeddings: HashEmbeddings, backend: ScriptedBackend) -> Engine:
    settings = load_settings(index_dir=seed_index, **HASH_THRESHOLDS)
    return Engine(settings, embeddings=embeddings, backends={"scripted": backend})


def run(engine: Engine, question: str, **options: object) -> tuple[list[str], Answer]:
    events = list(engine.stream(question, backend="scripted", **options))
    final = events[-1]
    assert isinstance(final, Answer)
    return [event for event in events[:-1] if isinstance(event, str)], final


def passage_number(engine: Engine, text: str) -> int:
    passages = engine.retriever.search(QUESTION).passages
    return next(number for number, passage in enumerate(passages, 1) if text in passage.text)


def test_the_reply_streams_then_is_checked(seed_index: Path, hash_embeddings: HashEmbeddings) -> None:
    pieces = [ABSTAINED[:40], ABSTAINED[40:] + " [1]"]
    backend = ScriptedBackend(pieces)
    engine = scripted(seed_index, hash_embeddings, backend)
    deltas, answer = run(engine, QUESTION)
    assert deltas == pieces
    assert answer.backend == "scripted" and not answer.fallback and not answer.unsupported
    (citation,) = answer.citations
    assert "abstained" in citation.quote and citation.passage[citation.start : citation.end] == citation.quote
    assert backend.requests[0].question == QUESTION and backend.requests[0].passages


def test_a_citation_of_the_wrong_passage_moves_to_the_supporting_one(
    seed_index: Path, hash_embeddings: HashEmbeddings
) -> None:
    probe = scripted(seed_index, hash_embeddings, ScriptedBackend())
    right = passage_number(probe, ABSTAINED)
    wrong = next(n for n in range(1, len(probe.retriever.search(QUESTION).passages) + 1) if n != right)
    _, answer = run(scripted(seed_index, hash_embeddings, ScriptedBackend(f"{ABSTAINED} [{wrong}]")), QUESTION)
    assert answer.text == ABSTAINED[:-1] + " [1]."
    assert answer.citations[0].quote == ABSTAINED and not answer.unsupported


def test_an_invented_sentence_is_marked_unsupported(seed_index: Path, hash_embeddings: HashEmbeddings) -> None:
    invented = "Brazil and Mexico vetoed the resolution in 2019."
    _, answer = run(scripted(seed_index, hash_embeddings, ScriptedBackend(f"{ABSTAINED} [1] {invented} [1]")), QUESTION)
    assert answer.unsupported == [invented]


def test_not_found_and_failures_are_the_engines(seed_index: Path, hash_embeddings: HashEmbeddings) -> None:
    backend = ScriptedBackend(NOT_FOUND_TEXT, BackendError("scripted: the server went away"))
    engine = scripted(seed_index, hash_embeddings, backend)
    _, declined = run(engine, QUESTION)
    assert declined.not_found and declined.citations == [] and declined.text == NOT_FOUND_TEXT
    deltas, fallen = run(engine, QUESTION)
    assert fallen.fallback and fallen.error == "scripted: the server went away"
    assert fallen.citations and deltas[-1] == fallen.text  # the extractive answer, shown whole


def test_the_backend_gets_the_conversation_normalised(seed_index: Path, hash_embeddings: HashEmbeddings) -> None:
    backend = ScriptedBackend(f"{ABSTAINED} [1]")
    history = [
        {"role": "system", "content": "ignored"},
        {"role": "user", "content": [{"type": "text", "text": "What did China say?"}, {"type": "file", "file": "x"}]},
        {"role": "assistant", "content": "It deeply regrets the war [1]."},
        {"role": "tool", "content": "ignored too"},
    ]
    run(scripted(seed_index, hash_embeddings, backend), "And who abstained?", history=history)
    assert list(backend.requests[0].history) == [
        {"role": "user", "content": "What did China say?"},
        {"role": "assistant", "content": "It deeply regrets the war [1]."},
    ]


def test_engines_are_shared_per_settings_and_told_apart_by_secrets(seed_index: Path) -> None:
    first = load_settings(index_dir=seed_index, openai_api_key="key-one")
    same = load_settings(index_dir=seed_index, openai_api_key="key-one")
    other = load_settings(index_dir=seed_index, openai_api_key="key-two")
    assert first.fingerprint() == same.fingerprint() != other.fingerprint()
    assert "key-one" not in first.fingerprint() and first.model_dump_json() == other.model_dump_json()
    assert engine_for(first) is engine_for(same) and engine_for(first) is not engine_for(other)
