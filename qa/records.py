"""Persistent bookkeeping beside the vectors, in one SQLite file per index generation:

- `records`: LangChain's RecordManager contract (chunk id -> source, time), so the indexing API
  skips chunks already written and removes a changed file's old chunks;
- `files`: one row per ingested file (size, mtime, sha256), so an unchanged file is recognised
  from a stat() alone and costs neither reading, chunking nor embedding;
- `chunk_terms`: the keyword-search terms of every chunk in the vector store, written in the same
  calls that add or delete its vectors, so the BM25 index is rebuilt from here, never by
  re-reading the corpus.

Why not langchain-classic's SQLRecordManager: it drags SQLAlchemy and the legacy package in for
six small queries; this is the same contract on the standard library, in WAL mode so readers
never block on the writer.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from langchain_core.indexing import RecordManager

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY,
    group_id TEXT,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS records_group ON records(group_id);
CREATE INDEX IF NOT EXISTS records_time ON records(updated_at);
CREATE TABLE IF NOT EXISTS files (
    source_id TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    source TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    indexed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_root ON files(root);
CREATE TABLE IF NOT EXISTS chunk_terms (
    key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    terms TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class FileRecord:
    source_id: str
    root: str
    source: str
    size: int
    mtime_ns: int
    sha256: str
    chunks: int


class SQLiteRecordManager(RecordManager):
    """RecordManager + file manifest on sqlite3."""

    def __init__(self, path: Path, namespace: str = "qa") -> None:
        super().__init__(namespace=namespace)
        self.path = path
        self._conn = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._last_time = 0.0

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # --- RecordManager contract -------------------------------------------------------------
    def create_schema(self) -> None:
        self._conn.executescript(_SCHEMA)
        # The clock must not go back across runs either (NTP steps, VM resume): start after the
        # newest record, or incremental cleanup would miss a changed file's old chunks.
        newest = self._conn.execute("SELECT MAX(updated_at) FROM records").fetchone()[0]
        self._last_time = max(self._last_time, float(newest or 0.0))

    async def acreate_schema(self) -> None:
        self.create_schema()

    def get_time(self) -> float:
        """Wall time, never going backwards within a process (the indexing API relies on it)."""
        self._last_time = max(time.time(), self._last_time + 1e-6)
        return self._last_time

    async def aget_time(self) -> float:
        return self.get_time()

    def update(
        self,
        keys: Sequence[str],
        *,
        group_ids: Sequence[str | None] | None = None,
        time_at_least: float | None = None,
    ) -> None:
        if group_ids is None:
            group_ids = [None] * len(keys)
        if len(group_ids) != len(keys):
            raise ValueError("keys and group_ids differ in length")
        now = self.get_time()
        if time_at_least is not None and now < time_at_least:
            raise ValueError(f"clock went backwards: {now} < {time_at_least}")
        with self._tx() as conn:
            conn.executemany(
                "INSERT INTO records(key, group_id, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET updated_at = excluded.updated_at, "
                "group_id = COALESCE(excluded.group_id, records.group_id)",
                [(key, group, now) for key, group in zip(keys, group_ids, strict=True)],
            )

    async def aupdate(
        self,
        keys: Sequence[str],
        *,
        group_ids: Sequence[str | None] | None = None,
        time_at_least: float | None = None,
    ) -> None:
        self.update(keys, group_ids=group_ids, time_at_least=time_at_least)

    def exists(self, keys: Sequence[str]) -> list[bool]:
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            part = list(keys[start : start + 500])
            marks = ",".join("?" * len(part))
            found.update(row[0] for row in self._conn.execute(f"SELECT key FROM records WHERE key IN ({marks})", part))
        return [key in found for key in keys]

    async def aexists(self, keys: Sequence[str]) -> list[bool]:
        return self.exists(keys)

    def list_keys(
        self,
        *,
        before: float | None = None,
        after: float | None = None,
        group_ids: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[str]:
        sql = "SELECT key FROM records WHERE 1=1"
        args: list[object] = []
        if before is not None:
            sql += " AND updated_at < ?"
            args.append(before)
        if after is not None:
            sql += " AND updated_at > ?"
            args.append(after)
        if group_ids is not None:
            sql += f" AND group_id IN ({','.join('?' * len(group_ids))})"
            args.extend(group_ids)
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [row[0] for row in self._conn.execute(sql, args)]

    async def alist_keys(
        self,
        *,
        before: float | None = None,
        after: float | None = None,
        group_ids: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[str]:
        return self.list_keys(before=before, after=after, group_ids=group_ids, limit=limit)

    def groups_of(self, keys: Sequence[str]) -> set[str]:
        """The group ids (files) that own these keys."""
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            part = list(keys[start : start + 500])
            marks = ",".join("?" * len(part))
            rows = self._conn.execute(f"SELECT group_id FROM records WHERE key IN ({marks})", part)
            found.update(row[0] for row in rows if row[0])
        return found

    def delete_keys(self, keys: Sequence[str]) -> None:
        with self._tx() as conn:
            conn.executemany("DELETE FROM records WHERE key = ?", [(key,) for key in keys])

    async def adelete_keys(self, keys: Sequence[str]) -> None:
        self.delete_keys(keys)

    # --- file manifest ----------------------------------------------------------------------
    def get_file(self, source_id: str) -> FileRecord | None:
        row = self._conn.execute(
            "SELECT source_id, root, source, size, mtime_ns, sha256, chunks FROM files WHERE source_id = ?",
            (source_id,),
        ).fetchone()
        return FileRecord(*row) if row else None

    def files_under(self, root: str) -> list[FileRecord]:
        rows = self._conn.execute(
            "SELECT source_id, root, source, size, mtime_ns, sha256, chunks FROM files WHERE root = ?", (root,)
        )
        return [FileRecord(*row) for row in rows]

    def roots(self) -> list[str]:
        return [row[0] for row in self._conn.execute("SELECT DISTINCT root FROM files ORDER BY root")]

    def all_files(self) -> list[FileRecord]:
        rows = self._conn.execute("SELECT source_id, root, source, size, mtime_ns, sha256, chunks FROM files")
        return [FileRecord(*row) for row in rows]

    def put_files(self, records: Sequence[FileRecord]) -> None:
        now = time.time()
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO files(source_id, root, source, size, mtime_ns, sha256, chunks, indexed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.source_id, r.root, r.source, r.size, r.mtime_ns, r.sha256, r.chunks, now) for r in records],
            )

    def delete_file(self, source_id: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM files WHERE source_id = ?", (source_id,))

    def count_records(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    # --- keyword-search terms ---------------------------------------------------------------
    def put_terms(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """(key, source, space-joined terms) of chunks just written to the vector store."""
        with self._tx() as conn:
            conn.executemany("INSERT OR REPLACE INTO chunk_terms(key, source, terms) VALUES (?, ?, ?)", rows)

    def delete_terms(self, keys: Sequence[str]) -> None:
        with self._tx() as conn:
            conn.executemany("DELETE FROM chunk_terms WHERE key = ?", [(key,) for key in keys])

    def iter_terms(self) -> Iterator[tuple[str, str, str]]:
        """Every chunk's (key, source, terms), in a stable order."""
        yield from self._conn.execute("SELECT key, source, terms FROM chunk_terms ORDER BY key")

    def count_terms(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM chunk_terms").fetchone()[0])
