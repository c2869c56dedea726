"""Incremental ingest against a real Chroma and the real model: nothing duplicated, nothing
re-embedded that did not change, changed and deleted files reflected, bad files reported."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from qa import IndexReader, ingest
from qa.errors import IngestError
from qa.store.pointer import read_state
from qa.store.writer import IndexWriter

from .conftest import SEED_FILE, make_pdf, write_articles
from .doubles import HashEmbeddings

# The outcomes here do not depend on the model: the hash double embeds, here and in every child.
pytestmark = pytest.mark.usefixtures("hash_model_children")


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    return hash_embeddings


def consistency(settings, embeddings) -> tuple[int, int, int]:
    """(chunks in Chroma, records in the record manager, chunks the file manifest expects)."""
    with IndexWriter(settings, embeddings) as writer:
        assert writer.records is not None
        stored = writer.count()
        ids = writer.collection.get(include=[])["ids"]
        assert len(ids) == len(set(ids))
        return stored, writer.records.count_records(), sum(f.chunks for f in writer.records.all_files())


def test_first_ingest_records_chunk_metadata(docs: Path, make_settings, embeddings) -> None:
    settings = make_settings()
    report = ingest([docs], settings, embeddings=embeddings)
    assert report.files_added == 1 and report.chunks_added == report.chunks_total > 5
    with IndexWriter(settings, embeddings) as writer:
        got = writer.collection.get(include=["metadatas", "documents"])
    text = SEED_FILE.read_text(encoding="utf-8")
    for meta, chunk in zip(got["metadatas"], got["documents"], strict=True):
        assert meta["source"] == SEED_FILE.name
        assert meta["title"].startswith("China says it 'deeply regrets'")
        assert text[meta["start"] : meta["end"]] == chunk
        assert len(meta["content_hash"]) == 32
        assert meta["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    state = read_state(settings.index_dir)
    assert state is not None and state.embedding_model == embeddings.name and state.dimension == 384


def test_rerun_adds_nothing_and_embeds_nothing(docs: Path, make_settings, embeddings) -> None:
    settings = make_settings()
    first = ingest([docs], settings, embeddings=embeddings)
    calls = embeddings.calls
    second = ingest([docs], settings, embeddings=embeddings)
    assert embeddings.calls == calls
    assert (second.files_unchanged, second.chunks_added, second.chunks_deleted) == (1, 0, 0)
    assert second.chunks_total == first.chunks_total
    # touching the file (new mtime, same bytes) still costs no embedding
    os.utime(docs / SEED_FILE.name, None)
    third = ingest([docs], settings, embeddings=embeddings)
    assert embeddings.calls == calls and third.files_unchanged == 1
    assert consistency(settings, embeddings) == (first.chunks_total,) * 3


def test_changed_file_replaces_its_chunks(docs: Path, make_settings, embeddings) -> None:
    settings = make_settings()
    first = ingest([docs], settings, embeddings=embeddings)
    path = docs / SEED_FILE.name
    path.write_text("Replaced article\n\nThe harbour of Atlantis reopened on Monday after repairs.\n", encoding="utf-8")
    report = ingest([docs], settings, embeddings=embeddings)
    assert report.files_updated == 1 and report.chunks_deleted == first.chunks_total and report.chunks_total == 1
    hits = IndexReader(settings, embeddings).search("When did the harbour reopen?", k=5)
    assert [h.text for h in hits] == ["Replaced article\n\nThe harbour of Atlantis reopened on Monday after repairs."]
    assert consistency(settings, embeddings) == (1, 1, 1)


def test_appending_reembeds_only_new_chunks(tmp_path: Path, make_settings, embeddings) -> None:
    # batches of 8 chunks: the file straddles several, which must not re-embed its old chunks
    settings = make_settings(chunk_tokens=64, chunk_overlap=0, index_batch_size=8)
    [path] = write_articles(tmp_path / "d", 1, paragraphs=24)
    first = ingest([tmp_path / "d"], settings, embeddings=embeddings)
    assert first.chunks_total > 16
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\nA final paragraph about the new lighthouse opening next spring.\n")
    calls = embeddings.calls
    second = ingest([tmp_path / "d"], settings, embeddings=embeddings)
    assert second.files_updated == 1
    # only the changed tail: its chunk whole, and of its sentences only the new one
    assert second.chunks_added <= 2
    assert embeddings.calls - calls == second.texts_embedded <= 2 * second.chunks_added
    assert second.chunks_deleted <= 1
    assert consistency(settings, embeddings) == (second.chunks_total,) * 3


def test_a_file_reached_twice_is_stored_once(tmp_path: Path, make_settings, embeddings) -> None:
    settings = make_settings()
    write_articles(tmp_path / "d" / "sub", 2)
    (tmp_path / "d" / "alias.txt").symlink_to(tmp_path / "d" / "sub" / "article-000.txt")
    report = ingest([tmp_path / "d", tmp_path / "d" / "sub"], settings, embeddings=embeddings)
    assert report.files_added == 2
    assert consistency(settings, embeddings) == (report.chunks_total,) * 3
    again = ingest([tmp_path / "d", tmp_path / "d" / "sub"], settings, embeddings=embeddings)
    assert (again.files_unchanged, again.chunks_added, again.chunks_deleted) == (2, 0, 0)


def test_deleted_file_leaves_the_index(tmp_path: Path, make_settings, embeddings) -> None:
    settings = make_settings()
    paths = write_articles(tmp_path / "d", 3)
    first = ingest([tmp_path / "d"], settings, embeddings=embeddings)
    paths[1].unlink()
    report = ingest([tmp_path / "d"], settings, embeddings=embeddings)
    assert report.files_deleted == 1 and report.files_unchanged == 2
    assert report.chunks_total == first.chunks_total - report.chunks_deleted
    sources = {h.source for h in IndexReader(settings, embeddings).search("council budgets", k=50)}
    assert paths[1].name not in sources and paths[0].name in sources
    assert consistency(settings, embeddings) == (report.chunks_total,) * 3


def test_no_paths_refreshes_known_folders(tmp_path: Path, make_settings, embeddings) -> None:
    settings = make_settings(docs_dir=tmp_path / "nothing-here")
    write_articles(tmp_path / "a", 2, tag="a")
    write_articles(tmp_path / "b", 2, tag="b")
    ingest([tmp_path / "a", tmp_path / "b"], settings, embeddings=embeddings)
    (tmp_path / "b" / "article-b000.txt").unlink()
    report = ingest(None, settings, embeddings=embeddings)
    assert (report.files_unchanged, report.files_deleted, report.files_skipped) == (3, 1, 0)


def test_missing_folder_deletes_nothing(tmp_path: Path, make_settings, embeddings) -> None:
    settings = make_settings()
    write_articles(tmp_path / "d", 2)
    first = ingest([tmp_path / "d"], settings, embeddings=embeddings)
    shutil.move(tmp_path / "d", tmp_path / "moved")
    report = ingest([tmp_path / "d"], settings, embeddings=embeddings)
    assert report.skipped[0].reason == "no such file or directory"
    assert report.files_deleted == 0 and report.chunks_total == first.chunks_total


def test_bad_files_are_reported_and_the_rest_ingested(tmp_path: Path, make_settings, embeddings) -> None:
    folder = tmp_path / "mixed"
    write_articles(folder, 2)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (folder / "latin1.txt").write_bytes("Crème brûlée recipe from Montréal, très bon.".encode("cp1252"))
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\ngarbage garbage")
    (folder / "report.pdf").write_bytes(make_pdf(["Page one of the report", "Page two mentions the glacier"]))
    (folder / "huge.md").write_bytes(b"word " * 300_000)  # 1.5 MB, over the limit set below
    (folder / "loop").symlink_to(folder)  # a folder symlink back to itself
    (folder / "self.txt").symlink_to(folder / "self.txt")  # a file symlink loop
    (folder / "dangling.txt").symlink_to(folder / "missing.txt")
    settings = make_settings(max_file_mb=1.0)
    report = ingest([folder, tmp_path / "does-not-exist"], settings, embeddings=embeddings)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons["empty.txt"] == "empty file"
    assert "binary" in reasons["binary.txt"]
    assert reasons["corrupt.pdf"].startswith("corrupt PDF")
    assert reasons["huge.md"].startswith("too large")
    assert reasons["self.txt"] == "symlink loop"
    assert reasons["dangling.txt"] == "broken symlink"
    assert reasons["does-not-exist"] == "no such file or directory"
    assert "symlink loop" in reasons["loop"]
    assert "latin1.txt" not in reasons and report.files_added == 4  # 2 articles, latin1, report.pdf
    assert [(w.path, w.reason) for w in report.warnings] == [("latin1.txt", "not UTF-8; decoded as cp1252")]
    hits = IndexReader(settings, embeddings).search("glacier report page two", k=3)
    assert any(h.source == "report.pdf" and h.page == 2 for h in hits)
    latin = [h for h in IndexReader(settings, embeddings).search("crème brûlée", k=10) if h.source == "latin1.txt"]
    assert latin and "Crème brûlée" in latin[0].text


def test_strict_stops_at_first_bad_file_and_publishes_nothing(tmp_path: Path, make_settings, embeddings) -> None:
    folder = tmp_path / "d"
    write_articles(folder, 2)
    (folder / "zz-empty.txt").write_bytes(b"")
    settings = make_settings()
    with pytest.raises(IngestError, match="zz-empty.txt: empty file"):
        ingest([folder], settings, strict=True, embeddings=embeddings)
    assert read_state(settings.index_dir) is None  # the first build was never switched to


def test_confined_ingest_never_follows_symlinks_out_of_the_folder(tmp_path: Path) -> None:
    """What the app uses for its documents folder: links inside are fine, links out are reported."""
    from qa.ingestion.discovery import discover

    docs, outside = tmp_path / "docs", tmp_path / "outside"
    write_articles(docs / "sub", 1)
    write_articles(outside, 1, tag="secret")
    (docs / "alias.txt").symlink_to(docs / "sub" / "article-000.txt")
    (docs / "leak.txt").symlink_to(outside / "article-secret000.txt")
    (docs / "leakdir").symlink_to(outside, target_is_directory=True)
    (docs / "sub" / "up").symlink_to(tmp_path, target_is_directory=True)

    confined = discover([docs], confined=True)
    # only the inside file (reached first through its alias, an inside link; kept once)
    assert [f.path.resolve() for f in confined.files] == [(docs / "sub" / "article-000.txt").resolve()]
    reasons = {Path(s.path).name: s.reason for s in confined.skipped}
    assert "outside" in reasons["leak.txt"] and "outside" in reasons["leakdir"] and "outside" in reasons["up"]
    followed = discover([docs])
    assert "leak.txt" in [f.source for f in followed.files]  # the CLI's default: the user named the folder
