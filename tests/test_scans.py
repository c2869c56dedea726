"""Scans read by OCR (tesseract, installed by .ci/run): pages rendered from text into images, saved
as a scanned PDF, a PNG and a multi-page TIFF by Pillow; page numbers kept, unsure pages warned
about, QA_OCR=off, a missing tesseract or language pack reported with what to do."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from qa import load_settings
from qa.answering.engine import Engine
from qa.errors import IngestError
from qa.ingestion.extracted import ReadOptions
from qa.ingestion.formats import scans
from qa.ingestion.loaders import load_bytes
from qa.ingestion.pipeline import ingest

from .doubles import HASH_THRESHOLDS, HashEmbeddings

PAGES = [
    ["Harbour Authority annual report", "The lighthouse keeper is Ines Duarte.", "She relit the lamp in the storm."],
    ["Ferry timetable", "The Gull leaves the north pier at 07:15 every weekday.", "Tickets cost 4 euros."],
]


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    """Which slide, sheet, page or message a distinctive question finds does not depend on the
    model here: the hash double."""
    return hash_embeddings


def page_image(lines: list[str], size: int = 42, blur: float = 0.0, canvas: tuple[int, int] = (1700, 2200)) -> Any:
    image = Image.new("L", canvas, 255)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((60, 30 + number * int(size * 1.7)), line, fill=0, font=ImageFont.load_default(size=size))
    return image.filter(ImageFilter.GaussianBlur(blur)) if blur else image


def scanned_pdf() -> bytes:
    first, *rest = [page_image(lines) for lines in PAGES]
    buffer = io.BytesIO()
    first.save(buffer, "PDF", resolution=200, save_all=True, append_images=rest)
    return buffer.getvalue()


def image_bytes(image: Any, kind: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def test_a_scanned_pdf_is_read_page_by_page() -> None:
    loaded = load_bytes(scanned_pdf(), Path("report.pdf"))
    assert "The lighthouse keeper is Ines Duarte." in loaded.text
    assert "The Gull leaves the north pier at 07:15 every weekday." in loaded.text
    assert [section.page for section in loaded.sections or []] == [1, 2]
    second = (loaded.sections or [])[1].start
    assert loaded.text.index("Ferry timetable") >= second > loaded.text.index("Ines Duarte")
    assert loaded.warnings == []


def test_images_are_read_and_a_tiff_keeps_its_pages() -> None:
    png = load_bytes(image_bytes(page_image(PAGES[1], canvas=(1700, 400)), "PNG"), Path("timetable.png"))
    assert "Tickets cost 4 euros." in png.text and png.title == "Ferry timetable"
    frames = [page_image(lines, canvas=(1700, 400)) for lines in PAGES]
    tiff = image_bytes(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    loaded = load_bytes(tiff, Path("scans.tiff"))
    assert [section.page for section in loaded.sections or []] == [1, 2]
    assert "Ines Duarte" in loaded.text and "north pier" in loaded.text


def test_a_page_tesseract_is_unsure_of_is_kept_with_a_warning() -> None:
    smudged = page_image(["The harbour dues rise in spring by four percent"], size=9, blur=1.0, canvas=(600, 80))
    loaded = load_bytes(image_bytes(smudged, "PNG"), Path("smudged.png"))
    assert "four percent" in loaded.text
    assert len(loaded.warnings) == 1 and loaded.warnings[0].startswith("image: low OCR confidence (")


def test_an_empty_page_is_not_given_to_tesseract(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page of one colour all over holds nothing to read: tesseract does not run for it, the
    printed pages beside it are read, and a file of nothing but empty pages has no text."""
    read: list[str] = []
    tesseract = scans._tesseract_tsv

    def counted(image: Any, options: ReadOptions) -> str:
        read.append(image.mode)
        return tesseract(image, options)

    monkeypatch.setattr(scans, "_tesseract_tsv", counted)
    buffer = io.BytesIO()
    empty = Image.new("L", (1700, 2200), 255)
    empty.save(buffer, "PDF", resolution=200, save_all=True, append_images=[page_image(PAGES[1])])
    loaded = load_bytes(buffer.getvalue(), Path("half-empty.pdf"))
    assert "Tickets cost 4 euros." in loaded.text and [section.page for section in loaded.sections or []] == [1, 2]
    assert len(read) == 1 and loaded.warnings == []  # the printed page only
    with pytest.raises(IngestError, match="OCR found no text in the image"):
        load_bytes(image_bytes(Image.new("RGB", (800, 300), "white"), "PNG"), Path("empty.png"))
    assert len(read) == 1


def test_a_page_over_its_time_cap_is_reported() -> None:
    with pytest.raises(IngestError, match="page 1: OCR stopped after 0.01 s"):
        load_bytes(scanned_pdf(), Path("slow.pdf"), ReadOptions(ocr_timeout_s=0.01))


def test_ocr_off_or_missing_skips_scans_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    off = ReadOptions(ocr=False)
    with pytest.raises(IngestError, match=r"no text layer \(a scan\?\): OCR is off \(QA_OCR=off\)"):
        load_bytes(scanned_pdf(), Path("report.pdf"), off)
    with pytest.raises(IngestError, match="an image needs OCR: OCR is off"):
        load_bytes(image_bytes(page_image(PAGES[0], canvas=(800, 300)), "PNG"), Path("a.png"), off)
    monkeypatch.setattr(scans, "TESSERACT", "/nonexistent/tesseract")
    scans.tesseract_missing.cache_clear()
    try:
        with pytest.raises(IngestError, match=r"apt-get install tesseract-ocr tesseract-ocr-eng"):
            load_bytes(scanned_pdf(), Path("report.pdf"))
    finally:
        monkeypatch.undo()
        scans.tesseract_missing.cache_clear()
    with pytest.raises(
        IngestError, match=r"tesseract has no klingon data \(Debian/Ubuntu: apt-get install tesseract-ocr-klingon\)"
    ):
        load_bytes(scanned_pdf(), Path("report.pdf"), ReadOptions(ocr_languages="eng+klingon"))


def test_an_image_too_large_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scans, "MAX_PIXELS", 10_000)
    with pytest.raises(IngestError, match="over 10,000, refused"):
        load_bytes(image_bytes(page_image(PAGES[0], canvas=(200, 100)), "PNG"), Path("big.png"))


def test_a_scan_is_answered_and_cited_by_page(tmp_path: Path, embeddings: Any) -> None:
    docs = tmp_path / "scans"
    docs.mkdir()
    (docs / "report.pdf").write_bytes(scanned_pdf())
    (docs / "notes.txt").write_text("The harbour office opens at nine.\n", encoding="utf-8")
    index = tmp_path / "index"
    report = ingest([docs], load_settings(index_dir=index), embeddings=embeddings)
    assert report.files_added == 2 and not report.skipped
    answer = Engine(load_settings(index_dir=index, **HASH_THRESHOLDS), embeddings=embeddings).answer(
        "When does the Gull ferry leave?"
    )
    assert not answer.not_found and "07:15" in answer.text
    assert answer.citations[0].page == 2
    skipped = ingest([docs], load_settings(index_dir=tmp_path / "off", ocr="off"), embeddings=embeddings)
    assert [s.reason for s in skipped.skipped] == ["PDF has no text layer (a scan?): OCR is off (QA_OCR=off)"]
