"""A full disk and a read-only index folder: a clear one-line error, exit code 1, and the index
exactly as it was (still answering); once space is back, the next run completes.

The full disk is real: a small tmpfs the test mounts (root is needed; CI runs as root, so there a
failed mount fails the test instead of skipping it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa import IndexReader, ingest, load_settings
from qa.store.check import check

from .conftest import ROOT, run_cli, write_articles
from .doubles import HashEmbeddings
from .test_cli import drop_root_privileges

# The outcomes here do not depend on the model: the hash double embeds, here and in every child.
pytestmark = pytest.mark.usefixtures("hash_model_children")


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    return hash_embeddings


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs for the disk-full test: {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here (root needed): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def published_keys(index: Path, embeddings) -> set[str]:
    reader = IndexReader(load_settings(index_dir=index), embeddings)
    try:
        keywords = reader.keyword_index()
        assert keywords is not None
        return set(keywords.keys)
    finally:
        reader.close()


def fill(disk: Path, leave_bytes: int) -> Path:
    """Fill the disk up to `leave_bytes` of free space."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free - leave_bytes
    with open(filler, "wb") as handle:
        while free > 0:
            block = min(free, 1 << 20)
            handle.write(b"\0" * block)
            free -= block
    return filler


def ask(index: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(["-m", "qa", "ask", "What did the harbour council agree?", "--index", str(index), "--json"])


@pytest.mark.parametrize("rebuild", [False, True], ids=["incremental", "rebuild"])
def test_disk_full_leaves_the_index_as_it_was(tmp_path: Path, small_disk: Path, embeddings, rebuild: bool) -> None:
    index = small_disk / "index"
    write_articles(tmp_path / "docs", 3, tag="first")
    # the index as it was, built in this process: the full disk is the CLI's to report
    assert ingest([tmp_path / "docs"], load_settings(index_dir=index), embeddings=embeddings).chunks_total > 0
    before = published_keys(index, embeddings)
    write_articles(tmp_path / "docs", 120, paragraphs=12, tag="more")
    filler = fill(small_disk, leave_bytes=1_500_000)

    full = run_cli(
        ["ingest.py", str(tmp_path / "docs"), "--index", str(index), "--quiet", *(["--rebuild"] if rebuild else [])]
    )

    assert full.returncode == 1
    lines = full.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "disk holding the index is full" in lines[-1], full.stderr
    assert "Traceback" not in full.stderr
    answered = ask(index)
    if answered.returncode != 0:
        # Chroma applies its write-ahead log before a query, which needs space: until some is
        # freed a question gets the same clear error, not a wrong or partial answer
        assert "disk holding the index is full" in answered.stderr, answered.stderr
    filler.unlink()
    assert published_keys(index, embeddings) == before  # exactly the previous content
    answered = ask(index)
    assert answered.returncode == 0, answered.stderr
    cited = {citation["chunk_id"] for citation in json.loads(answered.stdout)["citations"]}
    assert cited and cited <= before
    report = check(load_settings(index_dir=index), embeddings=embeddings)
    assert report.consistent, report.summary()
    again = run_cli(["ingest.py", str(tmp_path / "docs"), "--index", str(index), "--json", "--quiet"])
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["chunks"]["total"] > len(before)
    assert check(load_settings(index_dir=index), embeddings=embeddings).consistent


def test_read_only_index_folder(tmp_path: Path, embeddings) -> None:
    """Ingest into a folder it may not write: one clear error, nothing changed."""
    docs, index = tmp_path / "docs", tmp_path / "index"
    write_articles(docs, 2)
    assert ingest([docs], load_settings(index_dir=index), embeddings=embeddings).chunks_total > 0
    before = published_keys(index, embeddings)
    write_articles(docs, 4, tag="new")
    modes = {path: path.stat().st_mode for path in [index, *index.rglob("*")]}
    for path in modes:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        result = subprocess.run(
            [*drop_root_privileges(), sys.executable, "ingest.py", str(docs), "--index", str(index)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [result.stderr.strip().splitlines()[-1]]  # one line
        assert "not writable" in result.stderr, result.stderr
        asked = subprocess.run(
            [
                *drop_root_privileges(),
                sys.executable,
                "-m",
                "qa",
                "ask",
                "What did the harbour council agree?",
                "--index",
                str(index),
                "--json",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        # Chroma writes to its folder even to read: a read-only index cannot answer, and says why
        assert asked.returncode == 1
        assert "not writable" in asked.stderr and "Chroma writes to its folder even to read" in asked.stderr
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert published_keys(index, embeddings) == before
    assert ask(index).returncode == 0  # writable again: answers as before
