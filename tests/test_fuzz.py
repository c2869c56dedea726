"""Hostile and malformed input, fuzzed with hypothesis: whatever the bytes, a loader returns text
or raises IngestError with a reason (nothing else escapes to end a run), the chunker loses no text
and keeps its offsets and budget, and bombs (zip, deflate, nesting, huge lines, huge files) are
refused or handled with bounded time and memory. An end-to-end run ingests a folder of such files
in a child process, reports each bad one and keeps the good ones, under a memory bound."""

from __future__ import annotations

import functools
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import docx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.errors import IngestError
from qa.ingestion.chunking import Chunker
from qa.ingestion.loaders import READERS, load_bytes
from qa.text.tokens import get_encoding

from .conftest import ROOT, make_pdf, write_articles
from .doubles import HashEmbeddings

# The outcomes here do not depend on the model: the hash double embeds, here and in every child.
pytestmark = pytest.mark.usefixtures("hash_model_children")


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    return hash_embeddings


def peak_rss_kb() -> int:
    """This process's peak resident memory since start or since `reset_peak_rss`, in KB
    (VmHWM: unlike ru_maxrss, not inherited across exec from the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> int:
    """Start this process's peak over at its current resident memory (Linux's clear_refs "5"),
    so what is measured next is the next call's own: the test process's peak is otherwise
    whatever an earlier test reached (a model load, a big index), above anything a bomb adds."""
    Path("/proc/self/clear_refs").write_text("5")
    return peak_rss_kb()


EXTENSIONS = sorted(READERS)  # every format the ingest reads
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load_or_reason(data: bytes, name: str) -> str | None:
    """The text, or None when the loader refused the input with a reason."""
    try:
        loaded = load_bytes(data, Path(name))
    except IngestError as exc:
        assert exc.reason and exc.path == name
        return None
    assert isinstance(loaded.text, str) and loaded.text.strip()
    return loaded.text


def docx_bytes(paragraphs: list[str]) -> bytes:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@FUZZ
@given(data=st.binary(max_size=4096), extension=st.sampled_from(EXTENSIONS))
def test_random_bytes_never_escape(data: bytes, extension: str) -> None:
    load_or_reason(data, "fuzz" + extension)


@FUZZ
@given(
    parts=st.lists(
        st.tuples(
            st.text(max_size=200), st.sampled_from(["utf-8", "utf-16", "latin-1", "cp1252", "shift_jis", "koi8-r"])
        ),
        min_size=1,
        max_size=5,
    ),
    extension=st.sampled_from([".txt", ".md", ".html"]),
)
def test_mixed_encodings_and_control_characters(parts: list[tuple[str, str]], extension: str) -> None:
    data = b"".join(text.encode(encoding, errors="ignore") for text, encoding in parts)
    load_or_reason(data, "mixed" + extension)


@functools.cache
def good_files() -> tuple[tuple[str, bytes], ...]:
    """One real file of each container format, written by its own library."""
    from .msg_files import Msg, msg_bytes
    from .test_formats import pdf_with_table, pptx_bytes, xlsx_bytes
    from .test_mail_and_books import message

    return (
        ("d.pdf", make_pdf(["Alpha page text", "Beta page text"])),
        ("t.pdf", pdf_with_table([("Region", "2021"), ("Lagoon", "7.9")])),
        ("d.docx", docx_bytes(["Hello", "World"])),
        ("d.pptx", pptx_bytes()),
        ("d.xlsx", xlsx_bytes()),
        ("d.eml", message().as_bytes()),
        ("d.msg", msg_bytes(Msg("Budget", body="The mirror is ordered.", files=[("n.txt", b"Dome key")]))),
    )


@FUZZ
@given(data=st.binary(min_size=1, max_size=2048), cut=st.integers(min_value=0, max_value=4000))
def test_damaged_files_of_every_container_format(data: bytes, cut: int) -> None:
    """Real files with random bytes spliced in or truncated at a random point."""
    for name, good in good_files():
        at = cut % len(good)
        load_or_reason(good[:at] + data + good[at + len(data) :], name)
        load_or_reason(good[:at], name)


@FUZZ
@given(text=st.text(max_size=3000))
def test_chunker_loses_nothing_and_keeps_offsets(text: str) -> None:
    chunker = Chunker(64, 12)
    encoding = get_encoding("cl100k_base")
    chunks = chunker.split(text)
    covered = [False] * len(text)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert len(encoding.encode_ordinary(chunk.text)) <= 64
        for i in range(chunk.start, chunk.end):
            covered[i] = True
    lost = [ch for ch, seen in zip(text, covered, strict=True) if not seen and not ch.isspace()]
    assert not lost, f"characters lost by the chunker: {lost[:20]}"


def test_huge_line_without_separators_chunks_in_bounded_time() -> None:
    text = "x" * 300_000 + " tail"
    chunks = Chunker(200, 40).split(text)
    assert chunks and chunks[-1].text.endswith("tail")
    assert sum(len(c.text) for c in chunks) >= 300_000


def test_deeply_nested_html() -> None:
    html = ("<div>" * 200_000 + "deep text" + "</div>" * 200_000).encode()
    assert load_or_reason(html, "nested.html") in (None, "deep text")


def full_flush_deflate(block: bytes) -> tuple[bytes, bytes]:
    """Raw deflate of `block` followed by a full flush, and the end of a stream: after a full
    flush the compressor starts afresh, so every further copy of the block deflates to these same
    bytes. A bomb of n copies is then n copies of them, a valid stream that inflates to exactly
    the n blocks, made without deflating gigabytes again."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    assert packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH) == piece
    return piece, packer.flush()


