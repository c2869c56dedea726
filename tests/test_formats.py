"""Slides, spreadsheets, CSV and tables, from real files written by the libraries that write them
(python-pptx, openpyxl, python-docx, the csv module): what each reader extracts, where each chunk
says it is, and answers that cite the right slide or sheet rows."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pytest
from pptx import Presentation
from pptx.chart.data import CategoryChartData
from pptx.enum.chart import XL_CHART_TYPE
from pptx.util import Inches

from qa import load_settings
from qa.answering.engine import Engine
from qa.errors import IngestError
from qa.ingestion.chunking import Chunker
from qa.ingestion.loaders import load_bytes
from qa.ingestion.pipeline import ingest

from .conftest import run_cli
from .doubles import HASH_THRESHOLDS, HashEmbeddings


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    """Which slide, sheet, page or message a distinctive question finds does not depend on the
    model here: the hash double."""
    return hash_embeddings


def pptx_bytes() -> bytes:
    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Quarterly review"
    first.placeholders[1].text_frame.text = "The harbour ferry carried 48,000 passengers in spring."
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "Revenue by region"
    table = second.shapes.add_table(3, 3, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for row, values in enumerate([("Region", "2021", "2022"), ("North", "12.4", "13.1"), ("Lagoon", "7.9", "9.6")]):
        for column, value in enumerate(values):
            table.cell(row, column).text = value
    third = deck.slides.add_slide(deck.slide_layouts[1])
    third.shapes.title.text = "Next steps"
    third.placeholders[1].text_frame.text = "Open the new pier before the summer."
    third.notes_slide.notes_text_frame.text = "Mention that the pier contractor is Basalt Works."
    fourth = deck.slides.add_slide(deck.slide_layouts[5])
    fourth.shapes.title.text = "Passengers"
    data = CategoryChartData()
    data.categories = ["Q1", "Q2", "Q3"]
    data.add_series("Ferry", (31000, 42000, 51000))
    chart = fourth.shapes.add_chart(XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(2), Inches(6), Inches(4), data)
    chart.chart.has_title = True
    chart.chart.chart_title.text_frame.text = "Passengers by quarter"
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def xlsx_bytes(extra_rows: int = 0) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Budget"
    sheet.append(["Item", "Owner", "Cost", "Due"])
    sheet.append(["Telescope mirror", "Ana Ruiz", 4200000, date(2022, 6, 30)])
    sheet.append(["Dome paint", "Leo Marsh", 18500.5, date(2022, 7, 15)])
    sheet.append(["Total", None, "=SUM(C2:C3)", None])
    for number in range(extra_rows):
        sheet.append([f"Spare part {number}", "Stores", number, None])
    staff = book.create_sheet("Staff")
    staff.append(["Name", "Role"])
    staff.append(["Mira Okafor", "night astronomer"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_slides_keep_titles_tables_notes_and_their_numbers() -> None:
    loaded = load_bytes(pptx_bytes(), Path("review.pptx"))
    assert loaded.title == "Quarterly review"
    assert [section.page for section in loaded.sections or []] == [1, 2, 3, 4]
    assert [section.location for section in loaded.sections or []] == ["slide 1", "slide 2", "slide 3", "slide 4"]
    assert "Region: Lagoon; 2021: 7.9; 2022: 9.6" in loaded.text  # a row with its header
    assert "Notes: Mention that the pier contractor is Basalt Works." in loaded.text
    # a chart as its data: a row per category, a column per series
    assert "Chart: Passengers by quarter" in loaded.text and "category: Q3; Ferry: 51000" in loaded.text
    chunks = Chunker(200, 40).split(loaded.text, loaded.sections)
    by_slide = {chunk.page: chunk for chunk in chunks}
    assert "Basalt Works" in by_slide[3].text and by_slide[3].location == "slide 3"
    assert "48,000" in by_slide[1].text and "Basalt" not in by_slide[1].text  # no chunk straddles slides


def test_a_chart_type_python_pptx_does_not_model_is_read_from_its_cached_values() -> None:
    """A 3-D area chart (python-pptx reads and writes no such series): written as an area chart,
    its XML element renamed as PowerPoint writes the 3-D one."""
    presentation = Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[5])
    slide.shapes.title.text = "Tide heights"
    data = CategoryChartData()
    data.categories = ["2021", "2022"]
    data.add_series("Tides", (7.5, 8.25))
    slide.shapes.add_chart(XL_CHART_TYPE.AREA, Inches(1), Inches(1), Inches(4), Inches(3), data)
    written = io.BytesIO()
    presentation.save(written)
    rewritten = io.BytesIO()
    with zipfile.ZipFile(written) as source, zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.startswith("ppt/charts/chart"):
                content = content.replace(b"<c:areaChart>", b"<c:area3DChart>").replace(
                    b"</c:areaChart>", b"</c:area3DChart>"
                )
            target.writestr(item, content)
    loaded = load_bytes(rewritten.getvalue(), Path("tides.pptx"))
    assert "Tide heights" in loaded.text and "category: 2022; Tides: 8.25" in loaded.text


def test_sheets_read_rows_with_headers_cached_values_and_row_numbers() -> None:
    loaded = load_bytes(xlsx_bytes(), Path("plan.xlsx"))
    assert "Item: Telescope mirror; Owner: Ana Ruiz; Cost: 4200000; Due: 2022-06-30" in loaded.text
    assert "Cost: 18500.5" in loaded.text
    # openpyxl writes no cached value for a formula: it is read as Excel last computed it, never as text
    assert "=SUM" not in loaded.text
    assert [section.location for section in loaded.sections or []] == ["sheet Budget", "sheet Staff"]
    chunks = Chunker(200, 40).split(loaded.text, loaded.sections)
    assert [chunk.location for chunk in chunks] == ["sheet Budget, rows 1-4", "sheet Staff, rows 1-2"]


def test_a_long_sheet_is_chunked_between_rows_and_each_chunk_names_its_rows() -> None:
    loaded = load_bytes(xlsx_bytes(extra_rows=300), Path("long.xlsx"))
    chunks = [chunk for chunk in Chunker(120, 20).split(loaded.text, loaded.sections) if chunk.page is None]
    budget = [chunk for chunk in chunks if chunk.location and chunk.location.startswith("sheet Budget")]
    assert len(budget) > 5
    lines = set(loaded.text.splitlines())
    for chunk in budget:
        assert all(line in lines for line in chunk.text.splitlines())  # whole rows only
    last = budget[-1]
    assert last.location is not None and last.location.endswith("-304")
    assert "Item: Spare part 299; Owner: Stores; Cost: 299" in last.text


def test_a_huge_sheet_is_read_to_a_cap_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.ingestion.formats import sheets

    monkeypatch.setattr(sheets, "MAX_CELLS", 40)
    loaded = load_bytes(xlsx_bytes(extra_rows=50), Path("huge.xlsx"))
    assert loaded.warnings and "over 40 cells" in loaded.warnings[0]
    assert "Telescope mirror" in loaded.text and "Spare part 40" not in loaded.text


@pytest.mark.parametrize(
    ("name", "delimiter", "encoding"),
    [("stations.csv", ",", "utf-8"), ("stations.tsv", "\t", "utf-8"), ("stations.csv", ";", "cp1252")],
)
def test_delimited_files_sniff_their_delimiter_and_encoding(name: str, delimiter: str, encoding: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(["Station", "Town", "Rainfall mm"])
    writer.writerow(["Côte Nord", "Sept-Îles", "112,5" if delimiter == ";" else "112.5"])
    writer.writerow(["Dune", "Arnhem", "64"])
    loaded = load_bytes(buffer.getvalue().encode(encoding), Path(name))
    assert "Station: Côte Nord; Town: Sept-Îles; Rainfall mm: 112" in loaded.text
    chunks = Chunker(200, 40).split(loaded.text, loaded.sections)
    assert [chunk.location for chunk in chunks] == ["rows 1-3"]
    assert bool(loaded.warnings) == (encoding != "utf-8")


def test_word_and_html_tables_keep_their_place_and_headers() -> None:
    document = docx.Document()
    document.add_paragraph("The observatory board met on Tuesday.")
    table = document.add_table(rows=3, cols=2)
    for row, values in enumerate([("Instrument", "Status"), ("Spectrograph", "repaired"), ("Dome", "leaking")]):
        for column, value in enumerate(values):
            table.cell(row, column).text = value
    document.add_paragraph("The board meets again in June.")
    buffer = io.BytesIO()
    document.save(buffer)
    loaded = load_bytes(buffer.getvalue(), Path("minutes.docx"))
    text = loaded.text
    assert text.index("met on Tuesday") < text.index("Instrument: Dome; Status: leaking") < text.index("again in June")
    assert [section.location for section in loaded.sections or []] == [None, "table 1", None]
    html = (
        b"<html><body><p>Results</p><table><tr><th>Team</th><th>Points</th></tr>"
        b"<tr><td>Harbour FC</td><td>31</td></tr></table></body></html>"
    )
    assert "Team: Harbour FC; Points: 31" in load_bytes(html, Path("results.html")).text


def pdf_with_table(rows: list[tuple[str, ...]], pages_before: int = 0) -> bytes:
    """A PDF (written by reportlab) whose last page has a paragraph, a ruled table, a paragraph."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

    buffer = io.BytesIO()
    style = getSampleStyleSheet()["Normal"]
    story: list[Any] = []
    for number in range(pages_before):
        story += [Paragraph(f"Introduction page {number + 1} of the tide report.", style), PageBreak()]
    table = Table(rows)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, (0, 0, 0))]))
    story += [Paragraph("Revenue by region, in millions.", style), table, Paragraph("Figures are unaudited.", style)]
    SimpleDocTemplate(buffer, pagesize=A4).build(story)
    return buffer.getvalue()


