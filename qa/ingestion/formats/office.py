"""Word (.docx) and PowerPoint (.pptx), read with python-docx and python-pptx: paragraphs and
tables in reading order (each table row with its header), slides one section each (the slide
number is the page: title, text boxes, tables, charts as their data, then the speaker notes)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from ..extracted import LoadedText, ReadOptions, SectionWriter, first_line_title, guard_zip
from .tables import cell_text, table_rows


def read_docx(data: bytes, path: str, options: ReadOptions) -> LoadedText:
    import docx
    from docx.table import Table

    guard_zip(data, path)
    document = docx.Document(io.BytesIO(data))
    writer = SectionWriter()
    paragraphs: list[str] = []
    tables = 0
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            writer.add("\n\n".join(paragraphs))
            paragraphs = []
            tables += 1
            rows = [(number, [cell.text for cell in row.cells]) for number, row in enumerate(block.rows, 1)]
            writer.add("", location=f"table {tables}", rows=table_rows(_unmerged(rows)))
        elif block.text.strip():
            paragraphs.append(block.text)
    writer.add("\n\n".join(paragraphs))
    text = writer.text()
    title = (document.core_properties.title or "").strip()
    return LoadedText(text=text, title=title or first_line_title(text), sections=writer.sections)


def _unmerged(rows: list[tuple[int, list[str]]]) -> list[tuple[int, list[str]]]:
    """python-docx repeats a merged cell's text in every grid cell it spans: keep it once."""
    out = []
    for number, cells in rows:
        kept = [cell if index == 0 or cell != cells[index - 1] else "" for index, cell in enumerate(cells)]
        out.append((number, kept))
    return out


def _shapes(shapes: Any) -> Iterator[Any]:
    """Every shape, group shapes opened."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    for shape in shapes:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)
        else:
            yield shape


_CHART_NS = {"c": "http://schemas.openxmlformats.org/drawingml/2006/chart"}


def _cached_chart_data(chart: Any) -> tuple[list[str], list[tuple[str, list[Any]]]]:
    """Categories and (name, values) per series from the values the chart part caches, whatever
    its type."""
    space = chart._chartSpace  # the chart part's XML: python-pptx has no public way for these types
    categories: list[str] = []
    series: list[tuple[str, list[Any]]] = []
    for element in space.iterfind(".//c:ser", _CHART_NS):
        name = " ".join(v.text or "" for v in element.iterfind("c:tx//c:v", _CHART_NS)).strip()
        values = [v.text for v in element.iterfind("c:val//c:pt/c:v", _CHART_NS)]
        categories = categories or [v.text or "" for v in element.iterfind("c:cat//c:pt/c:v", _CHART_NS)]
        series.append((name, values))
    return categories, series


def _chart_lines(chart: Any) -> list[str]:
    """A chart as its title and a table: one row per category, a column per series."""
    lines = []
    if chart.has_title and chart.chart_title.has_text_frame and chart.chart_title.text_frame.text.strip():
        lines.append("Chart: " + chart.chart_title.text_frame.text.strip())
    try:
        categories = [str(category) for category in chart.plots[0].categories] if len(chart.plots) else []
        series = [(plot_series.name, list(plot_series.values)) for plot in chart.plots for plot_series in plot.series]
    except NotImplementedError:  # a chart type python-pptx does not model (3-D area, ...): its cached data
        categories, series = _cached_chart_data(chart)
    except (KeyError, ValueError, IndexError, AttributeError):  # a chart part python-pptx cannot read
        return lines
    header = ["category", *(str(name or f"series {number}") for number, (name, _) in enumerate(series, 1))]
    rows = [(1, header)]
    for index, category in enumerate(categories):
        values = [cell_text(values[index]) if index < len(values) else "" for _, values in series]
        rows.append((index + 2, [category, *values]))
    return lines + [text for _, text in table_rows(rows)]


def read_pptx(data: bytes, path: str, options: ReadOptions) -> LoadedText:
    from pptx import Presentation

    guard_zip(data, path)
    presentation = Presentation(io.BytesIO(data))
    writer = SectionWriter()
    first_title = ""
    for number, slide in enumerate(presentation.slides, 1):
        title_shape = slide.shapes.title
        title = title_shape.text_frame.text.strip() if title_shape is not None and title_shape.has_text_frame else ""
        first_title = first_title or title
        lines = [title] if title else []
        for shape in _shapes(slide.shapes):
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            if getattr(shape, "has_text_frame", False) and shape.text_frame.text.strip():
                lines.append(shape.text_frame.text.strip())
            if getattr(shape, "has_chart", False):
                lines.extend(_chart_lines(shape.chart))
            if getattr(shape, "has_table", False):
                cells = [(index, [cell.text for cell in row.cells]) for index, row in enumerate(shape.table.rows, 1)]
                lines.extend(text for _, text in table_rows(cells))
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None and notes.text.strip():
                lines.append("Notes: " + " ".join(notes.text.split()))
        writer.add("\n".join(lines), page=number, location=f"slide {number}")
    text = writer.text()
    title = (presentation.core_properties.title or "").strip()
    return LoadedText(text=text, title=title or first_title or first_line_title(text), sections=writer.sections)
