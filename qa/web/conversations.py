"""Saved conversations: each user's chats, kept in SQLite (QA_DATA_DIR/conversations.sqlite,
beside the index by default), so they can be listed, resumed after a restart with their
citations, renamed, deleted and exported as Markdown. Every read and write names the user and
matches it in SQL: a user never reaches another user's conversation, whatever id is sent."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConversationNotFound, DocumentsError
from ..types import Answer

LOCAL_USER = "local"  # whose conversations they are without login
TITLE_CHARS = 80

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, collection TEXT NOT NULL, title TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_user ON conversations(user, updated);
CREATE TABLE IF NOT EXISTS turns (
    conversation TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    n INTEGER NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, PRIMARY KEY (conversation, n)
);
"""


@dataclass(frozen=True)
class Summary:
    id: str
    title: str
    collection: str
    updated: float


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    collection: str
    turns: list[tuple[str, Answer]]  # (question, its checked answer)


class Conversations:
    """The store; safe to share between the app's threads (one connection per call)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def start(self, user: str, collection: str, question: str) -> str:
        """A new conversation titled by its first question; its id."""
        title = " ".join(question.split())
        title = title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1].rstrip() + "\u2026"
        key, now = uuid.uuid4().hex, time.time()
        with self._lock, closing(self._connect()) as conn:
            conn.execute(
                "INSERT INTO conversations(id, user, collection, title, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
                (key, user, collection, title or "Conversation", now, now),
            )
        return key

    def add(self, key: str, user: str, question: str, answer: Answer) -> None:
        """One more turn of the user's conversation `key`."""
        with self._lock, closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            if conn.execute("SELECT 1 FROM conversations WHERE id = ? AND user = ?", (key, user)).fetchone() is None:
                conn.execute("ROLLBACK")
                raise ConversationNotFound("that conversation is not there any more")
            (count,) = conn.execute("SELECT COUNT(*) FROM turns WHERE conversation = ?", (key,)).fetchone()
            conn.execute(
                "INSERT INTO turns(conversation, n, question, answer) VALUES (?, ?, ?, ?)",
                (key, count + 1, question, json.dumps(answer.to_json(), ensure_ascii=False)),
            )
            conn.execute("UPDATE conversations SET updated = ? WHERE id = ?", (time.time(), key))
            conn.execute("COMMIT")

    def list(self, user: str) -> list[Summary]:
        """The user's conversations, the latest first."""
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT id, title, collection, updated FROM conversations WHERE user = ? ORDER BY updated DESC",
                (user,),
            ).fetchall()
        return [Summary(*row) for row in rows]

    def get(self, key: str, user: str) -> Conversation:
        with closing(self._connect()) as conn:
            head = conn.execute(
                "SELECT title, collection FROM conversations WHERE id = ? AND user = ?", (key, user)
            ).fetchone()
            if head is None:
                raise ConversationNotFound("no such conversation")
            rows = conn.execute("SELECT question, answer FROM turns WHERE conversation = ? ORDER BY n", (key,))
            turns = [(question, Answer.from_json(json.loads(answer))) for question, answer in rows]
        return Conversation(key, head[0], head[1], turns)

    def rename(self, key: str, user: str, title: str) -> None:
        title = " ".join(title.split())[:TITLE_CHARS]
        if not title:
            raise DocumentsError("a conversation needs a title")
        self._change("UPDATE conversations SET title = ? WHERE id = ? AND user = ?", (title, key, user))

    def delete(self, key: str, user: str) -> None:
        self._change("DELETE FROM conversations WHERE id = ? AND user = ?", (key, user))

    def _change(self, sql: str, parameters: tuple[Any, ...]) -> None:
        with self._lock, closing(self._connect()) as conn:
            if conn.execute(sql, parameters).rowcount == 0:
                raise ConversationNotFound("no such conversation")

    def markdown(self, key: str, user: str) -> str:
        """The conversation as Markdown: each question, its answer, and the quotes it cites."""
        conversation = self.get(key, user)
        lines = [f"# {conversation.title}", "", f"Collection: {conversation.collection}", ""]
        for question, answer in conversation.turns:
            lines += [f"## {question}", ""]
            if answer.short:
                lines += [f"**{answer.short}**", ""]
            lines += [answer.text, ""]
            for citation in answer.citations:
                where = citation.location or (f"page {citation.page}" if citation.page else "")
                lines.append(f"[{citation.n}] {citation.source}{', ' + where if where else ''}:")
                lines.append(f"> {citation.quote}")
                lines.append("")
        return "\n".join(lines).rstrip() + "\n"
