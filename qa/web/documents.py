"""The documents folder and its index, as the app manages them: what is indexed, uploads saved
into the folder, a document removed (moved aside, never deleted), and ingest or rebuild run in
the child process. The Gradio handlers in `app` call this and only render what it returns."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..config import Settings
from ..errors import DocumentsError, IndexBusy
from ..store.overview import Overview, overview
from ..types import IngestReport, Progress
from .jobs import IngestRunner
from .uploads import UploadResult, save_uploads

log = logging.getLogger(__name__)
TRASH = ".removed"  # removed documents are moved here (hidden folders are never ingested)


def job_summary(report: IngestReport, rebuild: bool, seconds: float) -> str:
    """What one ingest or rebuild did, as the Documents tab says it (plain text)."""
    summary = (
        f"{'Rebuilt' if rebuild else 'Updated'} in {seconds:.1f} s: "
        f"{report.files_added} added, {report.files_updated} updated, {report.files_deleted} removed, "
        f"{report.files_skipped} skipped; {report.chunks_total} chunks in the index."
    )
    for skipped in report.skipped:
        summary += f"\n- skipped {skipped.path}: {skipped.reason}"
    return summary


def example_questions(view: Overview) -> list[dict[str, str]]:
    """A few starting questions about what is indexed (from the documents' first lines)."""
    examples = []
    for record in view.documents[:20]:
        try:
            first = Path(record.source_id).read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            continue
        title = first[0].strip() if first else ""
        if 8 <= len(title) <= 160:
            examples.append({"text": f"What does “{title}” report?"})
        if len(examples) == 3:
            break
    return examples


class Documents:
    """The documents folder (settings.docs_dir) and the index built from it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runner = IngestRunner(settings)

    def overview(self) -> Overview:
        return overview(self.settings)

    def update(self, rebuild: bool = False, on_progress: Callable[[Progress], None] | None = None) -> str:
        """Ingest the folder (incrementally, or a rebuild) in the child; the summary to show."""
        started = time.perf_counter()
        report = self.runner.run([self.settings.docs_dir], rebuild=rebuild, on_progress=on_progress)
        return job_summary(report, rebuild, time.perf_counter() - started)

    def sync(self) -> IngestReport:
        """An incremental ingest of the folder for the watcher: after the job running now, if any
        (its run may have started before the change)."""
        while True:
            self.runner.wait_idle()
            try:
                return self.runner.run([self.settings.docs_dir])
            except IndexBusy:  # an admin's job started in between: wait for it too
                continue

    def save(self, uploads: Sequence[tuple[str, Path]]) -> UploadResult:
        """Copy uploaded files (browser name, temporary path) into the folder, safely named."""
        return save_uploads(uploads, self.settings.docs_dir, int(self.settings.max_upload_mb * 1_000_000))

    def remove(self, source: str) -> Path:
        """Move an indexed document out of the folder, into its hidden .removed/ folder (so it can
        be restored); returns that folder. The next update takes it out of the index."""
        record = self.overview().document(source)
        if record is None:
            raise DocumentsError("That document is not in the index.")
        path = Path(record.source_id)
        docs = self.settings.docs_dir.resolve()
        if not path.resolve().is_relative_to(docs):
            raise DocumentsError("Only documents inside the documents folder can be removed here.")
        trash = docs / TRASH
        trash.mkdir(exist_ok=True)
        target = trash / f"{int(time.time())}-{path.name}"
        shutil.move(str(path), target)
        log.info("moved %s to %s", path, target)
        return trash
