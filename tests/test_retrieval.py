"""Hybrid retrieval: BM25 follows the vector index through ingest, change, removal and rebuild;
fusion finds what either ranking alone would; duplicates count once; filters and dates work."""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path
from typing import Any

from qa.answering.recency import asks_about_present, recency_factor
from qa.answering.retrieval import Retriever, by_document, fuse, fuse_scores
from qa.ingestion.pipeline import ingest
from qa.store.chroma import open_client
from qa.store.pointer import read_state
from qa.store.reader import IndexReader
from qa.text.sentences import sentences
from qa.text.terms import terms

from .conftest import SEED_FILE, write_articles


def keyword_keys(settings: Any, embeddings: Any) -> set[str]:
    reader = IndexReader(settings, embeddings)
    keywords = reader.keyword_index()
    assert keywords is not None
    return set(keywords.keys)


def vector_keys(settings: Any) -> set[str]:
    state = read_state(settings.index_dir)
    assert state is not None
    return set(open_client(settings).get_collection(state.collection).get(include=[])["ids"])


def test_bm25_follows_the_index_through_changes(tmp_path: Path, make_settings: Any, hash_embeddings: Any) -> None:
    """Which chunks the keyword index holds does not depend on the model: the hash double embeds."""
    settings = make_settings()
    docs = tmp_path / "docs"
    paths = write_articles(docs, 4)
    ingest([docs], settings, embeddings=hash_embeddings)
    assert keyword_keys(settings, hash_embeddings) == vector_keys(settings) != set()

    paths[0].write_text("Zanzibar ferry timetable\n\nThe quokka ferry leaves at dawn.\n", encoding="utf-8")
    paths[1].unlink()
    ingest([docs], settings, embeddings=hash_embeddings)
    assert keyword_keys(settings, hash_embeddings) == vector_keys(settings)
    hits = Retriever(settings, hash_embeddings).search("quokka ferry", k=2, mode="bm25").passages
    assert hits and hits[0].source.endswith(paths[0].name)

    ingest([docs], settings, rebuild=True, embeddings=hash_embeddings)
    assert keyword_keys(settings, hash_embeddings) == vector_keys(settings)
    state = read_state(settings.index_dir)
    assert state is not None
    # Only the published keyword index is kept on disk.
    assert [p.name for p in (settings.index_dir / "bm25").iterdir()] == [state.bm25]


def test_index_from_before_keyword_search_gets_one(tmp_path: Path, make_settings: Any, hash_embeddings: Any) -> None:
    """Which chunks the keyword index holds does not depend on the model: the hash double embeds."""
    settings = make_settings()
    docs = tmp_path / "docs"
    write_articles(docs, 3)
    ingest([docs], settings, embeddings=hash_embeddings)
    pointer = settings.index_dir / "index.json"
    old = json.loads(pointer.read_text())
    old["bm25"] = ""
    pointer.write_text(json.dumps(old))
    shutil.rmtree(settings.index_dir / "bm25")
    assert IndexReader(settings, hash_embeddings).keyword_index() is None  # dense still answers meanwhile
    report = ingest([docs], settings, embeddings=hash_embeddings)
    assert report.chunks_added == 0  # nothing re-embedded
    assert keyword_keys(settings, hash_embeddings) == vector_keys(settings)


def test_hybrid_finds_rare_codes_and_paraphrases(tmp_path: Path, make_settings: Any, embeddings: Any) -> None:
    settings = make_settings()
    docs = tmp_path / "docs"
    write_articles(docs, 6)
    (docs / "parts.txt").write_text(
        "Spare parts\n\nThe replacement valve carries catalogue number QX-77431 and ships in May.\n", encoding="utf-8"
    )
    (docs / "pets.txt").write_text(
        "Pets\n\nA young dog needs short walks and plenty of sleep in its first months.\n", encoding="utf-8"
    )
    ingest([docs], settings, embeddings=embeddings)
    retriever = Retriever(settings, embeddings)
    code = retriever.search("QX-77431", k=1).passages
    assert code[0].source == "parts.txt"
    meaning = retriever.search("how much should a puppy rest", k=1).passages
    assert meaning[0].source == "pets.txt"


def test_near_duplicates_count_once_and_source_filter(tmp_path: Path, make_settings: Any, hash_embeddings: Any) -> None:
    """Identical passages have identical vectors under any model: the hash double embeds."""
    settings = make_settings()
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SEED_FILE, docs / "copy-a.txt")
    shutil.copy(SEED_FILE, docs / "copy-b.txt")
    ingest([docs], settings, embeddings=hash_embeddings)
    retriever = Retriever(settings, hash_embeddings)
    found = retriever.search("Which two Chinese banks restricted financing?", k=4).passages
    texts = [p.text for p in found]
    assert len(texts) == len(set(texts))
    only_b = retriever.search("Which two Chinese banks restricted financing?", k=4, sources=["copy-b.txt"]).passages
    assert only_b and {p.source for p in only_b} == {"copy-b.txt"}


