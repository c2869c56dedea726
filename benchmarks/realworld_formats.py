"""Real-world files written by others through the normal ingest: every file accounted for (added,
or skipped with a reason), and the share of each format that yields text.

    .venv/bin/python benchmarks/realworld_formats.py FOLDER [--json]

FOLDER holds files of any formats (kept outside the project): for the numbers in
benchmarks/README.md, the test files of python-pptx (features/steps/test_files, tests/test_files),
calamine (tests/*.xlsx), mail-parser (tests/mails, given an .eml suffix), epub.js and ebooklib
(test epubs) and IDPF's epub3-samples (each sample folder zipped as an EPUB, mimetype first).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.config import load_settings  # noqa: E402
from qa.evaluate import machine  # noqa: E402
from qa.ingestion.pipeline import ingest  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    files = sorted(path for path in args.folder.rglob("*") if path.is_file())
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        report = ingest([args.folder], load_settings(index_dir=Path(work) / "index"))
        seconds = time.perf_counter() - started
    skipped = {Path(item.path).name: item.reason for item in report.skipped}
    warned = collections.Counter(Path(item.path).suffix.lower() for item in report.warnings)
    rows: dict[str, dict[str, object]] = {}
    for suffix in sorted({path.suffix.lower() for path in files}):
        mine = [path for path in files if path.suffix.lower() == suffix]
        reasons = collections.Counter(skipped[path.name].split(":")[0] for path in mine if path.name in skipped)
        yielded = len(mine) - sum(reasons.values())
        rows[suffix] = {
            "files": len(mine),
            "yield_text": yielded,
            "share": round(yielded / len(mine), 3),
            "with_warnings": warned[suffix],
            "skipped": dict(reasons),
        }
    accounted = report.files_added + len(report.skipped) == len(files)
    result = {
        "machine": machine(),
        "files": len(files),
        "added": report.files_added,
        "skipped": len(report.skipped),
        "every_file_accounted_for": accounted,
        "chunks": report.chunks_total,
        "seconds": round(seconds, 1),
        "by_format": rows,
        "skip_reasons": {name: reason for name, reason in sorted(skipped.items())},
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    for suffix, row in rows.items():
        print(
            f"{suffix:6s} {row['yield_text']}/{row['files']} yield text ({row['share']:.0%}); skipped: {row['skipped']}"
        )
    print(
        f"{len(files)} files: {report.files_added} added, {len(report.skipped)} skipped, all accounted for: {accounted}"
    )


if __name__ == "__main__":
    main()