class RepeatedBlockDeflater:
    """A zip member's compressor for a member written as copies of one block (zipfile still
    computes the member's CRC and sizes from the bytes written)."""

    def __init__(self, block: bytes) -> None:
        self.block = block
        self.piece, self.end = full_flush_deflate(block)

    def compress(self, data: bytes) -> bytes:
        assert data == self.block
        return self.piece

    def flush(self) -> bytes:
        return self.end


def test_docx_zip_bomb_is_refused() -> None:
    """A DOCX whose document.xml inflates to 2 GB from a few MB: refused from the zip directory,
    before anything is inflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b" " * (1 << 20)
            member._compressor = RepeatedBlockDeflater(block)  # type: ignore[attr-defined]
            for _ in range(2048):
                member.write(block)
    data = buffer.getvalue()
    before = reset_peak_rss()
    with pytest.raises(IngestError, match="zip bomb|too large"):
        load_bytes(data, Path("bomb.docx"))
    assert peak_rss_kb() - before < 200_000  # KB: nothing inflated


def test_pdf_deflate_bomb_is_refused() -> None:
    """A page whose content stream inflates to 1 GB from about 1 MB: refused once 32 MB are out."""
    block = b"BT (x) Tj ET " * 80_000
    piece, end = full_flush_deflate(block)
    checksum = 1
    for _ in range(1000):
        checksum = zlib.adler32(block, checksum)
    deflated = b"\x78\xda" + piece * 1000 + end + struct.pack(">I", checksum)  # zlib's header and trailer
    data = make_pdf(["Visible text", "bomb"], deflated={1: deflated})
    before = reset_peak_rss()
    with pytest.raises(IngestError, match="decompression bomb"):
        load_bytes(data, Path("bomb.pdf"))
    assert peak_rss_kb() - before < 400_000  # KB


def test_a_folder_of_hostile_files_end_to_end(tmp_path: Path) -> None:
    """The real CLI on good and hostile files at once: each bad file reported with a reason, the
    good ones ingested, the process's peak memory bounded, nothing crashes."""
    docs = tmp_path / "docs"
    write_articles(docs, 3)
    hostile = {
        "zero.txt": b"",
        "random.pdf": os.urandom(5000),
        "random.docx": os.urandom(5000),
        "binary.txt": bytes(range(256)) * 50,
        "nul-in-text.md": b"hello\x00world" * 100,
        "truncated.pdf": make_pdf(["Some text"])[:200],
        "nested.html": ("<b>" * 100_000).encode(),
    }
    for name, data in hostile.items():
        (docs / name).write_bytes(data)
    with open(docs / "huge.txt", "wb") as handle:  # 200 MB, sparse: over the size limit
        handle.truncate(200 * 1024 * 1024)
    # One format, so the first load on a machine does not calibrate three (about 400 MB more, once
    # per machine and thread count): what is bounded here is the hostile files' cost.
    env = {**os.environ, "QA_EMBEDDING_DTYPE": "float32"}
    result = subprocess.run(
        [sys.executable, "-c", _MEASURED, str(docs), str(tmp_path / "index")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    report, peak_mb = json.loads(result.stdout.splitlines()[-2]), float(result.stdout.splitlines()[-1])
    skipped = {item["path"]: item["reason"] for item in report["skipped"]}
    assert report["files"]["added"] == 3 + (0 if "nested.html" in skipped else 1)
    for name in set(hostile) - {"nested.html"} | {"huge.txt"}:
        assert name in skipped and skipped[name], name
    assert "too large" in skipped["huge.txt"]
    assert peak_mb < 2000, f"peak RSS {peak_mb} MB"


# The child's own peak, VmHWM: its ru_maxrss would be the test process's peak when that is higher
# (a child started by vfork and exec inherits its parent's), and the test process holds models.
_MEASURED = """
import json, sys
from pathlib import Path
from qa import ingest, load_settings

report = ingest([sys.argv[1]], load_settings(index_dir=sys.argv[2]))
print(json.dumps(report.to_json()))
status = Path("/proc/self/status").read_text()
print(next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024)
"""
