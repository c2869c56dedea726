"""E-books and other document formats: EPUB (ebooklib: chapters in reading order, each titled),
OpenDocument text, spreadsheets and presentations (odfpy: .odt paragraphs and tables, .ods sheets
row by row, .odp slides numbered), and RTF (striprtf)."""

from __future__ import annotations

import io
import warnings
from typing import Any

from ...errors import IngestError
from ..extracted import LoadedText, ReadOptions, SectionWriter, decode_text, first_line_title, guard_zip
from .plain import html_text
from .tables import table_rows


def read_epub(data: bytes, path: str, options: ReadOptions) -> LoadedText:
    import ebooklib
    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning
    from ebooklib import epub

    guard_zip(data, path)
    book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    writer = SectionWriter()
    chapter = 0
    for item_id, _ in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        markup = item.get_content().decode("utf-8", errors="replace")
        with warnings.catch_warnings():  # XHTML read as HTML, on purpose
            warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
            heading = BeautifulSoup(markup, "lxml").find(["h1", "h2", "h3", "title"])
        text = html_text(markup)
        if not text:
            continue
        chapter += 1
        name = heading.get_text(" ", strip=True) if heading is not None else ""
        writer.add(text, location=f"chapter {chapter}: {name}" if name else f"chapter {chapter}")
    titles = book.get_metadata("DC", "title")
    title = str(titles[0][0]).strip() if titles else ""
    return LoadedText(writer.text(), title or first_line_title(writer.text()), writer.sections)


def _odf_text(element: Any) -> str:
    from odf import teletype

    return " ".join(teletype.extractText(element).split())


def read_odf(data: bytes, path: str, options: ReadOptions) -> LoadedText:
    from odf import draw, opendocument, table, text

    guard_zip(data, path)
    document = opendocument.load(io.BytesIO(data))
    writer = SectionWriter()
    suffix = path.lower().rsplit(".", 1)[-1]
    if suffix == "odp":
        for number, page in enumerate(document.presentation.getElementsByType(draw.Page), 1):
            lines = [_odf_text(p) for p in page.getElementsByType(text.P)]
            writer.add("\n".join(line for line in lines if line), page=number, location=f"slide {number}")
    elif suffix == "ods":
        for sheet in document.spreadsheet.getElementsByType(table.Table):
            name = sheet.getAttribute("name") or "sheet"
            rows = []
            for number, row in enumerate(sheet.getElementsByType(table.TableRow), 1):
                cells: list[str] = []
                for cell in row.getElementsByType(table.TableCell):
                    repeat = int(cell.getAttribute("numbercolumnsrepeated") or 1)
                    cells.extend([_odf_text(cell)] * min(repeat, 64))  # repeats pad empty columns
                rows.append((number, cells))
            writer.add(f"Sheet {name}", location=f"sheet {name}", rows=table_rows(rows))
    else:
        paragraphs = []
        for element in document.text.childNodes:
            kind = getattr(element, "qname", (None, None))[1]
            if kind == "table":
                writer.add("\n\n".join(paragraphs))
                paragraphs = []
                rows = [
                    (number, [_odf_text(cell) for cell in row.getElementsByType(table.TableCell)])
                    for number, row in enumerate(element.getElementsByType(table.TableRow), 1)
                ]
                writer.add("", location="table", rows=table_rows(rows))
            elif kind in ("p", "h", "list", "section"):
                line = _odf_text(element)
                if line:
                    paragraphs.append(line)
        writer.add("\n\n".join(paragraphs))
    title = ""
    for element in document.meta.childNodes:
        if getattr(element, "qname", (None, None))[1] == "title":
            title = _odf_text(element)
    return LoadedText(writer.text(), title or first_line_title(writer.text()), writer.sections)


def read_rtf(data: bytes, path: str, options: ReadOptions) -> LoadedText:
    from striprtf.striprtf import rtf_to_text

    raw, warnings = decode_text(data, path)
    if not raw.lstrip().startswith("{\\rtf"):
        raise IngestError(path, "not an RTF document (no {\\rtf header)")
    text = rtf_to_text(raw, errors="ignore").strip()
    return LoadedText(text, first_line_title(text), warnings=warnings)
