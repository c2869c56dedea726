"""How well could a learned chooser pick the short answer's span? On an rtqa-dev index built by
`qa.evaluate --work DIR`: every span of the asked kind in the best K candidate sentences (the
extractive scorer's order, near-repeats skipped), with features, labelled by whether it holds a
gold answer. Prints, per K, the share of questions a perfect chooser would get right and what a
logistic regression gets, cross-validated by question (5 folds), beside the shipped rule.

    python benchmarks/span_chooser.py --index benchmarks/work/eval-corpus_small/index

Analysis only: nothing here is shipped, and no weight fitted here is copied into the project.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.answering.backends.extractive import ExtractiveWeights, _similar, candidates  # noqa: E402
from qa.answering.engine import Engine  # noqa: E402
from qa.answering.short_answer import _rank, answer_spans, answering_sentence, asked_kind  # noqa: E402
from qa.config import load_settings  # noqa: E402
from qa.evaluate import parse_date  # noqa: E402
from qa.scores import contains_answer  # noqa: E402
from qa.text.terms import terms  # noqa: E402

WORD = re.compile(r"\w+")
MAX_SENTENCES = 12


def span_rows(engine: Engine, query: dict) -> tuple[list[dict], bool]:
    """Each candidate span of the question with its features; and whether the shipped rule's
    span (over the best 3 sentences) holds a gold answer."""
    question, weights = query["query"], ExtractiveWeights()
    retrieval = engine.retriever.search(question, as_of=parse_date(query.get("date")), k=8)
    found = candidates(question, retrieval.query_vector, retrieval.passages, engine.sentence_vectors, retrieval.idf, 8)
    chosen: list = []
    for candidate in sorted(found, key=lambda c: c.score(weights), reverse=True):
        if not any(_similar(candidate, seen) for seen in chosen):
            chosen.append(candidate)
        if len(chosen) >= MAX_SENTENCES:
            break
    kind = asked_kind(question)
    if kind is None or not chosen:
        return [], False
    texts = [retrieval.passages[c.passage].text[c.start : c.end] for c in chosen]
    shipped = answering_sentence(question, texts[:3])
    shipped_hit = shipped is not None and contains_answer(shipped[1].text, query["answers"])
    rank = _rank(question)
    question_terms = set(terms(question))
    idf = retrieval.idf(sorted(question_terms))
    total = sum(idf.values()) or 1.0
    top4 = " ".join(passage.text for passage in retrieval.passages[:4]).lower()
    best = chosen[0].score(weights)
    rows = []
    for order, (candidate, text) in enumerate(zip(chosen, texts, strict=True)):
        spans = answer_spans(question, text, kind)
        words = [(m.start(), m.end(), set(terms(m.group()))) for m in WORD.finditer(text)]
        asked_at = [i for i, (_, _, found_terms) in enumerate(words) if found_terms & question_terms]
        for position, span in enumerate(spans):
            inside = [i for i, (start, end, _) in enumerate(words) if start >= span.start and end <= span.end]
            distance = min((abs(i - j) for i in inside for j in asked_at), default=20)
            near = sum(
                idf.get(term, 0.0)
                for i, (_, _, found_terms) in enumerate(words)
                if inside and min(abs(i - j) for j in inside) <= 6
                for term in found_terms & question_terms
            )
            rows.append(
                {
                    "score": candidate.score(weights),
                    "gap": best - candidate.score(weights),
                    "log_order": math.log1p(order),
                    "first_sentence": order == 0,
                    "rank0": rank(span) == 0,
                    "rank1": rank(span) == 1,
                    "rank2": rank(span) == 2,
                    "first_span": position == 0,
                    "spans": math.log1p(len(spans)),
                    "distance": min(distance, 20) / 20,
                    "near": near / total,
                    "mentions": math.log1p(top4.count(span.text.lower())),
                    "words": min(len(span.text.split()), 8) / 8,
                    "cosine": candidate.cosine,
                    "coverage": candidate.coverage,
                    "passage": math.log1p(candidate.passage),
                    "number": kind == "number",
                    "date": kind == "date",
                    "order": order,
                    "gold": contains_answer(span.text, query["answers"]),
                }
            )
    return rows, shipped_hit


def learned_hits(groups: list[list[dict]], k: int, folds: int = 5) -> int:
    """Questions whose top-scored span holds a gold answer, each fold scored by a model fitted on
    the other folds."""
    from sklearn.linear_model import LogisticRegression

    names = [name for name in groups[0][0] if name not in ("gold", "order")]
    order = list(range(len(groups)))
    random.Random(0).shuffle(order)
    hits = 0
    for fold in range(folds):
        train = [row for i in order if i % folds != fold for row in groups[i] if row["order"] < k]
        model = LogisticRegression(max_iter=2000).fit(
            np.array([[float(row[name]) for name in names] for row in train]), [row["gold"] for row in train]
        )
        for i in order:
            if i % folds != fold:
                continue
            rows = [row for row in groups[i] if row["order"] < k]
            if rows:
                scores = model.decision_function(np.array([[float(row[name]) for name in names] for row in rows]))
                hits += rows[int(np.argmax(scores))]["gold"]
    return hits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", required=True)
    parser.add_argument("--queries", default=str(ROOT.parent / "shared/eval/rtqa-dev/queries.jsonl"))
    args = parser.parse_args()
    engine = Engine(load_settings(index_dir=args.index))
    queries = [json.loads(line) for line in Path(args.queries).read_text(encoding="utf-8").splitlines() if line]
    groups, shipped = [], 0
    for query in queries:
        rows, hit = span_rows(engine, query)
        shipped += hit
        if rows:
            groups.append(rows)
    result: dict = {"questions": len(queries), "with_spans": len(groups), "shipped_rule_top3": shipped}
    per_k = defaultdict(dict)
    for k in (1, 2, 3, 4, 6, 8, 12):
        per_k[k]["perfect"] = sum(any(row["gold"] for row in rows if row["order"] < k) for rows in groups)
        per_k[k]["learned"] = learned_hits(groups, k)
    result["sentences"] = per_k
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
