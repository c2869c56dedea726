"""The ingest CLI as scripts use it: the --json contract, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, run_cli, write_articles
from .doubles import HashEmbeddings

# The outcomes here do not depend on the model: the hash double embeds, here and in every child.
pytestmark = pytest.mark.usefixtures("hash_model_children")


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    return hash_embeddings


def test_json_contract_and_quiet(tmp_path: Path) -> None:
    result = run_cli(["ingest.py", "seeds", "--index", str(tmp_path / "idx"), "--json", "--quiet"])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert set(report["files"]) >= {"added", "updated", "unchanged", "deleted", "skipped"}
    assert all(isinstance(v, int) for v in report["files"].values())
    assert set(report["chunks"]) >= {"added", "deleted", "total"}
    assert all(isinstance(v, int) for v in report["chunks"].values())
    assert isinstance(report["seconds"], float) and report["skipped"] == []
    assert report["files"]["added"] == 1 and report["chunks"]["total"] == report["chunks"]["added"] > 0


def test_summary_warnings_and_strict(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_articles(docs, 1)
    (docs / "empty.txt").write_bytes(b"")
    index = str(tmp_path / "idx")
    result = run_cli(["ingest.py", str(docs), "--index", index])
    assert result.returncode == 0, result.stderr
    assert "files: 1 added" in result.stdout and "1 skipped" in result.stdout
    assert "empty.txt: empty file" in result.stderr  # a warning that names the file and why
    strict = run_cli(["ingest.py", str(docs), "--index", index, "--strict"])
    assert strict.returncode == 1
    assert strict.stderr.strip().splitlines() == ["error: empty.txt: empty file"]


def test_errors_are_one_line_and_exit_1(tmp_path: Path) -> None:
    result = run_cli(["-m", "qa", "search", "anything", "--index", str(tmp_path / "none")])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: no index in {tmp_path / 'none'}; build it with: python ingest.py [PATH ...]"
    ]
    bad = run_cli(["ingest.py", "seeds", "--index", str(tmp_path / "i")], env={"QA_CHUNK_OVERLAP": "5000"})
    assert bad.returncode == 1 and "chunk_overlap" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_nothing_to_ingest_publishes_nothing(tmp_path: Path) -> None:
    result = run_cli(["ingest.py", str(tmp_path / "nope"), "--index", str(tmp_path / "idx"), "--json", "--quiet"])
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope'}: no documents could be ingested"]
    assert not (tmp_path / "idx" / "index.json").exists()


def drop_root_privileges() -> list[str]:
    """A command prefix under which root obeys file permissions (as it does for other users)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop root's file-permission override"
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


def test_unlistable_folder_loses_nothing(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_articles(docs, 1, tag="top")
    write_articles(docs / "sub", 2, tag="sub")
    index = str(tmp_path / "idx")
    first = json.loads(run_cli(["ingest.py", str(docs), "--index", index, "--json", "--quiet"]).stdout)
    (docs / "sub").chmod(0o000)
    try:
        result = subprocess.run(
            [*drop_root_privileges(), sys.executable, "ingest.py", str(docs), "--index", index, "--json", "--quiet"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        (docs / "sub").chmod(0o755)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["skipped"] == [{"path": str(docs / "sub"), "reason": "cannot list folder: Permission denied"}]
    assert report["files"]["deleted"] == 0 and report["chunks"]["total"] == first["chunks"]["total"]


def test_unreadable_file_is_skipped(tmp_path: Path) -> None:
    """Root reads anything, so as root the child runs without the capabilities that bypass
    file permissions (setpriv from util-linux); as another user the mode bits suffice."""
    docs = tmp_path / "docs"
    write_articles(docs, 1)
    (docs / "secret.txt").write_text("Top secret plans.", encoding="utf-8")
    (docs / "secret.txt").chmod(0o000)
    result = subprocess.run(
        [
            *drop_root_privileges(),
            sys.executable,
            "ingest.py",
            str(docs),
            "--index",
            str(tmp_path / "idx"),
            "--json",
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["skipped"] == [{"path": "secret.txt", "reason": "permission denied"}]
    assert report["files"]["added"] == 1
