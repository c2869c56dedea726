"""Table rows that stand on their own: each row as "header: value" pairs, so a chunk holding row 40
of a sheet still says what each number is, and a question about one row retrieves that row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import Any


def cell_text(value: Any) -> str:
    """A cell as a reader would say it: dates without a midnight time, whole floats without ".0"."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def row_text(header: Sequence[str], values: Sequence[str]) -> str:
    """'Region: North; Revenue 2021: 12.4' (columns without a header are named by number)."""
    pairs = []
    for index, value in enumerate(values):
        if not value:
            continue
        name = header[index] if index < len(header) and header[index] else f"column {index + 1}"
        pairs.append(f"{name}: {value}")
    return "; ".join(pairs)


def table_rows(rows: Iterable[tuple[int, Sequence[str]]]) -> list[tuple[int, str]]:
    """(row number, row text) for a table given as (row number, cells): its first non-empty row
    is the header, which each later row repeats; a table of one row is that row's cells."""
    header: list[str] | None = None
    out: list[tuple[int, str]] = []
    for number, cells in rows:
        values = [cell.strip() for cell in cells]
        if not any(values):
            continue
        if header is None:
            header = values
            out.append((number, " | ".join(value for value in values if value)))
            continue
        out.append((number, row_text(header, values)))
    return out
