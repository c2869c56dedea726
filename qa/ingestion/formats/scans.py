"""Scans: images (.png, .jpg, .tiff: every frame a page) and PDF pages without a text layer, read
with tesseract (Debian's `tesseract-ocr` and `tesseract-ocr-eng`), run as a command; a PDF page
is rendered with pypdfium2 first. Each page has a time cap; a page whose words tesseract is
unsure of (mean confidence under 60%) is kept with a warning. Without tesseract, or with
QA_OCR=off, a scan is skipped with a reason that says what to install or set."""

from __future__ import annotations

import functools
import io
import logging
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ...errors import IngestError
from ..extracted import LoadedText, ReadOptions, SectionWriter, first_line_title

log = logging.getLogger(__name__)

INSTALL_HINT = "install tesseract to read scans (Debian/Ubuntu: apt-get install tesseract-ocr tesseract-ocr-eng)"
OFF_HINT = "OCR is off (QA_OCR=off)"
LOW_CONFIDENCE = 60.0  # mean word confidence (%) under which a page gets a warning
RENDER_DPI = 300  # tesseract reads 10-pt print best at about 300 dpi
MAX_PIXELS = 60_000_000  # per image or rendered page: larger ones are refused (a decompression bomb)
MAX_PAGES = 500  # pages of one file read by OCR, with a warning past it


# The tesseract command (a test points it elsewhere to play a machine without it).
TESSERACT = "tesseract"


