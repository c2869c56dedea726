"""Not-found threshold and extractive weights, measured on rtqa-dev.

    python benchmarks/calibrate.py --corpus corpus_small.jsonl

Builds (once) a dated index of the corpus under benchmarks/work/eval-<corpus>/ the way
qa.evaluate does, then prints, for the rtqa questions (which the corpus should answer) and for
benchmarks/offtopic_questions.txt (which it cannot), the best passage's cosine the not-found rule thresholds,
on this corpus and on seeds/; then sweeps the extractive answer's weights.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.answering.backends.extractive import ExtractiveWeights, candidates, choose, compose  # noqa: E402
from qa.answering.engine import Engine  # noqa: E402
from qa.config import load_settings  # noqa: E402
from qa.evaluate import load_eval, parse_date, write_documents  # noqa: E402
from qa.ingestion.pipeline import ingest  # noqa: E402
from qa.scores import contains_answer  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval" / "rtqa-dev"
WORK = ROOT / "benchmarks" / "work"


def dated_index(corpus: str) -> Path:
    folder = WORK / f"eval-{Path(corpus).stem}"
    documents, _ = load_eval(EVAL, corpus, None)
    if not (folder / "index" / "index.json").exists():
        write_documents(documents, folder / "documents")
        ingest([folder / "documents"], load_settings(index_dir=folder / "index"))
    return folder / "index"


def offtopic() -> list[str]:
    lines = (ROOT / "benchmarks" / "offtopic_questions.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def percentiles(values: list[float]) -> str:
    values = sorted(values)
    pick = [values[int(p * (len(values) - 1))] for p in (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0)]
    return " ".join(f"{v:.3f}" for v in pick)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="corpus_small.jsonl")
    parser.add_argument("--sweep", action="store_true", help="also sweep extractive weights")
    parser.add_argument("--index", help="use this dated index (e.g. one qa.evaluate --work kept)")
    args = parser.parse_args()
    index = Path(args.index) if args.index else dated_index(args.corpus)
    _, queries = load_eval(EVAL, args.corpus, None)
    engine = Engine(load_settings(index_dir=index))
    seed_index = WORK / "eval-seeds"
    if not (seed_index / "index.json").exists():
        ingest([ROOT / "seeds"], load_settings(index_dir=seed_index), embeddings=engine.embeddings)
    seed_engine = Engine(load_settings(index_dir=seed_index), embeddings=engine.embeddings)
    if args.sweep:
        sweep(engine, queries)
        return
    rows = {}
    for name, eng, questions in (
        ("rtqa on rtqa", engine, [(q["query"], parse_date(q.get("date"))) for q in queries]),
        (
            "rtqa-with-gold on rtqa",
            engine,
            [(q["query"], parse_date(q.get("date"))) for q in queries if q["gold_doc_ids"]],
        ),
        ("off-topic on rtqa", engine, [(q, None) for q in offtopic()]),
        ("off-topic on seeds", seed_engine, [(q, None) for q in offtopic()]),
        ("rtqa on seeds", seed_engine, [(q["query"], None) for q in queries]),
    ):
        found = [eng.relevance(eng.retriever.search(q, as_of=d)) for q, d in questions]
        rows[name] = found
        cosines = [relevance.cosine for relevance in found]
        print(f"{name:28s} n={len(found):4d}  cosine min/p5/p10/p25/p50/p75/p90/p95/max: {percentiles(cosines)}")
    # the answerable: rtqa questions whose gold answer is in the passages they get
    rows["rtqa with the answer in its passages"] = [
        eng_relevance
        for query, eng_relevance in zip(queries, rows["rtqa on rtqa"], strict=True)
        if contains_answer(
            " ".join(
                p.text for p in engine.retriever.search(query["query"], as_of=parse_date(query.get("date"))).passages
            ),
            query["answers"],
        )
    ]
    coverage = engine.settings.min_coverage
    for overlap in (0.0, 0.05, 0.1):
        for threshold in (0.3, 0.32, 0.34, 0.36, 0.38, 0.4):
            print(
                f"min_relevance {threshold:.2f}, min_coverage {coverage}, min_overlap {overlap}: not-found "
                + ", ".join(
                    f"{name} {sum(not r.found(threshold, coverage, overlap) for r in v) / len(v):.3f}"
                    for name, v in rows.items()
                )
            )


def sweep(engine: Engine, queries: list[dict]) -> None:
    """Answer containment of the extractive answer over a grid of its weights."""
    cached = []
    for query in queries:
        retrieval = engine.retriever.search(query["query"], as_of=parse_date(query.get("date")))
        if not engine.relevance(retrieval).found(
            engine.settings.min_relevance, engine.settings.min_coverage, engine.settings.min_overlap
        ):
            cached.append((query, retrieval, []))
            continue
        found = candidates(
            query["query"], retrieval.query_vector, retrieval.passages, engine.embeddings, retrieval.idf, 6
        )
        cached.append((query, retrieval, found))
    grid = {
        "lexical": [0.42],
        "coverage": [1.07],
        "title_coverage": [-0.56],
        "answers": [0.5],
        "rank_penalty": [0.07],
        "sentences": [2, 3, 5],
        "min_ratio": [0.0, 0.3, 0.6],
    }
    for combo in itertools.product(*grid.values()):
        weights = ExtractiveWeights(**dict(zip(grid, combo, strict=True)))
        hits = 0
        words = 0
        for query, retrieval, found in cached:
            usable = [candidate for candidate in found if candidate.passage < weights.passages]
            text = compose(choose(usable, weights), retrieval.passages)
            hits += contains_answer(text, query["answers"])
            words += len(text.split())
        row = {**weights.__dict__, "answer_containment": round(hits / len(cached), 4)}
        print(json.dumps({**row, "mean_words": round(words / len(cached), 1)}), flush=True)


if __name__ == "__main__":
    main()
