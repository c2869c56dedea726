"""Answer and retrieval metrics on an rtqa-dev index already built (by `qa.evaluate --work DIR`),
with settings overridden, without re-ingesting: for comparing settings in one process each.

    python benchmarks/answers_on_index.py --index benchmarks/work/eval-corpus_small/index \
        document_weight=0 bm25_weight=0.5

Every query goes through the normal answer path, asked "as of" its date, and is scored as
`qa.evaluate` scores it (qa/scores.py). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.answering.engine import Engine  # noqa: E402
from qa.config import load_settings  # noqa: E402
from qa.evaluate import parse_date  # noqa: E402
from qa.scores import Scores  # noqa: E402

KEYS = (
    "mrr@10",
    "hits@1",
    "hits@4",
    "context_containment",
    "answer_containment",
    "short_containment",
    "short_shown",
    "short_precision",
    "answer_words_p50",
    "answer_words_p90",
    "not_found_rate",
    "latency_p50_ms",
    "latency_p95_ms",
)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", required=True)
    parser.add_argument("--queries", default=str(ROOT.parent / "shared/eval/rtqa-dev/queries.jsonl"))
    parser.add_argument("--answers", type=Path, help="also write each answer here, one JSON line (never committed)")
    parser.add_argument("overrides", nargs="*", help="setting=value")
    args = parser.parse_args()
    base = load_settings(index_dir=args.index)
    chosen = dict(item.split("=", 1) for item in args.overrides)
    settings = base.model_copy(update={key: type(getattr(base, key))(value) for key, value in chosen.items()})
    engine = Engine(settings)
    engine.answer("warm-up question")
    queries = [json.loads(line) for line in Path(args.queries).read_text(encoding="utf-8").splitlines() if line]
    scores = Scores()
    answers = []
    for query in queries:
        as_of = parse_date(query.get("date"))
        started = time.perf_counter()
        answer = engine.answer(query["query"], as_of=as_of)
        latency = (time.perf_counter() - started) * 1000
        ranked = engine.retriever.search(query["query"], k=10, as_of=as_of).passages
        # the passages the answer is made from (top_k, or more where a setting adds some)
        context = " ".join(passage.text for passage in engine.retriever.search(query["query"], as_of=as_of).passages)
        doc_ids = [Path(passage.source).stem for passage in ranked]
        scores.add(query, doc_ids, context, answer.text, answer.not_found, latency, answer.short)
        answers.append({"id": query["id"], "short": answer.short, "text": answer.text})
    if args.answers is not None:
        args.answers.write_text("".join(json.dumps(row) + "\n" for row in answers), encoding="utf-8")
    metrics = scores.metrics()
    row = {"overrides": chosen, **{key: metrics[key] for key in KEYS}, "cpu": cpu_model()}
    sys.stdout.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
