"""OCR pages per second: a 10-page scanned PDF (text rendered by Pillow at 200 dpi, 25 dense lines
a page) read by the ingest's PDF reader, once warm. Prints one line with the CPU.

    .venv/bin/python benchmarks/ocr_speed.py [--pages N]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from qa.ingestion.loaders import load_bytes  # noqa: E402

LINES = [
    "The harbour dues rise in spring by four percent, the board said on Tuesday, after a year in which",
    "ferry traffic grew by a fifth and the north pier needed repairs that cost 1.2 million euros.",
] * 12


def scanned_pdf(pages: int) -> bytes:
    images = []
    for number in range(pages):
        image = Image.new("L", (1700, 2200), 255)
        draw = ImageDraw.Draw(image)
        for row, line in enumerate([f"Page {number + 1}", *LINES]):
            draw.text((60, 30 + row * 51), line, fill=0, font=ImageFont.load_default(size=30))
        images.append(image)
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", resolution=200, save_all=True, append_images=images[1:])
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=10)
    args = parser.parse_args()
    data = scanned_pdf(args.pages)
    load_bytes(scanned_pdf(1), Path("warm.pdf"))
    started = time.perf_counter()
    loaded = load_bytes(data, Path("bench.pdf"))
    seconds = time.perf_counter() - started
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(
        f"{cpu}, {os.cpu_count()} cores: {args.pages} pages in {seconds:.1f} s = {args.pages / seconds:.2f} pages/s, "
        f"{len(loaded.text.split())} words, {len(loaded.warnings)} warnings"
    )


if __name__ == "__main__":
    main()
