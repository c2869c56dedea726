"""What a reader gives back: the text of one file as the index will see it, cut into the sections
that are chunked apart (pages, slides, sheets, messages, chapters), and the helpers every reader
shares (decoding text, the first line as a title, the zip-bomb guard).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from charset_normalizer import from_bytes

from ..errors import IngestError

_SNIFF_BYTES = 8192
# Control characters that do not occur in text (everything below 0x20 except \t \n \f \r, and DEL).
_BINARY_CONTROL = bytes(set(range(32)) - {9, 10, 12, 13}) + b"\x7f"
_WESTERN = "cp1252"
_CHAOS_MARGIN = 0.1

# Decompression bombs: a zip container (DOCX, PPTX, XLSX, EPUB, ODF) may inflate to at most this
# much, or this ratio once it is large.
ZIP_INFLATED_LIMIT = 200_000_000
ZIP_RATIO_LIMIT = 100


@dataclass(frozen=True)
class ReadOptions:
    """What a reader may do beyond parsing: OCR for scans (tesseract), and how long a page may take."""

    ocr: bool = True
    ocr_timeout_s: float = 60.0
    ocr_languages: str = "eng"


@dataclass(frozen=True)
class Section:
    """A part of the text chunked on its own, so that no chunk (and no citation) straddles two:
    it runs from `start` to the next section's start. `page` is the page or slide number,
    `location` names the place ("slide 3", "sheet Budget", "chapter 2", a mail's subject), and
    `rows` holds (offset, row number) of each table row in it, so a chunk's location can say
    which rows it holds ("sheet Budget, rows 12-30")."""

    start: int
    page: int | None = None
    location: str | None = None
    rows: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Attachment:
    """A file inside a file (a mail's attachment), read by its own reader after the file's text;
    `where` names it ("Budget meeting, attachment plan.xlsx")."""

    filename: str
    data: bytes
    where: str


@dataclass
class LoadedText:
    """The text of one file as the index will see it."""

    text: str
    title: str
    sections: list[Section] | None = None  # None: the whole text is one section
    warnings: list[str] = field(default_factory=list)
    date: datetime | None = None  # what the file says its date is (a mail's Date), else its mtime
    attachments: list[Attachment] = field(default_factory=list)  # read and appended by loaders.load_bytes


class SectionWriter:
    """Builds a LoadedText's text section by section (joined by blank lines), keeping offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.sections: list[Section] = []
        self.length = 0

    @classmethod
    def after(cls, text: str, sections: Sequence[Section] | None) -> SectionWriter:
        """A writer that goes on after a text already cut into `sections`."""
        writer = cls()
        if text:
            writer.parts, writer.length = [text], len(text)
            writer.sections = list(sections or [Section(0)])
        return writer

    def add(
        self,
        text: str,
        page: int | None = None,
        location: str | None = None,
        rows: Sequence[tuple[int, str]] = (),
    ) -> None:
        """One section: `text` (a slide's words, a sheet's name), then `rows`, (row number, row
        text) one per line. An empty section is left out."""
        start = self.length + (2 if self.parts else 0)
        lines = [text.strip()] if text.strip() else []
        at = start + sum(len(line) + 1 for line in lines)
        offsets: list[tuple[int, int]] = []
        for number, row in rows:
            row = " ".join(row.split())
            if row:
                offsets.append((at, number))
                lines.append(row)
                at += len(row) + 1
        body = "\n".join(lines)
        if not body:
            return
        self.sections.append(Section(start, page, location, tuple(offsets)))
        self.parts.append(body)
        self.length = start + len(body)

    def add_verbatim(self, text: str, page: int | None = None) -> None:
        """One section holding `text` exactly as given, even when empty (a PDF page's text layer,
        kept byte for byte so its chunks, and their keys, stay what they were)."""
        start = self.length + (2 if self.parts else 0)
        self.sections.append(Section(start, page))
        self.parts.append(text)
        self.length = start + len(text)

    def text(self) -> str:
        return "\n\n".join(self.parts)


def looks_binary(data: bytes) -> bool:
    sample = data[:_SNIFF_BYTES]
    if b"\x00" in sample:
        return True
    if not sample:
        return False
    control = sum(1 for byte in sample if byte in _BINARY_CONTROL)
    return control / len(sample) > 0.05


def decode_text(data: bytes, path: str) -> tuple[str, list[str]]:
    """Bytes -> str: UTF-8 (with or without BOM) first, else the detected encoding, said aloud."""
    if looks_binary(data):
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
        if western is None and _reads_as_western(data):
            return data.decode(_WESTERN), [f"not UTF-8; decoded as {_WESTERN}"]
        return str(chosen), [f"not UTF-8; decoded as {chosen.encoding}"]
    return data.decode("utf-8", errors="replace"), ["not UTF-8 and no encoding detected; undecodable bytes replaced"]


# What accented Western text holds besides ASCII: Latin letters, and Windows-1252's punctuation.
_WESTERN_SIGNS = frozenset("€‚„…†‡‰‹›‘’“”•–—™°«»§©®±²³µ·¹º¼½¾¿×÷ ")


def _reads_as_western(data: bytes) -> bool:
    """Mostly ASCII text whose few other bytes read in Windows-1252 as Latin letters (or its
    punctuation): a short CSV with "Côte" in it, which the detector may take for Big5."""
    try:
        text = data.decode(_WESTERN)
    except UnicodeDecodeError:
        return False
    other = [char for char in text if ord(char) > 127]
    if not other or len(other) > 0.1 * len(text):
        return False
    return all(char in _WESTERN_SIGNS or ("\u00c0" <= char <= "\u024f" and char.isalpha()) for char in other)


def first_line_title(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return ""


def guard_zip(data: bytes, path: str) -> None:
    """Refuse a zip container that inflates to far more than it weighs (checked from the archive's
    directory, before anything is inflated)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile as exc:
        kind = path.rsplit(".", 1)[-1].upper() if "." in path else "file"
        raise IngestError(path, f"corrupt {kind}: not a valid zip container ({exc})") from exc
    if inflated > ZIP_INFLATED_LIMIT or (inflated > 20_000_000 and inflated > ZIP_RATIO_LIMIT * len(data)):
        raise IngestError(path, f"zip bomb: {len(data) / 1e6:.1f} MB that inflates to {inflated / 1e6:.0f} MB")