def test_pdf_tables_are_read_row_by_row_with_their_header() -> None:
    rows = [("Region", "2021", "2022"), ("Lagoon", "7.9", "9.6"), ("Harbour", "12.4", "11.0")]
    loaded = load_bytes(pdf_with_table(rows, pages_before=1), Path("report.pdf"))
    text = loaded.text
    assert "Region: Lagoon; 2021: 7.9; 2022: 9.6" in text and "Region: Harbour; 2021: 12.4; 2022: 11.0" in text
    assert text.index("Revenue by region") < text.index("Region: Lagoon") < text.index("Figures are unaudited")
    assert text.count("Lagoon") == 1  # the table's words once, as rows, not again as loose text
    sections = loaded.sections or []
    assert [(s.page, s.location) for s in sections] == [(1, None), (2, None), (2, "page 2, table 1"), (2, None)]
    chunks = Chunker(60, 10).split(text, sections)
    row_chunks = [chunk for chunk in chunks if "Lagoon" in chunk.text]
    assert len(row_chunks) == 1 and "Region: Lagoon; 2021: 7.9; 2022: 9.6" in row_chunks[0].text
    assert row_chunks[0].page == 2 and row_chunks[0].location.startswith("page 2, table 1, row")


def test_a_pdf_without_drawings_reads_as_its_text_layer() -> None:
    from .conftest import make_pdf

    loaded = load_bytes(make_pdf(["Alpha page", "Beta page"]), Path("plain.pdf"))
    assert loaded.text == "Alpha page\n\nBeta page" and [s.page for s in loaded.sections or []] == [1, 2]


