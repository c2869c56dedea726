"""SIGKILL an ingest or a rebuild at every step of its write path; after each crash the index
opens, answers, and holds each file wholly in its old or its new version (a rebuild: the whole old
index or the whole new one), never a mix; `qa check` then finds the record manager, the keyword
index and Chroma in agreement; and the next run brings the index to exactly the new content.

The kill points are real functions of the write path, patched in a child process (see
crash_runner.py) to SIGKILL themselves before or after their nth call."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qa import Engine, IndexReader, ingest, read_state
from qa.store.check import check
from qa.store.records import SQLiteRecordManager

from . import crash_runner
from .conftest import hash_model_env, write_articles
from .doubles import HashEmbeddings

# The outcomes here do not depend on the model: the hash double embeds, here and in every child.
pytestmark = pytest.mark.usefixtures("hash_model_children")


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    return hash_embeddings


Content = dict[str, frozenset[str]]  # source -> keys of its published chunks

# (function, before|after, nth call): every step of an incremental run, in the order they happen
INCREMENTAL = [
    ("qa.embeddings.local:SentenceEmbeddings.embed_array", "before", 1),
    ("qa.embeddings.local:SentenceEmbeddings.embed_array", "after", 1),
    ("qa.store.records:SQLiteRecordManager.put_sentences", "after", 1),  # sentence vectors, no chunk vectors yet
    ("qa.store.vectors:StagedChroma.add_documents", "after", 1),  # vectors and terms written, not recorded
    ("qa.store.records:SQLiteRecordManager.update", "after", 1),  # recorded, old chunks not yet replaced
    ("qa.store.records:SQLiteRecordManager.delete_keys", "after", 1),  # old chunks journaled for deletion
    ("qa.store.records:SQLiteRecordManager.put_files", "after", 1),  # manifest says the new version
    ("qa.ingestion.pipeline:IngestRun.remove_missing", "before", 1),
    ("qa.store.records:SQLiteRecordManager.delete_file", "after", 1),  # a removed file journaled
    ("qa.store.writer:build_snapshot", "before", 1),
    ("qa.store.writer:build_snapshot", "after", 1),
    ("qa.store.writer:write_state", "before", 1),  # just before the commit point
    ("qa.store.writer:write_state", "after", 1),  # just after it: replaced chunks not yet purged
    ("qa.store.vectors:StagedChroma.purge", "after", 1),
    ("qa.store.records:SQLiteRecordManager.finish", "after", 1),
]
# the same with a publish after every batch: killed after some files were published, or mid-way
MID_RUN = [
    ("qa.store.writer:write_state", "after", 2),
    ("qa.store.records:SQLiteRecordManager.update", "after", 3),
    ("qa.store.vectors:StagedChroma.purge", "before", 2),
]
REBUILD = [
    ("qa.embeddings.local:SentenceEmbeddings.embed_array", "before", 1),
    ("qa.embeddings.local:SentenceEmbeddings.embed_array", "after", 2),
    ("qa.store.vectors:StagedChroma.add_documents", "after", 1),
    ("qa.store.writer:build_snapshot", "after", 1),
    ("qa.store.writer:write_state", "before", 1),
    ("qa.store.writer:write_state", "after", 1),  # switched; the old generation not yet dropped
    ("qa.store.records:SQLiteRecordManager.finish", "after", 1),
    ("qa.store.writer:IndexWriter._drop", "before", 1),
    ("qa.store.writer:IndexWriter._drop", "after", 1),
]


@dataclass
class Corpus:
    docs: Path
    base: Path  # an index of the old version
    old: Content
    new: Content


def published(settings, embeddings) -> Content:
    """What a reader sees: each source's chunks, as listed by the live keyword snapshot and
    present in Chroma."""
    reader = IndexReader(settings, embeddings)
    try:
        keywords = reader.keyword_index()
        assert keywords is not None
        stored = reader.fetch(keywords.keys)
        assert set(stored) == set(keywords.keys), "a published chunk is missing from Chroma"
        content: dict[str, set[str]] = {}
        for key, (passage, _) in stored.items():
            content.setdefault(passage.source, set()).add(key)
        return {source: frozenset(keys) for source, keys in content.items()}
    finally:
        reader.close()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, embeddings) -> Corpus:
    from qa import load_settings

    root = tmp_path_factory.mktemp("crash")
    docs = root / "docs"
    write_articles(docs, 6, paragraphs=8, tag="v1-")
    base = root / "base"
    settings = load_settings(index_dir=base, index_batch_size=8)
    ingest([docs], settings, embeddings=embeddings)
    old = published(settings, embeddings)
    # the new version: two files changed, one removed, one added, one touched but the same
    (docs / "article-v1-000.txt").write_text(
        "Harbour report changed\n\n" + "The harbour council changed its mind. " * 60
    )
    with open(docs / "article-v1-001.txt", "a", encoding="utf-8") as handle:
        handle.write("\n\nA late paragraph: the railway reopens on Monday after the storms.\n")
    (docs / "article-v1-002.txt").unlink()
    write_articles(docs, 1, paragraphs=8, tag="v2-")
    os.utime(docs / "article-v1-003.txt")
    reference = root / "reference"
    shutil.copytree(base, reference)
    ingest([docs], load_settings(index_dir=reference), embeddings=embeddings)
    new = published(load_settings(index_dir=reference), embeddings)
    assert old != new and set(old) != set(new)
    return Corpus(docs, base, old, new)


@pytest.fixture(scope="module")
def forkserver() -> Iterator[multiprocessing.context.BaseContext]:
    """Children forked from a server that has imported the project once (they embed with the
    hash double, so torch is never loaded)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.crash_runner"])
    yield context


