"""Persistent bookkeeping beside the vectors, in one SQLite file per index generation:

- `records`: LangChain's RecordManager contract (chunk id -> source, time), so the indexing API
  skips chunks already written and removes a changed file's old chunks;
- `files`: one row per ingested file (size, mtime, sha256), so an unchanged file is recognised
  from a stat() alone and costs neither reading, chunking nor embedding;
- `chunk_terms`: the keyword-search terms of every chunk in the vector store, written in the same
  calls that add its vectors, so the BM25 index is rebuilt from here, never by re-reading the
  corpus;
- `sentence_vectors` and `chunk_sentences`: every chunk's sentence vectors (see `sentences`),
  written with its vectors and deleted with its terms;
- `doomed` and `run_state`: the journal of the run in progress. Deletions (a changed file's old
  chunks, a removed file) are only noted here while a run writes, and carried out after the
  commit that publishes the run; so a reader, and a crash, see each file's old chunks or its new
  ones, never both or neither (see qa.store).

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

import numpy as np
from langchain_core.indexing import RecordManager

from . import sentences

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
CREATE TABLE IF NOT EXISTS doomed (
    kind TEXT NOT NULL,  -- 'chunk' (a record key) or 'file' (a manifest source_id)
    key TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS run_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
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
        self._writing = False

    def mark_writing(self) -> None:
        """Note that a run has started changing this generation (until `finish`), so a writer
        that finds the note knows the run did not end cleanly."""
        if not self._writing:
            self.set_run_state("writing", "1")
            self._writing = True

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
        self._conn.executescript(_SCHEMA + sentences.SCHEMA)
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
        self.mark_writing()
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
            # written again in this run: no longer to be deleted when it is published
            conn.executemany("DELETE FROM doomed WHERE kind = 'chunk' AND key = ?", [(key,) for key in keys])

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
            found.update(
                row[0]
                for row in self._conn.execute(
                    f"SELECT key FROM records WHERE key IN ({marks}) "
                    "AND key NOT IN (SELECT key FROM doomed WHERE kind = 'chunk')",
                    part,
                )
            )
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
        # Keys a run has already deleted (journaled) are gone as far as the indexing API knows.
        sql = "SELECT key FROM records WHERE key NOT IN (SELECT key FROM doomed WHERE kind = 'chunk')"
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
        """Staged: the keys (and their vectors and terms) go when the run is published, see
        `finish`; to the indexing API they are gone at once."""
        self.mark_writing()
        with self._tx() as conn:
            conn.executemany("INSERT OR IGNORE INTO doomed(kind, key) VALUES ('chunk', ?)", [(key,) for key in keys])

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
        """Staged like `delete_keys`: the manifest row goes when the run is published."""
        self.mark_writing()
        with self._tx() as conn:
            conn.execute("INSERT OR IGNORE INTO doomed(kind, key) VALUES ('file', ?)", (source_id,))

    def invalidate_files(self, source_ids: Sequence[str]) -> None:
        """Make the next run read these files again (their manifest no longer matches any file)."""
        with self._tx() as conn:
            conn.executemany(
                "UPDATE files SET sha256 = '', mtime_ns = -1 WHERE source_id = ?", [(sid,) for sid in source_ids]
            )

    def count_records(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    # --- keyword-search terms ---------------------------------------------------------------
    def put_terms(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """(key, source, space-joined terms) of chunks just written to the vector store."""
        self.mark_writing()
        with self._tx() as conn:
            conn.executemany("INSERT OR REPLACE INTO chunk_terms(key, source, terms) VALUES (?, ?, ?)", rows)

    def delete_terms(self, keys: Sequence[str]) -> None:
        """Forget what was recorded beside these chunks' vectors (terms, sentence links)."""
        with self._tx() as conn:
            conn.executemany("DELETE FROM chunk_terms WHERE key = ?", [(key,) for key in keys])
            conn.executemany("DELETE FROM chunk_sentences WHERE key = ?", [(key,) for key in keys])

    def iter_terms(self) -> Iterator[tuple[str, str, str]]:
        """Every live chunk's (key, source, terms), in a stable order (chunks doomed by the run in
        progress are left out: the keyword index built from this is what readers see)."""
        yield from self._conn.execute(
            "SELECT key, source, terms FROM chunk_terms "
            "WHERE key NOT IN (SELECT key FROM doomed WHERE kind = 'chunk') ORDER BY key"
        )

    def count_terms(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM chunk_terms").fetchone()[0])

    # --- sentence vectors -------------------------------------------------------------------
    def stored_sentences(self, hashes: Sequence[bytes], dimension: int) -> dict[bytes, np.ndarray]:
        return sentences.read_vectors(self._conn, hashes, dimension)

    def put_sentences(self, keys: Sequence[str], chunks: sentences.EmbeddedChunks) -> None:
        """The sentence vectors of chunks being written (with their terms, before their records)."""
        self.mark_writing()
        with self._tx() as conn:
            conn.executemany("INSERT OR IGNORE INTO sentence_vectors(hash, vector) VALUES (?, ?)", chunks.new_sentences)
            conn.executemany(
                "INSERT OR IGNORE INTO chunk_sentences(key, hash) VALUES (?, ?)",
                [(key, digest) for key, hashes in zip(keys, chunks.links, strict=True) for digest in hashes],
            )

    def count_sentences(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM sentence_vectors").fetchone()[0])

    def prune_sentences(self) -> int:
        """Forget links of chunks no record holds, then vectors no chunk links to (`finish` does
        this at the end of a run that wrote; a rollback and `qa check --repair` call it)."""
        with self._tx() as conn:
            return _prune(conn)

    # --- the run journal --------------------------------------------------------------------
    def doomed(self, kind: str = "chunk") -> list[str]:
        return [row[0] for row in self._conn.execute("SELECT key FROM doomed WHERE kind = ?", (kind,))]

    def get_run_state(self, name: str) -> str | None:
        row = self._conn.execute("SELECT value FROM run_state WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def set_run_state(self, name: str, value: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO run_state(name, value) VALUES (?, ?)", (name, value))

    def finish(self, run_continues: bool) -> None:
        """After a commit: carry out the staged deletions and clear the journal, in one
        transaction (a crash before it is rolled forward by the next writer)."""
        with self._tx() as conn:
            wrote = conn.execute("SELECT 1 FROM run_state WHERE name = 'writing'").fetchone() is not None
            doomed = "SELECT key FROM doomed WHERE kind = 'chunk'"
            conn.execute(f"DELETE FROM records WHERE key IN ({doomed})")
            conn.execute(f"DELETE FROM chunk_terms WHERE key IN ({doomed})")
            conn.execute(f"DELETE FROM chunk_sentences WHERE key IN ({doomed})")
            conn.execute("DELETE FROM files WHERE source_id IN (SELECT key FROM doomed WHERE kind = 'file')")
            conn.execute("DELETE FROM doomed")
            conn.execute("DELETE FROM run_state WHERE name = 'publishing'")
            if not run_continues:
                conn.execute("DELETE FROM run_state WHERE name = 'writing'")
                if wrote:  # in the same transaction: a crash cannot leave vectors of deleted chunks
                    _prune(conn)
        self._writing = self._writing and run_continues

    def discard(self, keys: Sequence[str]) -> None:
        """Forget chunks at once (records and terms): an interrupted run's unpublished chunks."""
        with self._tx() as conn:
            rows = [(key,) for key in keys]
            conn.executemany("DELETE FROM records WHERE key = ?", rows)
            conn.executemany("DELETE FROM chunk_terms WHERE key = ?", rows)
            conn.executemany("DELETE FROM chunk_sentences WHERE key = ?", rows)

    def forget_journal(self) -> None:
        """Drop the journal without acting on it (rolling an interrupted run back)."""
        with self._tx() as conn:
            conn.execute("DELETE FROM doomed")
            conn.execute("DELETE FROM run_state")
        self._writing = False


def _prune(conn: sqlite3.Connection) -> int:
    """Links of chunks no record holds (deleted, or written by a run that died before recording
    them), then sentence vectors no chunk links to; returns how many vectors went. Only when no
    run is writing: a chunk's links are written before its record."""
    conn.execute("DELETE FROM chunk_sentences WHERE key NOT IN (SELECT key FROM records)")
    return conn.execute("DELETE FROM sentence_vectors WHERE hash NOT IN (SELECT hash FROM chunk_sentences)").rowcount