@functools.cache
def tesseract_missing(languages: str = "eng") -> str | None:
    """Why OCR cannot run here, or None when tesseract answers and has the languages."""
    if shutil.which(TESSERACT) is None:
        return INSTALL_HINT
    try:
        listed = subprocess.run([TESSERACT, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("tesseract not usable: %s", exc)
        return INSTALL_HINT
    have = set(listed.stdout.split())
    wanted = [language for language in languages.split("+") if language]
    lacking = [language for language in wanted if language not in have]
    if lacking:
        packs = " ".join(f"tesseract-ocr-{language}" for language in lacking)
        return f"tesseract has no {'+'.join(lacking)} data (Debian/Ubuntu: apt-get install {packs})"
    return None


def unavailable(options: ReadOptions) -> str | None:
    """Why scans are not read in this run, or None."""
    return OFF_HINT if not options.ocr else tesseract_missing(options.ocr_languages)


def _tesseract_tsv(image: Any, options: ReadOptions) -> str:
    """tesseract's TSV output for one image. Called directly rather than through pytesseract so
    that it runs single-threaded: its OpenMP threads made a dense page 8x slower on 2 cores (8.9
    s against 1.05 s, benchmarks/README.md); pages run side by side instead."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    command = [TESSERACT, "stdin", "stdout", "-l", options.ocr_languages, "tsv"]
    done = subprocess.run(
        command,
        input=buffer.getvalue(),
        capture_output=True,
        timeout=options.ocr_timeout_s,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        check=False,
    )
    if done.returncode != 0:
        raise OcrFailed(done.stderr.decode("utf-8", errors="replace").strip().splitlines()[-1:] or ["no output"])
    return done.stdout.decode("utf-8", errors="replace")


def blank(image: Any) -> bool:
    """Whether every pixel of the image has the same value, in every band."""
    extrema = image.getextrema()
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    return all(low == high for low, high in bands)


class OcrFailed(Exception):
    """tesseract exited with an error (its last line of stderr)."""


def ocr_page(image: Any, options: ReadOptions, where: str, warnings: list[str]) -> str:
    """The text of one page image, lines and paragraphs kept; "" (with a warning) when tesseract
    gives up within the page's time cap or fails."""
    if blank(image):  # one colour all over (an empty page): there is nothing for tesseract to read
        return ""
    try:
        tsv = _tesseract_tsv(image, options)
    except subprocess.TimeoutExpired:
        warnings.append(f"{where}: OCR stopped after {options.ocr_timeout_s:g} s")
        return ""
    except (OcrFailed, OSError) as exc:
        warnings.append(f"{where}: OCR failed ({exc})")
        return ""
    lines: dict[tuple[str, str, str], list[str]] = {}
    confidences: list[float] = []
    for row in tsv.splitlines()[1:]:
        fields = row.split("\t")
        if len(fields) < 12 or fields[0] != "5" or not fields[11].strip():
            continue  # level 5 rows are words
        lines.setdefault((fields[2], fields[3], fields[4]), []).append(fields[11].strip())
        confidence = float(fields[10])
        if confidence >= 0:
            confidences.append(confidence)
    paragraphs: dict[tuple[str, str], list[str]] = {}
    for (block, paragraph, _), words in lines.items():
        paragraphs.setdefault((block, paragraph), []).append(" ".join(words))
    text = "\n\n".join("\n".join(paragraph) for paragraph in paragraphs.values())
    if confidences:
        mean = sum(confidences) / len(confidences)
        if mean < LOW_CONFIDENCE:
            warnings.append(f"{where}: low OCR confidence ({mean:.0f}%): check this page's text")
    return text


def _frames(image: Any) -> Iterator[Any]:
    from PIL import ImageSequence

    for number, frame in enumerate(ImageSequence.Iterator(image), 1):
        if number > MAX_PAGES:
            return
        yield frame.convert("RGB") if frame.mode not in ("RGB", "L") else frame.copy()


def read_image(data: bytes, path: str, options: ReadOptions) -> LoadedText:
    """An image file: every frame (a multi-page TIFF) a page, read by OCR."""
    from PIL import Image

    reason = unavailable(options)
    if reason:
        raise IngestError(path, f"an image needs OCR: {reason}")
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise IngestError(path, f"image of {image.width}x{image.height} pixels: over {MAX_PIXELS:,}, refused")
        image.load()
    except Image.DecompressionBombError as exc:
        raise IngestError(path, f"image refused as a decompression bomb ({exc})") from exc
    paged = getattr(image, "n_frames", 1) > 1
    writer = SectionWriter()
    warnings: list[str] = []
    for number, frame in enumerate(_frames(image), 1):  # one frame in memory at a time
        where = f"page {number}" if paged else "image"
        writer.add(ocr_page(frame, options, where, warnings), page=number if paged else None)
    text = writer.text()
    if not text.strip():
        raise IngestError(path, f"OCR found no text in the image{': ' + warnings[0] if warnings else ''}")
    return LoadedText(text, first_line_title(text), writer.sections, warnings)


def ocr_pdf_pages(data: bytes, pages: list[int], options: ReadOptions, warnings: list[str]) -> dict[int, str]:
    """OCR text of the given PDF pages (0-based), each rendered at RENDER_DPI, one tesseract per
    core at a time."""
    import pypdfium2

    if len(pages) > MAX_PAGES:
        warnings.append(f"OCR read the first {MAX_PAGES} of {len(pages)} scanned pages only")
        pages = pages[:MAX_PAGES]
    document = pypdfium2.PdfDocument(data)
    workers = max(1, min(os.cpu_count() or 1, 4))
    texts: dict[int, str] = {}
    page_warnings: dict[int, list[str]] = {index: [] for index in pages}
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qa-ocr") as pool:
            in_flight: deque[tuple[int, Future[str]]] = deque()
            for index in pages:  # rendering stays on this thread (pdfium is not thread-safe)
                image = _render(document, index)
                in_flight.append(
                    (index, pool.submit(ocr_page, image, options, f"page {index + 1}", page_warnings[index]))
                )
                if len(in_flight) >= 2 * workers:  # a few rendered pages in memory, never the whole file
                    done, future = in_flight.popleft()
                    texts[done] = future.result()
            for done, future in in_flight:
                texts[done] = future.result()
    finally:
        document.close()
    for index in pages:
        warnings.extend(page_warnings[index])
    return texts


def _render(document: Any, index: int) -> Any:
    page = document[index]
    try:
        width, height = page.get_size()
        scale = RENDER_DPI / 72
        while width * height * scale * scale > MAX_PIXELS and scale > 1:
            scale /= 1.5
        return page.render(scale=scale, grayscale=True).to_pil()
    finally:
        page.close()