@pytest.mark.parametrize("name", ["bomb.pptx", "bomb.xlsx"])
def test_zip_bombs_are_refused_before_inflating(name: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ppt/slides/slide1.xml", b"\0" * 250_000_000)
    with pytest.raises(IngestError, match="zip bomb"):
        load_bytes(buffer.getvalue(), Path(name))


@pytest.mark.parametrize("name", ["broken.pptx", "broken.xlsx", "broken.csv"])
def test_broken_files_are_reported(name: str) -> None:
    data = b"PK\x03\x04 not a zip" if name.endswith(("pptx", "xlsx")) else b"\x00\x01\x02 binary \x00"
    with pytest.raises(IngestError) as caught:
        load_bytes(data, Path(name))
    assert "corrupt" in caught.value.reason or "binary" in caught.value.reason


@pytest.fixture(scope="module")
def office_index(tmp_path_factory: pytest.TempPathFactory, embeddings: Any) -> Path:
    folder = tmp_path_factory.mktemp("office")
    (folder / "docs").mkdir()
    (folder / "docs" / "review.pptx").write_bytes(pptx_bytes())
    (folder / "docs" / "plan.xlsx").write_bytes(xlsx_bytes())
    (folder / "docs" / "empty.pptx").write_bytes(b"")
    index = folder / "index"
    report = ingest([folder / "docs"], load_settings(index_dir=index), embeddings=embeddings)
    assert report.files_added == 2 and [s.reason for s in report.skipped] == ["empty file"]
    return index


@pytest.mark.parametrize(
    ("question", "fact", "location"),
    [
        ("Who is the pier contractor?", "Basalt Works", "slide 3"),
        ("What was the Lagoon region's revenue in 2022?", "9.6", "slide 2"),
        ("Who owns the telescope mirror item in the budget?", "Ana Ruiz", "sheet Budget, rows 1-4"),
    ],
)
def test_answers_cite_the_right_slide_or_sheet(
    office_index: Path, embeddings: Any, question: str, fact: str, location: str
) -> None:
    engine = Engine(load_settings(index_dir=office_index, **HASH_THRESHOLDS), embeddings=embeddings)
    answer = engine.answer(question)
    assert not answer.not_found and fact in answer.text
    cited = [citation for citation in answer.citations if fact in citation.quote]
    assert cited and cited[0].location == location
    if location.startswith("slide"):
        assert cited[0].page == int(location.split()[1])


def test_search_json_gives_each_passage_its_location(office_index: Path) -> None:
    result = run_cli(["-m", "qa", "search", "pier contractor", "--index", str(office_index), "--json"])
    assert result.returncode == 0, result.stderr
    passages = json.loads(result.stdout)
    assert passages and all({"source", "page", "location", "text", "score"} <= set(p) for p in passages)
    top = passages[0]
    assert top["location"] == "slide 3" and top["page"] == 3 and "Basalt" in top["text"]


def test_a_sheet_claiming_the_whole_grid_is_read_to_the_cap() -> None:
    """One value in the last cell of the grid (XFD1048576): reading every empty cell before it
    would take hours; the cap counts empty cells too."""
    book = openpyxl.Workbook()
    book.active["A1"] = "Header"
    book.active["A2"] = "first value"
    book.active["XFD1048576"] = "far away"
    buffer = io.BytesIO()
    book.save(buffer)
    loaded = load_bytes(buffer.getvalue(), Path("sparse.xlsx"))
    assert "first value" in loaded.text and "far away" not in loaded.text
    assert loaded.warnings and "over 1,000,000 cells" in loaded.warnings[0]
