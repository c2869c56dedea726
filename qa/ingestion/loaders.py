"""Path -> extracted text + title (+ page offsets). One reader per file type, in a dict.

Every failure becomes an IngestError naming the reason, so one bad file never stops a run.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes

from ..errors import IngestError

log = logging.getLogger(__name__)

_SNIFF_BYTES = 8192
# Control characters that do not occur in text (everything below 0x20 except \t \n \f \r, and DEL).
_BINARY_CONTROL = bytes(set(range(32)) - {9, 10, 12, 13}) + b"\x7f"


# Decompression bombs: a DOCX (a zip) may inflate to at most this much, or this ratio once it is
# large; each PDF stream to at most PDF_STREAM_LIMIT (pypdf's own default is 75 MB, which still
# takes minutes to parse).
DOCX_INFLATED_LIMIT = 200_000_000
DOCX_RATIO_LIMIT = 100
PDF_STREAM_LIMIT = 32_000_000

_WESTERN = "cp1252"
_CHAOS_MARGIN = 0.1


@dataclass
class LoadedText:
    """The text of one file as the index will see it."""

    text: str
    title: str
    page_starts: list[int] | None = None  # offset where page i+1 begins (PDF only)
    warnings: list[str] = field(default_factory=list)


def _looks_binary(data: bytes) -> bool:
    sample = data[:_SNIFF_BYTES]
    if b"\x00" in sample:
        return True
    if not sample:
        return False
    control = sum(1 for byte in sample if byte in _BINARY_CONTROL)
    return control / len(sample) > 0.05


def decode_text(data: bytes, path: str) -> tuple[str, list[str]]:
    """Bytes -> str: UTF-8 (with or without BOM) first, else the detected encoding, said aloud."""
    if _looks_binary(data):
        raise IngestError(path, "binary content, not text")
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    matches = list(from_bytes(data))
    if matches:
        best = min(matches, key=lambda m: m.chaos)
        # Short Western texts tie between many single-byte code pages; Windows-1252 is by far the
        # most common of them, so it wins unless another encoding reads clearly better.
        western = next((m for m in matches if _WESTERN in m.could_be_from_charset), None)
        chosen = western if western is not None and western.chaos <= best.chaos + _CHAOS_MARGIN else best
        return str(chosen), [f"not UTF-8; decoded as {chosen.encoding}"]
    return data.decode("utf-8", errors="replace"), ["not UTF-8 and no encoding detected; undecodable bytes replaced"]


def _first_line_title(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return ""


def _read_plain(data: bytes, path: str) -> LoadedText:
    text, warnings = decode_text(data, path)
    return LoadedText(text=text, title=_first_line_title(text), warnings=warnings)


def _read_html(data: bytes, path: str) -> LoadedText:
    from bs4 import BeautifulSoup

    markup, warnings = decode_text(data, path)
    soup = BeautifulSoup(markup, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "noscript", "template", "head", "svg", "iframe", "object"]):
        tag.decompose()
    text = soup.get_text("\n")
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return LoadedText(text=text, title=title or _first_line_title(text), warnings=warnings)


def _read_pdf(data: bytes, path: str) -> LoadedText:
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError

    limits = {
        name: PDF_STREAM_LIMIT
        for name in (
            "maximum_declared_stream_length",
            "array_based_stream_maximum_output_length",
            "jbig2_maximum_output_length",
            "lzw_maximum_output_length",
            "run_length_maximum_output_length",
            "zlib_maximum_output_length",
            "brotli_maximum_output_length",
        )
    }
    try:
        with apply_configuration(**limits):
            return _extract_pdf(PdfReader(io.BytesIO(data)), path)
    except LimitReachedError as exc:
        raise IngestError(
            path, f"PDF stream over {PDF_STREAM_LIMIT // 1_000_000} MB once inflated: refused as a decompression bomb"
        ) from exc


def _extract_pdf(reader: Any, path: str) -> LoadedText:
    from pypdf import PasswordType

    # Many PDFs carry only an owner password (restricting printing, say): the empty user
    # password opens them. Only a real user password makes the text unreachable.
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise IngestError(path, "encrypted PDF (a password is needed)")
    pages = [page.extract_text() or "" for page in reader.pages]
    meta_title = (reader.metadata.title if reader.metadata else None) or ""
    parts: list[str] = []
    page_starts: list[int] = []
    offset = 0
    for page_text in pages:
        page_starts.append(offset)
        parts.append(page_text)
        offset += len(page_text) + 2  # the "\n\n" joining pages
    text = "\n\n".join(parts)
    if not text.strip():
        raise IngestError(path, "PDF has no extractable text (scanned images?)")
    return LoadedText(text=text, title=str(meta_title).strip() or _first_line_title(text), page_starts=page_starts)


def _read_docx(data: bytes, path: str) -> LoadedText:
    import zipfile

    import docx

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        inflated = sum(member.file_size for member in archive.infolist())
    if inflated > DOCX_INFLATED_LIMIT or (inflated > 20_000_000 and inflated > DOCX_RATIO_LIMIT * len(data)):
        raise IngestError(path, f"zip bomb: {len(data) / 1e6:.1f} MB that inflates to {inflated / 1e6:.0f} MB")
    document = docx.Document(io.BytesIO(data))
    paragraphs = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            paragraphs.append(" | ".join(cell.text for cell in row.cells))
    text = "\n\n".join(p for p in paragraphs if p.strip())
    title = (document.core_properties.title or "").strip()
    return LoadedText(text=text, title=title or _first_line_title(text))


Reader = Callable[[bytes, str], LoadedText]

READERS: dict[str, Reader] = {
    ".txt": _read_plain,
    ".md": _read_plain,
    ".markdown": _read_plain,
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
    ".docx": _read_docx,
}


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in READERS


def load_bytes(data: bytes, path: Path) -> LoadedText:
    """Extract text from the bytes of `path` with the reader for its extension."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise IngestError(str(path), f"unsupported file type {path.suffix or '(none)'}")
    if not data.strip():
        raise IngestError(str(path), "empty file")
    try:
        loaded = reader(data, str(path))
    except IngestError:
        raise
    except RecursionError as exc:
        raise IngestError(str(path), "too deeply nested to parse") from exc
    except Exception as exc:  # third-party parsers of untrusted files raise anything; one bad file must not end the run
        suffix = path.suffix.lower()
        reason = f"corrupt {suffix.lstrip('.').upper()}: cannot parse {suffix} ({type(exc).__name__}: {exc})"
        raise IngestError(str(path), reason) from exc
    if not loaded.text.strip():
        raise IngestError(str(path), "no text in file")
    return loaded
