"""Spreadsheets (.xlsx, .xlsm with openpyxl; .csv, .tsv with the standard library): one section
per sheet, each row as "header: value" pairs with its row number, formulas as their cached
values. A workbook's cells are capped (a warning says where it stopped)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

from ..extracted import LoadedText, ReadOptions, SectionWriter, decode_text, guard_zip
from .tables import cell_text, table_rows

MAX_CELLS = 1_000_000  # per file: a larger sheet is read this far, with a warning


def read_xlsx(data: bytes, path: str, options: ReadOptions) -> LoadedText:
    import openpyxl

    guard_zip(data, path)
    # read_only streams the rows; data_only gives a formula's value as Excel last computed it
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    writer = SectionWriter()
    warnings: list[str] = []
    budget = MAX_CELLS
    try:
        for sheet in workbook.worksheets:
            rows, budget, cut = _capped(
                ((number, [cell_text(value) for value in values]) for number, values in _numbered(sheet)), budget
            )
            writer.add(f"Sheet {sheet.title}", location=f"sheet {sheet.title}", rows=table_rows(rows))
            if cut:
                warnings.append(
                    f"sheet {sheet.title!r} read to row {rows[-1][0] if rows else 0}: over {MAX_CELLS:,} cells"
                )
                break
    finally:
        workbook.close()
    title = (workbook.properties.title or "").strip() if workbook.properties else ""
    return LoadedText(text=writer.text(), title=title, sections=writer.sections, warnings=warnings)


def _numbered(sheet: object) -> Iterator[tuple[int, Sequence[object]]]:
    for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), 1):  # type: ignore[attr-defined]
        yield number, values


def _capped(rows: Iterator[tuple[int, list[str]]], budget: int) -> tuple[list[tuple[int, list[str]]], int, bool]:
    """The rows until `budget` cells are spent (every cell read counts, empty ones and empty rows
    too: a sheet whose used range claims a million rows or 16,384 columns costs its cells to
    read); whether the rows were cut."""
    kept: list[tuple[int, list[str]]] = []
    for number, cells in rows:
        budget -= max(len(cells), 1)
        while cells and not cells[-1]:
            cells.pop()
        if budget < 0:
            return kept, budget, True
        kept.append((number, cells))
    return kept, budget, False


def read_delimited(data: bytes, path: str, options: ReadOptions) -> LoadedText:
    """CSV or TSV: the delimiter sniffed from the first lines (tab for .tsv unless they say
    otherwise), the encoding detected like any text file, the first row as the header."""
    text, warnings = decode_text(data, path)
    sample = text[:16384]
    default = "\t" if path.lower().endswith(".tsv") else ","
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = default
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows, _, cut = _capped(((number, cells) for number, cells in enumerate(reader, 1)), MAX_CELLS)
    if cut:
        warnings.append(f"read to row {rows[-1][0] if rows else 0}: over {MAX_CELLS:,} cells")
    writer = SectionWriter()
    writer.add("", rows=table_rows(rows))
    return LoadedText(text=writer.text(), title="", sections=writer.sections, warnings=warnings)
