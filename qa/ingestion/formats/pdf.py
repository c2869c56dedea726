"""PDF: the text layer page by page (each page a section, numbered); ruled tables (pdfplumber)
row by row with their header, as sections of their own on their page."""

from __future__ import annotations

import io
from typing import Any

from ...errors import IngestError
from ..extracted import LoadedText, ReadOptions, SectionWriter, first_line_title
from .scans import ocr_pdf_pages, unavailable
from .tables import cell_text, table_rows

# A page is searched for tables (pdfplumber: slow, ~0.1 s a page) only when it draws at least this
# many paths (pdfium: fast), since the tables found are the ruled ones.
TABLE_MIN_PATHS = 4
MAX_TABLE_PAGES = 300  # per file; past it, tables read as the text layer has them (with a warning)

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
    tables = ruled_tables(data, [index for index in range(len(pages)) if index not in scanned], warnings)
    meta_title = (reader.metadata.title if reader.metadata else None) or ""
    writer = SectionWriter()
    for index, page_text in enumerate(pages):
        number = index + 1
        if index not in tables:  # the page's text layer as it is (as before tables were read)
            writer.add_verbatim(page_text, page=number)
            continue
        for kind, body in tables[index]:
            if kind == "text":
                writer.add(str(body), page=number)
            else:
                writer.add("", page=number, location=f"page {number}, {kind}", rows=body)  # type: ignore[arg-type]
    text = writer.text()
    if not text.strip():
        why = f": {warnings[0]}" if warnings else " (OCR found none either)"
        raise IngestError(path, f"PDF has no extractable text{why}")
    title = str(meta_title).strip() or first_line_title(text)
    return LoadedText(text=text, title=title, sections=writer.sections, warnings=warnings)


def ruled_tables(data: bytes, candidates: list[int], warnings: list[str]) -> dict[int, list[tuple[str, object]]]:
    """For each page that holds ruled tables: its text and tables in reading order, ("text",
    words outside the tables) and ("table k", [(row number, "header: value; ...")])."""
    drawn = [index for index, paths in _paths(data, candidates).items() if paths >= TABLE_MIN_PATHS]
    if not drawn:
        return {}
    if len(drawn) > MAX_TABLE_PAGES:
        warnings.append(f"tables looked for on the first {MAX_TABLE_PAGES} of {len(drawn)} pages with drawings")
        drawn = drawn[:MAX_TABLE_PAGES]
    import pdfplumber

    found: dict[int, list[tuple[str, object]]] = {}
    count = 0
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for index in drawn:
            page = pdf.pages[index]
            tables = [table for table in page.find_tables() if len(table.rows) >= 2]
            if not tables:
                page.close()
                continue
            boxes = [table.bbox for table in tables]

            def outside(obj: dict[str, Any], boxes: list[tuple[float, ...]] = boxes) -> bool:
                if obj.get("object_type") != "char":
                    return True
                x, y = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
                return not any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)

            pieces: list[tuple[float, str, object]] = [
                (line["top"], "text", line["text"]) for line in page.filter(outside).extract_text_lines()
            ]
            for table in tables:
                count += 1
                cells = [(n, [cell_text(cell) for cell in row]) for n, row in enumerate(table.extract(), 1)]
                pieces.append((table.bbox[1], f"table {count}", table_rows(cells)))
            pieces.sort(key=lambda piece: piece[0])
            found[index] = _merged(pieces)
            page.close()
    return found


def _merged(pieces: list[tuple[float, str, object]]) -> list[tuple[str, object]]:
    """Consecutive text lines joined into one piece; tables as they are."""
    merged: list[tuple[str, object]] = []
    for _, kind, body in pieces:
        if kind == "text" and merged and merged[-1][0] == "text":
            merged[-1] = ("text", f"{merged[-1][1]}\n{body}")
        else:
            merged.append((kind, body))
    return merged


def _paths(data: bytes, indexes: list[int]) -> dict[int, int]:
    """How many path objects (lines, rectangles) each page draws, counted by pdfium."""
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    counts: dict[int, int] = {}
    document = pypdfium2.PdfDocument(data)
    try:
        for index in indexes:
            page = document[index]
            try:
                counts[index] = sum(1 for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH], max_depth=2))
            finally:
                page.close()
    finally:
        document.close()
    return counts
