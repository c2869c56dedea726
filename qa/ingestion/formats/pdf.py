"""PDF: the text layer page by page (each page a section, numbered)."""

from __future__ import annotations

import io
from typing import Any

from ...errors import IngestError
from ..extracted import LoadedText, ReadOptions, Section, first_line_title
from .scans import ocr_pdf_pages, unavailable

# Each PDF stream may inflate to at most this much (pypdf's own default is 75 MB, which still takes
# minutes to parse).
PDF_STREAM_LIMIT = 32_000_000


def read_pdf(data: bytes, path: str, options: ReadOptions) -> LoadedText:
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
            return _extract(PdfReader(io.BytesIO(data)), data, path, options)
    except LimitReachedError as exc:
        raise IngestError(
            path, f"PDF stream over {PDF_STREAM_LIMIT // 1_000_000} MB once inflated: refused as a decompression bomb"
        ) from exc


def _extract(reader: Any, data: bytes, path: str, options: ReadOptions) -> LoadedText:
    from pypdf import PasswordType

    # Many PDFs carry only an owner password (restricting printing, say): the empty user
    # password opens them. Only a real user password makes the text unreachable.
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise IngestError(path, "encrypted PDF (a password is needed)")
    pages = [page.extract_text() or "" for page in reader.pages]
    warnings: list[str] = []
    scanned = [index for index, page_text in enumerate(pages) if not page_text.strip()]
    if scanned:  # pages without a text layer: scans, read by OCR where it can run
        reason = unavailable(options)
        if reason is None:
            for index, page_text in ocr_pdf_pages(data, scanned, options, warnings).items():
                pages[index] = page_text
        elif len(scanned) == len(pages):
            raise IngestError(path, f"PDF has no text layer (a scan?): {reason}")
        else:
            warnings.append(f"{len(scanned)} page(s) without a text layer not read: {reason}")
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
        why = f": {warnings[0]}" if warnings else " (OCR found none either)"
        raise IngestError(path, f"PDF has no extractable text{why}")
    sections = [Section(start, page=number) for number, start in enumerate(page_starts, 1)]
    title = str(meta_title).strip() or first_line_title(text)
    return LoadedText(text=text, title=title, sections=sections, warnings=warnings)
