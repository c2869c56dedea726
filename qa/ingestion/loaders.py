"""Path -> extracted text + title + sections. One reader per file type, in a dict (the readers
live in `formats/`, one module per family; `extracted` says what they return).

Every failure becomes an IngestError naming the reason, so one bad file never stops a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ..errors import IngestError
from .extracted import LoadedText, ReadOptions, Section, SectionWriter
from .formats.books import read_epub, read_odf, read_rtf
from .formats.mail import read_eml, read_mbox
from .formats.office import read_docx, read_pptx
from .formats.outlook import read_msg
from .formats.pdf import read_pdf
from .formats.plain import read_html, read_plain
from .formats.scans import read_image
from .formats.sheets import read_delimited, read_xlsx

log = logging.getLogger(__name__)

Reader = Callable[[bytes, str, ReadOptions], LoadedText]

READERS: dict[str, Reader] = {
    ".txt": read_plain,
    ".md": read_plain,
    ".markdown": read_plain,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".pptx": read_pptx,
    ".xlsx": read_xlsx,
    ".xlsm": read_xlsx,
    ".csv": read_delimited,
    ".tsv": read_delimited,
    ".eml": read_eml,
    ".mbox": read_mbox,
    ".msg": read_msg,
    ".epub": read_epub,
    ".odt": read_odf,
    ".ods": read_odf,
    ".odp": read_odf,
    ".rtf": read_rtf,
    ".png": read_image,
    ".jpg": read_image,
    ".jpeg": read_image,
    ".tif": read_image,
    ".tiff": read_image,
}


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in READERS


def load_bytes(data: bytes, path: Path, options: ReadOptions | None = None) -> LoadedText:
    """Extract text from the bytes of `path` with the reader for its extension."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise IngestError(str(path), f"unsupported file type {path.suffix or '(none)'}")
    if not data.strip():
        raise IngestError(str(path), "empty file")
    try:
        loaded = reader(data, str(path), options or ReadOptions())
    except IngestError:
        raise
    except RecursionError as exc:
        raise IngestError(str(path), "too deeply nested to parse") from exc
    except Exception as exc:  # third-party parsers of untrusted files raise anything; one bad file must not end the run
        suffix = path.suffix.lower()
        reason = f"corrupt {suffix.lstrip('.').upper()}: cannot parse {suffix} ({type(exc).__name__}: {exc})"
        raise IngestError(str(path), reason) from exc
    if loaded.attachments:
        _append_attachments(loaded, options or ReadOptions())
    if not loaded.text.strip():
        raise IngestError(str(path), "no text in file")
    return loaded


def _append_attachments(loaded: LoadedText, options: ReadOptions) -> None:
    """Each attachment of a supported type read by its reader and appended as sections named by
    `where` (a bad one is a warning: the mail is still read)."""
    writer = SectionWriter.after(loaded.text, loaded.sections)
    for attachment in loaded.attachments:
        if Path(attachment.filename).suffix.lower() not in READERS:
            continue
        try:
            inner = load_bytes(attachment.data, Path(attachment.filename), options)
        except IngestError as exc:
            loaded.warnings.append(f"attachment {attachment.filename} skipped: {exc.reason}")
            continue
        loaded.warnings.extend(f"attachment {attachment.filename}: {warning}" for warning in inner.warnings)
        parts = inner.sections or [Section(0)]
        ends = [section.start for section in parts[1:]] + [len(inner.text)]
        for section, end in zip(parts, ends, strict=True):
            where = f"{attachment.where}, {section.location}" if section.location else attachment.where
            writer.add(inner.text[section.start : end], page=section.page, location=where)
    loaded.text, loaded.sections, loaded.attachments = writer.text(), writer.sections, []
