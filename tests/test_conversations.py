"""Saved conversations: kept across restarts with their citations, each user's own, exported as
Markdown with the cited quotes. Real SQLite files, real answers (the hash double embeds: what is
kept does not depend on the model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import load_settings
from qa.answering.engine import Engine
from qa.errors import ConversationNotFound
from qa.types import Answer
from qa.web.conversations import Conversations

from .conftest import seed_index_in
from .doubles import HASH_THRESHOLDS, HashEmbeddings

BANKS = "Which two Chinese banks restricted financing?"


@pytest.fixture(scope="module")
def answer(tmp_path_factory: pytest.TempPathFactory, hash_embeddings: HashEmbeddings) -> Answer:
    index = seed_index_in(tmp_path_factory.mktemp("conversations"), hash_embeddings)
    engine = Engine(load_settings(index_dir=index, **HASH_THRESHOLDS), embeddings=hash_embeddings)
    try:
        found = engine.answer(BANKS)
    finally:
        engine.close()
    assert found.citations
    return found


def test_an_answer_comes_back_whole_from_its_json(answer: Answer) -> None:
    assert Answer.from_json(answer.to_json()) == answer
    assert Answer.from_json({**answer.to_json(), "added_later": 1}) == answer  # newer fields ignored


def test_conversations_survive_a_restart_with_their_citations(tmp_path: Path, answer: Answer) -> None:
    path = tmp_path / "conversations.sqlite"
    store = Conversations(path)
    key = store.start("alice", "default", BANKS)
    store.add(key, "alice", BANKS, answer)
    store.add(key, "alice", "And why?", answer)
    reopened = Conversations(path)  # another process, after a restart
    [summary] = reopened.list("alice")
    assert (summary.id, summary.title, summary.collection) == (key, BANKS, "default")
    conversation = reopened.get(key, "alice")
    assert [question for question, _ in conversation.turns] == [BANKS, "And why?"]
    assert conversation.turns[0][1] == answer and conversation.turns[0][1].citations[0].quote


def test_a_user_never_reaches_another_users_conversation(tmp_path: Path, answer: Answer) -> None:
    store = Conversations(tmp_path / "conversations.sqlite")
    key = store.start("alice", "default", BANKS)
    store.add(key, "alice", BANKS, answer)
    assert store.list("bob") == []
    for attempt in (
        lambda: store.get(key, "bob"),
        lambda: store.add(key, "bob", "mine now?", answer),
        lambda: store.rename(key, "bob", "stolen"),
        lambda: store.delete(key, "bob"),
        lambda: store.markdown(key, "bob"),
    ):
        with pytest.raises(ConversationNotFound):
            attempt()
    assert store.get(key, "alice").title == BANKS and len(store.get(key, "alice").turns) == 1


def test_rename_delete_and_export(tmp_path: Path, answer: Answer) -> None:
    store = Conversations(tmp_path / "conversations.sqlite")
    key = store.start("local", "default", "  " + BANKS * 3)
    assert len(store.list("local")[0].title) <= 80 and store.list("local")[0].title.endswith("\u2026")
    store.add(key, "local", BANKS, answer)
    store.rename(key, "local", "Banks and Russia")
    markdown = store.markdown(key, "local")
    assert markdown.startswith("# Banks and Russia\n") and f"## {BANKS}" in markdown
    assert answer.text in markdown
    for citation in answer.citations:
        assert f"> {citation.quote}" in markdown and citation.source in markdown
    store.delete(key, "local")
    assert store.list("local") == []
    with pytest.raises(ConversationNotFound):
        store.get(key, "local")
