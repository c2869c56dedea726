"""The evaluation harness end to end on a small made-up eval set (same file format as rtqa-dev):
real ingest, real answers, the LangChain tutorial baseline in a child process, one JSON object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.scores import Scores, contains_answer, normalise

from .conftest import run_cli
from .doubles import HashEmbeddings

# The outcomes here do not depend on the model: the hash double embeds, here and in every child.
pytestmark = pytest.mark.usefixtures("hash_model_children")


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    return hash_embeddings


DOCUMENTS = [
    (
        "d1",
        "Harbour ferry gets a new captain",
        "2022/06/10",
        "The harbour ferry company named Ana Ruiz as its new captain on Tuesday. She replaces a captain of 20 years.",
    ),
    (
        "d2",
        "Orchard harvest",
        "2022/06/01",
        "Apple growers in the valley expect a record harvest of 12,000 tonnes this autumn after a wet spring.",
    ),
    (
        "d3",
        "Observatory reopens",
        "2022/05/20",
        "The hill observatory reopened after repairs to its 2-metre telescope, which cost 4 million euros.",
    ),
    (
        "d4",
        "Library extends hours",
        "2022/06/08",
        "The city library will stay open until 10 pm on weekdays from July, the council said.",
    ),
]
QUERIES = [
    ("q1", "Who did the harbour ferry company name as its new captain this week?", ["Ana Ruiz"], ["d1"], "2022/06/12"),
    ("q2", "How many tonnes of apples do valley growers expect to harvest?", ["12,000 tonnes"], ["d2"], "2022/06/12"),
    ("q3", "How much did the observatory telescope repairs cost?", ["4 million euros"], ["d3"], "2022/06/12"),
    ("q4", "What is the boiling point of ethanol?", ["78 degrees"], [], "2022/06/12"),
]
KEYS = (
    "hits@1",
    "hits@4",
    "hits@10",
    "mrr@10",
    "answer_containment",
    "context_containment",
    "not_found_rate",
    "short_containment",
    "short_shown",
    "short_precision",
    "answer_words_p50",
    "answer_words_p90",
    "ingest_s",
    "documents",
    "chunks",
    "docs_per_s",
    "latency_p50_ms",
    "latency_p95_ms",
    "peak_rss_mb",
)


def test_evaluate_json_with_baseline(tmp_path: Path) -> None:
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    with open(eval_dir / "corpus_small.jsonl", "w", encoding="utf-8") as handle:
        for doc_id, title, day, text in DOCUMENTS:
            handle.write(json.dumps({"id": doc_id, "title": title, "date": day, "text": text, "origin": "gold"}) + "\n")
    with open(eval_dir / "queries.jsonl", "w", encoding="utf-8") as handle:
        for query_id, query, answers, gold, day in QUERIES:
            row = {"id": query_id, "query": query, "answers": answers, "gold_doc_ids": gold, "date": day}
            handle.write(json.dumps(row) + "\n")
    result = run_cli(["-m", "qa.evaluate", "--eval-dir", str(eval_dir), "--baseline", "--json"])
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for part in ("metrics", "baseline"):
        for key in KEYS:
            assert isinstance(data[part][key], (int, float)), (part, key)
    ours = data["metrics"]
    assert ours["documents"] == 4 and ours["queries"] == 4 and ours["queries_with_gold"] == 3
    assert ours["hits@1"] == 1.0 and ours["mrr@10"] == 1.0
    assert ours["answer_containment"] == 0.75  # the three answerable questions
    assert ours["not_found_rate"] == 0.25  # the ethanol question is not in these documents
    assert ours["short_containment"] > 0 and 0 < ours["answer_words_p50"] <= ours["answer_words_p90"]
    assert data["baseline"]["documents"] == 4 and data["baseline"]["not_found_rate"] == 0.0
    assert data["settings"]["backend"] == "extractive" and data["settings"]["machine"]["cores"]


def test_containment_follows_the_eval_readme() -> None:
    assert normalise("The U.S.-China deal, 30%!") == "the u s china deal 30"
    assert contains_answer("It was “Squid Game” [1].", ["“Squid Game”"])
    assert not contains_answer("Passage [12] says nothing.", ["12"])  # markers are not answers
    scores = Scores()
    scores.add({"answers": ["x"], "gold_doc_ids": ["a"]}, ["b", "a"], "x", "x is it [1].", False, 10.0, "x")
    scores.add({"answers": ["y"], "gold_doc_ids": []}, ["b"], "", "I could not find this.", True, 30.0)
    metrics = scores.metrics()
    assert (metrics["hits@1"], metrics["hits@4"], metrics["mrr@10"]) == (0.0, 1.0, 0.5)
    assert (metrics["answer_containment"], metrics["not_found_rate"]) == (0.5, 0.5)
    # the short answer's containment over all questions; words of found answers, markers left out
    assert (metrics["short_containment"], metrics["answer_words_p50"], metrics["answer_words_p90"]) == (0.5, 3, 3)
    # shown for one question of two, and right where shown
    assert (metrics["short_shown"], metrics["short_precision"]) == (0.5, 1.0)
    scores.add({"answers": ["z"], "gold_doc_ids": []}, ["b"], "z", "w is it [1].", False, 10.0, "w")
    assert (scores.metrics()["short_shown"], scores.metrics()["short_precision"]) == (0.6667, 0.5)
