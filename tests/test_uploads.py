"""Uploads: hostile names are reduced or refused, nothing is overwritten, nothing leaves docs_dir."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from qa.errors import ConfigError, QAError
from qa.web import uploads
from qa.web.uploads import SUPPORTED, UploadRejected, UploadResult, safe_filename, save_uploads

MB = 1_000_000


def tree(root: Path) -> dict[str, bytes | str]:
    """Every entry under root (symlinks not followed): relative path -> bytes, or the link target."""
    found: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath) / name
            key = path.relative_to(root).as_posix()
            found[key] = f"-> {os.readlink(path)}" if path.is_symlink() else path.read_bytes()
    return found


@pytest.fixture
def incoming(tmp_path: Path):
    """Write upload bytes to temp files (as Gradio does) outside the documents folder."""
    folder = tmp_path / "incoming"
    folder.mkdir()
    counter = iter(range(10_000))

    def make(data: bytes = b"hello world\n") -> Path:
        path = folder / f"upload-{next(counter)}.bin"
        path.write_bytes(data)
        return path

    return make


def save(items: list[tuple[str, Path]], docs: Path, max_bytes: int = MB) -> UploadResult:
    return save_uploads(items, docs, max_bytes)


# --- safe_filename ---------------------------------------------------------------------------


def test_supported_uses_the_readers_spelling() -> None:
    assert ".txt" in SUPPORTED and ".pdf" in SUPPORTED and ".md" in SUPPORTED
    assert all(ext.startswith(".") and ext == ext.lower() for ext in SUPPORTED)
    assert list(SUPPORTED) == sorted(SUPPORTED)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../x.txt", "x.txt"),
        ("..\\..\\x.txt", "x.txt"),
        ("/etc/cron.d/x.txt", "x.txt"),
        ("a/b/../c.txt", "c.txt"),
        ("C:\\x\\y.txt", "y.txt"),
        ("/abs/path.txt", "path.txt"),
        ("report.txt", "report.txt"),
        ("Report Final.PDF", "Report Final.PDF"),  # case kept, compared lower
        (".bashrc.txt", "bashrc.txt"),
        ("...hidden.md", "hidden.md"),
        ("  spaced   out\u3000name .md", "spaced out name.md"),
        ('a<b>c|d?e*f:g"h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("rep\u202eort.txt", "rep_ort.txt"),  # right-to-left override: a spoofing trick
        ("caf\u00e9.txt", "caf\u00e9.txt"),
        ("cafe\u0301.txt", "caf\u00e9.txt"),  # NFD (as macOS sends it) -> NFC
        ("\u4e2d\u6587\u6587\u6863.docx", "\u4e2d\u6587\u6587\u6863.docx"),
        ("notes (1), draft.md", "notes (1), draft.md"),
        ("x.txt.", "x.txt"),
        ("console.txt", "console.txt"),  # only the exact device names are reserved
    ],
)
def test_names_are_reduced_to_a_safe_base_name(given: str, expected: str) -> None:
    assert safe_filename(given) == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("a\x00.txt", "NUL"),
        ("x.txt\x00.exe", "NUL"),
        ("a\nb.txt", "control"),
        ("a\tb.txt", "control"),
        ("a\x1bb.txt", "control"),
        ("a\x7fb.txt", "control"),
        ("CON.txt", "reserved"),
        ("nul.md", "reserved"),
        ("Com1.pdf", "reserved"),
        ("lpt9.txt", "reserved"),
        ("aux.tar.txt", "reserved"),
        ("PRN .txt", "reserved"),
        ("..", "no usable"),
        (".", "no usable"),
        ("", "no usable"),
        ("   ", "no usable"),
        ("dir/", "no usable"),
        ("../..", "no usable"),
        (".txt", "supported types"),
        (".bashrc", "supported types"),
        ("virus.exe", "unsupported file type .exe"),
        ("x.txt.exe", "unsupported file type .exe"),
        ("README", "no file extension"),
        ("archive.tar.gz", "unsupported"),
    ],
)
def test_bad_names_are_rejected_with_a_reason(given: str, reason: str) -> None:
    with pytest.raises(UploadRejected) as caught:
        safe_filename(given)
    assert reason in caught.value.reason
    assert isinstance(caught.value, QAError)


def test_unsupported_reason_lists_the_supported_types() -> None:
    with pytest.raises(UploadRejected) as caught:
        safe_filename("tool.exe")
    for ext in SUPPORTED:
        assert ext in caught.value.reason


def test_long_names_are_capped_keeping_the_extension() -> None:
    name = safe_filename("a" * 500 + ".markdown")
    assert len(name) == 120 and name.endswith(".markdown")
    wide = safe_filename("\u4e2d" * 300 + ".txt")  # 3 UTF-8 bytes each
    assert len(wide) <= 120 and wide.endswith(".txt") and len(wide.encode()) <= 240


# --- save_uploads ----------------------------------------------------------------------------


def test_saves_under_the_safe_name_and_creates_docs_dir(tmp_path: Path, incoming) -> None:
    docs = tmp_path / "new" / "docs"
    result = save([("../../report.txt", incoming(b"report body")), ("caf\u00e9 \u4e2d\u6587.md", incoming())], docs)
    assert [s.name for s in result.saved] == ["report.txt", "caf\u00e9 \u4e2d\u6587.md"]
    assert (docs / "report.txt").read_bytes() == b"report body"
    assert result.saved[0].path == docs.resolve() / "report.txt"
    assert result.saved[0].renamed_from is None  # path components dropped is not a rename
    assert result.saved[1].renamed_from is None
    assert not result.rejected
    assert sorted(os.listdir(docs)) == ["caf\u00e9 \u4e2d\u6587.md", "report.txt"]  # no temp files left


def test_existing_file_is_never_overwritten(tmp_path: Path, incoming) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.txt").write_bytes(b"original")
    (docs / "notes (2).txt").write_bytes(b"second original")
    result = save([("notes.txt", incoming(b"new upload"))], docs)
    assert (docs / "notes.txt").read_bytes() == b"original"
    assert (docs / "notes (2).txt").read_bytes() == b"second original"
    (saved,) = result.saved
    assert saved.name == "notes (3).txt" and saved.renamed_from == "notes.txt"
    assert saved.path.read_bytes() == b"new upload"
    assert "renamed from notes.txt" in result.summary()


def test_duplicates_in_one_batch_get_distinct_names(tmp_path: Path, incoming) -> None:
    docs = tmp_path / "docs"
    result = save([("a.txt", incoming(b"1")), ("x/a.txt", incoming(b"2")), ("../a.txt", incoming(b"3"))], docs)
    assert [s.name for s in result.saved] == ["a.txt", "a (2).txt", "a (3).txt"]
    assert [s.path.read_bytes() for s in result.saved] == [b"1", b"2", b"3"]


def test_renamed_name_stays_within_the_length_cap(tmp_path: Path, incoming) -> None:
    docs = tmp_path / "docs"
    long = "b" * 300 + ".txt"
    result = save([(long, incoming(b"1")), (long, incoming(b"2"))], docs)
    first, second = result.saved
    assert len(first.name) == 120 and len(second.name) == 120
    assert second.name.endswith(" (2).txt") and second.path.read_bytes() == b"2"


def test_sanitised_name_is_reported_as_renamed(tmp_path: Path, incoming) -> None:
    result = save([("what?.txt", incoming())], tmp_path / "docs")
    assert result.saved[0].name == "what_.txt" and result.saved[0].renamed_from == "what?.txt"


def test_size_limit_and_empty_files(tmp_path: Path, incoming) -> None:
    docs = tmp_path / "docs"
    result = save(
        [
            ("big.txt", incoming(b"x" * 2_500_001)),
            ("exact.txt", incoming(b"y" * 2_000_000)),
            ("empty.txt", incoming(b"")),
        ],
        docs,
        max_bytes=2 * MB,
    )
    assert [s.name for s in result.saved] == ["exact.txt"]
    reasons = {r.name: r.reason for r in result.rejected}
    assert reasons["big.txt"] == "too large: 2.5 MB over the 2.0 MB limit"
    assert reasons["empty.txt"] == "empty file"
    assert sorted(os.listdir(docs)) == ["exact.txt"]


def test_unreadable_sources_are_rejected(tmp_path: Path, incoming) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # must not hang
    result = save([("gone.txt", tmp_path / "missing"), ("dir.txt", folder), ("pipe.txt", fifo)], tmp_path / "docs")
    assert not result.saved
    reasons = {r.name: r.reason for r in result.rejected}
    assert "cannot read the upload" in reasons["gone.txt"] and "No such file" in reasons["gone.txt"]
    assert reasons["dir.txt"] in ("the upload is not a regular file",) or "cannot read" in reasons["dir.txt"]
    assert reasons["pipe.txt"] == "the upload is not a regular file"
    assert os.listdir(tmp_path / "docs") == []


def test_one_bad_upload_does_not_stop_the_batch(tmp_path: Path, incoming) -> None:
    result = save([("evil\x00.txt", incoming()), ("CON.txt", incoming()), ("ok.md", incoming())], tmp_path / "docs")
    assert [s.name for s in result.saved] == ["ok.md"]
    assert [r.name for r in result.rejected] == ["evil\\x00.txt", "CON.txt"]  # shown escaped
    summary = result.summary()
    assert "\n" not in summary and "\x00" not in summary
    assert summary.startswith("Saved 1 file: ok.md. Rejected 2: ")


def test_summary_of_nothing() -> None:
    assert UploadResult().summary() == "No files uploaded."


def test_symlink_planted_in_docs_dir_is_never_written_through(tmp_path: Path, incoming) -> None:
    docs = tmp_path / "docs"
    outside = tmp_path / "outside"
    docs.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"do not touch")
    (docs / "report.txt").symlink_to(outside / "secret.txt")
    (docs / "fresh.txt").symlink_to(outside / "fresh.txt")  # dangling: writing through would create it
    (docs / "sub.txt").symlink_to(outside, target_is_directory=True)
    before = tree(outside)
    result = save(
        [("report.txt", incoming(b"evil 1")), ("fresh.txt", incoming(b"evil 2")), ("sub.txt", incoming(b"evil 3"))],
        docs,
    )
    assert tree(outside) == before
    assert [s.name for s in result.saved] == ["report (2).txt", "fresh (2).txt", "sub (2).txt"]
    for saved in result.saved:
        assert not saved.path.is_symlink() and saved.path.parent == docs.resolve()
    assert (docs / "report.txt").is_symlink()  # the planted link itself is left alone


def test_symlink_race_is_caught_by_link(tmp_path: Path, incoming, monkeypatch: pytest.MonkeyPatch) -> None:
    """A symlink appearing between the existence check and the write is not followed."""
    docs = tmp_path / "docs"
    outside = tmp_path / "outside"
    docs.mkdir()
    outside.mkdir()
    real_lexists = os.path.lexists
    planted: list[str] = []

    def lexists_then_plant(path: str | os.PathLike[str]) -> bool:
        exists = real_lexists(path)
        if not planted and Path(path).name == "race.txt":
            planted.append(str(path))
            Path(path).symlink_to(outside / "race.txt")
        return exists

    monkeypatch.setattr(uploads.os.path, "lexists", lexists_then_plant)
    result = save([("race.txt", incoming(b"data"))], docs)
    assert planted and os.listdir(outside) == []
    assert result.saved[0].name == "race (2).txt" and result.saved[0].path.read_bytes() == b"data"


@pytest.mark.parametrize("error", [errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV])
def test_without_hard_links_exclusive_create_is_used(
    tmp_path: Path, incoming, monkeypatch: pytest.MonkeyPatch, error: int
) -> None:
    docs = tmp_path / "docs"
    outside = tmp_path / "outside"
    docs.mkdir()
    outside.mkdir()
    (docs / "a.txt").write_bytes(b"keep")
    (docs / "b.txt").symlink_to(outside / "b.txt")

    calls: list[object] = []

    def no_link(src: object, dst: object, **kwargs: object) -> None:
        calls.append(dst)
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(uploads.os, "link", no_link)
    result = save([("a.txt", incoming(b"new a")), ("b.txt", incoming(b"new b")), ("c.txt", incoming(b"c"))], docs)
    assert [s.name for s in result.saved] == ["a (2).txt", "b (2).txt", "c.txt"]
    assert (docs / "a.txt").read_bytes() == b"keep" and os.listdir(outside) == []
    assert (docs / "c.txt").read_bytes() == b"c" and calls
    assert not [n for n in os.listdir(docs) if n.startswith(".")]  # temp files removed


def test_docs_dir_that_is_a_file_is_a_config_error(tmp_path: Path, incoming) -> None:
    docs = tmp_path / "docs"
    docs.write_text("not a folder")
    with pytest.raises(ConfigError):
        save([("a.txt", incoming())], docs)


def test_nothing_is_written_outside_docs_dir(tmp_path: Path, incoming) -> None:
    docs = tmp_path / "docs"
    hostile = [
        "../../x.txt",
        "..\\..\\x.txt",
        "/etc/cron.d/x.txt",
        "a/b/../c.txt",
        "../docs/../escape.txt",
        "..",
        "nul.md",
        "x\x00/../../y.txt",
        "\u4e2d\u6587.md",
        ".bashrc.txt",
        "big.txt",
    ]
    sources = [incoming(b"z" * (10 if name != "big.txt" else 5000)) for name in hostile]
    before = tree(tmp_path)
    result = save(list(zip(hostile, sources, strict=True)), docs, max_bytes=1000)
    after = tree(tmp_path)
    new = {key for key in after if key not in before}
    assert new and all(key.startswith("docs/") for key in new)
    assert all(after[key] == before[key] for key in before)
    assert not [n for n in os.listdir(docs) if n.startswith(".")]
    assert len(result.saved) + len(result.rejected) == len(hostile)
    assert {s.name for s in result.saved} == {
        "x.txt",
        "x (2).txt",
        "x (3).txt",
        "c.txt",
        "escape.txt",
        "\u4e2d\u6587.md",
        "bashrc.txt",
    }
