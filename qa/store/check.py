"""`python -m qa check [--repair]`: do the vectors, the record manager and the keyword index agree?

An ingest killed between writing vectors and recording them (or the other way round) can leave
drift that the next ingest would not see: vectors nobody records (duplicates later), records of
vectors that are gone (a file that never gets re-embedded), keyword terms of deleted chunks. This
finds each kind and, with `repair`, fixes it under the write lock: orphan vectors and terms are
deleted, missing vectors make their files re-ingest on the next run, and the keyword index is
rebuilt from the recorded terms.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field

from ..config import Settings
from ..embeddings import Embedder, embedder
from ..errors import IndexMissing, IndexStoreError
from .chroma import all_ids
from .failures import store_errors
from .keywords import SNAPSHOT_DIR, read_listing
from .pointer import read_state
from .vectors import term_rows
from .writer import IndexWriter

log = logging.getLogger(__name__)


@dataclass
class CheckReport:
    """Counts of each kind of drift (0 everywhere = consistent), and what was repaired."""

    vectors: int = 0
    records: int = 0
    terms: int = 0
    keyword_index: int = 0
    vectors_without_record: list[str] = field(default_factory=list)
    records_without_vector: list[str] = field(default_factory=list)
    vectors_without_terms: list[str] = field(default_factory=list)
    terms_without_vector: list[str] = field(default_factory=list)
    keyword_index_stale: bool = False
    files_to_reingest: list[str] = field(default_factory=list)
    repaired: bool = False

    @property
    def consistent(self) -> bool:
        return not (
            self.vectors_without_record
            or self.records_without_vector
            or self.vectors_without_terms
            or self.terms_without_vector
            or self.keyword_index_stale
        )

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        for key in (
            "vectors_without_record",
            "records_without_vector",
            "vectors_without_terms",
            "terms_without_vector",
        ):
            data[key] = len(data[key])
        data["consistent"] = self.consistent
        return data

    def summary(self) -> str:
        if self.consistent:
            return f"consistent: {self.vectors} vectors, {self.records} records, {self.terms} keyword entries"
        state = "repaired" if self.repaired else "drift found (run with --repair)"
        return (
            f"{state}: {len(self.vectors_without_record)} vectors without a record, "
            f"{len(self.records_without_vector)} records without a vector, "
            f"{len(self.vectors_without_terms)} vectors without keyword terms, "
            f"{len(self.terms_without_vector)} keyword entries without a vector, "
            f"keyword index {'stale' if self.keyword_index_stale else 'current'}; "
            f"{len(self.files_to_reingest)} file(s) to re-ingest"
        )


def check(settings: Settings, repair: bool = False, embeddings: Embedder | None = None) -> CheckReport:
    """Compare Chroma, the record manager and the keyword index of the live generation."""
    if read_state(settings.index_dir) is None:
        raise IndexMissing(f"no index in {settings.index_dir}; build it with: python ingest.py [PATH ...]")
    embeddings = embeddings or embedder(settings)
    report = CheckReport()
    with store_errors("checking the index", settings.index_dir), IndexWriter(settings, embeddings) as writer:
        assert writer.records is not None and writer.state is not None
        records = writer.records
        vectors = all_ids(writer.collection)
        recorded = set(records.list_keys())
        term_keys = {key for key, _, _ in records.iter_terms()}
        report.vectors, report.records, report.terms = len(vectors), len(recorded), len(term_keys)
        report.vectors_without_record = sorted(vectors - recorded)
        report.records_without_vector = sorted(recorded - vectors)
        report.vectors_without_terms = sorted((vectors & recorded) - term_keys)
        report.terms_without_vector = sorted(term_keys - (vectors & recorded))
        try:
            snapshot = settings.index_dir / SNAPSHOT_DIR / writer.state.bm25
            published = set(read_listing(snapshot).keys) if writer.state.bm25 else set()
            report.keyword_index = len(published)
            report.keyword_index_stale = published != term_keys  # the snapshot is built from the terms
        except IndexStoreError:
            report.keyword_index_stale = True
        if report.records_without_vector:
            report.files_to_reingest = sorted(records.groups_of(report.records_without_vector))
        if repair and not report.consistent:
            _repair(writer, report)
            report.repaired = True
    return report


def _repair(writer: IndexWriter, report: CheckReport) -> None:
    records = writer.records
    assert records is not None
    if report.vectors_without_record:
        log.info("deleting %d vectors no record knows", len(report.vectors_without_record))
        writer.collection.delete(ids=report.vectors_without_record)
    if report.records_without_vector:
        log.info("forgetting %d records whose vectors are gone", len(report.records_without_vector))
        records.delete_keys(report.records_without_vector)
        for source_id in report.files_to_reingest:
            records.delete_file(source_id)  # the next ingest reads and embeds the file again
    stale_terms = set(report.terms_without_vector) | set(report.vectors_without_record)
    if stale_terms:
        records.delete_terms(sorted(stale_terms))
    if report.vectors_without_terms:
        batch = writer.collection.get(ids=report.vectors_without_terms, include=["documents", "metadatas"])
        records.put_terms(term_rows(batch))
    writer.vector_store.terms_changed = True
    writer.commit()  # rebuilds the keyword index from the recorded terms and publishes
    records.prune_sentences()


def format_report(report: CheckReport, as_json: bool) -> str:
    return json.dumps(report.to_json()) if as_json else report.summary()
