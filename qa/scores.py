"""The eval README's metrics (../shared/eval/README.md): containment as it defines it, and the
scores accumulated over the queries of one run (`python -m qa.evaluate`, the benchmarks)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .text.markers import strip_markers


def normalise(text: str) -> str:
    """The eval README's normalisation: lower case, non-word characters to spaces, single spaces."""
    return " ".join(re.sub(r"\W", " ", text.lower()).split())


def contains_answer(text: str, answers: Sequence[str]) -> bool:
    haystack = normalise(strip_markers(text, " "))
    return any(normalise(answer) and normalise(answer) in haystack for answer in answers)


def percentile(values: Sequence[float], share: float) -> float:
    """The value `share` of the way up the sorted values (nearest rank below), rounded to 0.1."""
    ordered = sorted(values) or [0.0]
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 1)


class Scores:
    """Accumulates the README's metrics over the queries."""

    def __init__(self) -> None:
        self.first_hits: list[int | None] = []
        self.answer_hits = 0
        self.context_hits = 0
        self.not_found = 0
        self.asked = 0
        self.short_hits = 0
        self.short_shown = 0
        self.latencies: list[float] = []
        self.answer_words: list[int] = []

    def add(
        self,
        query: dict[str, Any],
        ranked_doc_ids: Sequence[str],
        context: str,
        answer_text: str,
        not_found: bool,
        latency_ms: float,
        short: str | None = None,
    ) -> None:
        self.asked += 1
        self.latencies.append(latency_ms)
        self.answer_hits += contains_answer(answer_text, query["answers"]) and not not_found
        self.short_hits += bool(short) and contains_answer(short or "", query["answers"])
        self.short_shown += bool(short)
        if not not_found:
            self.answer_words.append(len(strip_markers(answer_text).split()))
        self.context_hits += contains_answer(context, query["answers"])
        self.not_found += not_found
        gold = set(query["gold_doc_ids"])
        if gold:
            self.first_hits.append(next((rank for rank, d in enumerate(ranked_doc_ids[:10], 1) if d in gold), None))

    def metrics(self) -> dict[str, float]:
        gold = len(self.first_hits) or 1

        def hits(k: int) -> float:
            return sum(1 for rank in self.first_hits if rank is not None and rank <= k) / gold

        return {
            "hits@1": round(hits(1), 4),
            "hits@4": round(hits(4), 4),
            "hits@10": round(hits(10), 4),
            "mrr@10": round(sum(1 / rank for rank in self.first_hits if rank) / gold, 4),
            "answer_containment": round(self.answer_hits / max(self.asked, 1), 4),
            "context_containment": round(self.context_hits / max(self.asked, 1), 4),
            "not_found_rate": round(self.not_found / max(self.asked, 1), 4),
            "short_containment": round(self.short_hits / max(self.asked, 1), 4),
            # how often the bold answer is shown, and how often it holds a gold answer when it is
            "short_shown": round(self.short_shown / max(self.asked, 1), 4),
            "short_precision": round(self.short_hits / self.short_shown, 4) if self.short_shown else 0.0,
            "answer_words_p50": percentile(self.answer_words, 0.5),
            "answer_words_p90": percentile(self.answer_words, 0.9),
            "latency_p50_ms": percentile(self.latencies, 0.5),
            "latency_p95_ms": percentile(self.latencies, 0.95),
            "queries": self.asked,
            "queries_with_gold": len(self.first_hits),
        }