def crash(forkserver, target: tuple[str, str, int], argv: list[str], env: dict[str, str]) -> None:
    process = forkserver.Process(target=crash_runner.run, args=(*target, argv, {**hash_model_env(), **env}))
    process.start()
    process.join(timeout=300)
    assert process.exitcode == -9, f"the child was not killed at {target} (exit code {process.exitcode})"


def assert_answers(settings, embeddings, content: Content) -> None:
    engine = Engine(settings, embeddings)
    try:
        answer = engine.answer("What did the harbour council agree about budgets?")
    finally:
        engine.close()
    assert not answer.not_found and answer.citations
    live = set().union(*content.values())
    assert {citation.chunk_id for citation in answer.citations} <= live


def journal_is_empty(settings) -> bool:
    state = read_state(settings.index_dir)
    assert state is not None
    records = SQLiteRecordManager(settings.index_dir / state.records)
    try:
        records.create_schema()
        return not records.doomed("chunk") and not records.doomed("file") and not records.get_run_state("writing")
    finally:
        records.close()


def sentences_follow_chunks(settings) -> bool:
    """Every recorded chunk links its sentence vectors, and no link or vector outlives its chunk."""
    state = read_state(settings.index_dir)
    assert state is not None
    with sqlite3.connect(settings.index_dir / state.records) as conn:
        recorded = {row[0] for row in conn.execute("SELECT key FROM records")}
        linked = {row[0] for row in conn.execute("SELECT DISTINCT key FROM chunk_sentences")}
        (orphans,) = conn.execute(
            "SELECT COUNT(*) FROM sentence_vectors WHERE hash NOT IN (SELECT hash FROM chunk_sentences)"
        ).fetchone()
    return linked == recorded and orphans == 0


def run_case(tmp_path: Path, corpus: Corpus, embeddings, forkserver, target, rebuild: bool, publish_every: str) -> None:
    from qa import load_settings

    index_dir = tmp_path / "index"
    shutil.copytree(corpus.base, index_dir)
    settings = load_settings(index_dir=index_dir)
    argv = [str(corpus.docs), "--index", str(index_dir), "--quiet"] + (["--rebuild"] if rebuild else [])
    env = {"QA_INDEX_BATCH_SIZE": "8", "QA_PUBLISH_EVERY_S": publish_every, "ANONYMIZED_TELEMETRY": "False"}

    crash(forkserver, target, argv, env)

    # 1. what readers see right after the crash, before any writer has cleaned up
    seen = published(settings, embeddings)
    if rebuild:
        assert seen in (corpus.old, corpus.new), "a rebuild left a mix of two indexes"
    else:
        for source in set(corpus.old) | set(corpus.new) | set(seen):
            assert seen.get(source) in (corpus.old.get(source), corpus.new.get(source)), f"{source} is half replaced"
    assert_answers(settings, embeddings, seen)
    reader = IndexReader(settings, embeddings)
    found = {p.chunk_id for p in reader.search("harbour council budgets storms railway", k=60)}
    reader.close()
    assert found and found <= set().union(*seen.values()), "a search returned unpublished chunks"

    # 2. the check (its writer first finishes or undoes the dead run) finds everything in agreement,
    #    and readers still see the same content
    report = check(settings, embeddings=embeddings)
    assert report.consistent, report.summary()
    assert journal_is_empty(settings)
    assert published(settings, embeddings) == seen

    # 3. the next run completes the work: exactly the new content, consistent
    again = ingest([corpus.docs], settings, embeddings=embeddings, rebuild=rebuild)
    assert again.files_skipped == 0
    assert published(settings, embeddings) == corpus.new
    assert check(settings, embeddings=embeddings).consistent
    assert journal_is_empty(settings)
    assert sentences_follow_chunks(settings)


def _id(target: tuple[str, str, int]) -> str:
    return f"{target[0].split(':')[1]}-{target[1]}-{target[2]}"


@pytest.mark.parametrize("target", INCREMENTAL, ids=_id)
def test_sigkill_during_incremental_ingest(tmp_path: Path, corpus: Corpus, embeddings, forkserver, target) -> None:
    run_case(tmp_path, corpus, embeddings, forkserver, target, rebuild=False, publish_every="30")


@pytest.mark.parametrize("target", MID_RUN, ids=_id)
def test_sigkill_after_a_mid_run_publish(tmp_path: Path, corpus: Corpus, embeddings, forkserver, target) -> None:
    run_case(tmp_path, corpus, embeddings, forkserver, target, rebuild=False, publish_every="0")


@pytest.mark.parametrize("target", REBUILD, ids=_id)
def test_sigkill_during_rebuild(tmp_path: Path, corpus: Corpus, embeddings, forkserver, target) -> None:
    run_case(tmp_path, corpus, embeddings, forkserver, target, rebuild=True, publish_every="30")