def test_questions_about_the_present_prefer_recent_documents(
    tmp_path: Path, make_settings: Any, embeddings: Any
) -> None:
    settings = make_settings()
    docs = tmp_path / "docs"
    docs.mkdir()
    old = docs / "old.txt"
    new = docs / "new.txt"
    old.write_text("Harbour news\n\nThe harbour ferry company named Ana Ruiz as its new chief.\n", encoding="utf-8")
    new.write_text("Harbour news\n\nThe harbour ferry company named Ben Okafor as its new chief.\n", encoding="utf-8")
    for path, day in ((old, date(2021, 3, 1)), (new, date(2022, 6, 10))):
        stamp = (day - date(1970, 1, 1)).days * 86400.0 + 43200
        os.utime(path, (stamp, stamp))
    ingest([docs], settings, embeddings=embeddings)
    retriever = Retriever(settings, embeddings)
    question = "Who did the harbour ferry company name as chief this week?"
    present = retriever.search(question, k=2, as_of=date(2022, 6, 12))
    assert present.passages[0].source == "new.txt" and present.passages[0].date == "2022-06-10"
    before = retriever.search(question, k=2, as_of=date(2021, 3, 3))
    assert before.passages[0].source == "old.txt"


def test_recency_rules() -> None:
    assert asks_about_present("Which company recalled cars this week?")
    assert not asks_about_present("Which company makes the Model T?")
    assert recency_factor("2022-06-10", date(2022, 6, 12), 14, 0.5) == 1.5
    assert recency_factor("2022-06-20", date(2022, 6, 12), 14, 0.5) < 1
    assert recency_factor("2020-01-01", date(2022, 6, 12), 14, 0.5) == 1
    assert recency_factor(None, date(2022, 6, 12), 14, 0.5) == 1


def test_fusion_rewards_agreement() -> None:
    fused = fuse([(["a", "b", "c"], 1.0), (["c", "a", "d"], 1.0)], rrf_k=60)
    assert [key for key, _ in fused][:2] == ["a", "c"]


def test_score_fusion_keeps_a_clear_lead() -> None:
    """A passage far closer to the question than the rest stays first though BM25 ranks it only
    third; reciprocal rank fusion, which keeps only ranks, puts the keyword favourite first."""
    cosines = {"close": 0.80, "kw1": 0.42, "kw2": 0.40, "far": 0.30}
    bm25 = {"kw1": 12.0, "kw2": 11.0, "close": 9.0}
    dense_order = sorted(cosines, key=cosines.__getitem__, reverse=True)
    by_rank = fuse([(dense_order, 1.0), (list(bm25), 1.0)], rrf_k=60)
    assert by_rank[0][0] == "kw1"
    by_score = fuse_scores(cosines, bm25, dense_share=0.8)
    assert [key for key, _ in by_score] == ["close", "kw1", "kw2", "far"]
    assert all(score > 0 for _, score in by_score)  # the recency prior multiplies them
    assert [key for key, _ in fuse_scores(cosines, bm25, dense_share=0.0)][:2] == ["kw1", "kw2"]
    assert fuse_scores({"only": 0.5}, {}, 0.8) == [("only", 0.8 + 1e-6)]


def test_a_document_about_the_question_beats_a_passing_mention() -> None:
    """A digest's one matching passage outscores each of an article's two, until the article's
    second passage counts for the whole article, as much as it is on topic."""
    fused = [("digest-1", 0.030), ("article-1", 0.028), ("article-2", 0.020), ("other-1", 0.010)]
    source_of = {"digest-1": "digest.txt", "article-1": "a.txt", "article-2": "a.txt", "other-1": "o.txt"}
    on_topic = {"digest-1": 1.0, "article-1": 0.95, "article-2": 0.9, "other-1": 0.5}
    plain = by_document(fused, source_of, 0.0, on_topic)
    assert [key for key, _ in plain] == ["digest-1", "article-1", "article-2", "other-1"]
    rescored = dict(by_document(fused, source_of, 0.25, on_topic))
    assert list(rescored)[:2] == ["article-1", "digest-1"]
    lift = 0.25 * 0.020 * 0.9**2  # the second-best passage, as on topic as it is
    assert rescored["article-1"] == 0.028 + lift and rescored["article-2"] == 0.020 + lift  # their order stays
    assert rescored["digest-1"] == 0.030 and rescored["other-1"] == 0.010  # no sibling, no change
    off_topic = dict(by_document(fused, source_of, 0.25, {**on_topic, "article-2": 0.1}))
    assert list(off_topic)[0] == "digest-1"  # an off-topic sibling lifts nothing
    assert by_document(fused, {"article-1": "a.txt"}, 0.25, on_topic) == [("article-1", 0.028)]  # deleted since


def test_terms_and_sentences() -> None:
    assert terms("The Banks restricted financing") == ["bank", "restrict", "financ"]
    text = 'Mr. Wang met Gov. Smith in the U.S. on Feb. 3. "It went well," he said. Prices rose 3.5%! Next?'
    assert sentences(text) == [
        "Mr. Wang met Gov. Smith in the U.S. on Feb. 3.",
        '"It went well," he said.',
        "Prices rose 3.5%!",
        "Next?",
    ]
