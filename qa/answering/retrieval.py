"""Hybrid retrieval: dense (Chroma) and keyword (BM25) rankings fused (by their normalised scores,
or by reciprocal rank), near-duplicates removed, optionally restricted to some sources.

Why both: dense search finds paraphrases, BM25 finds the rare names and numbers news questions
turn on; on rtqa-dev the fusion beats either alone (benchmarks/README.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

import numpy as np

from ..config import Settings
from ..embeddings import Embedder
from ..store.reader import IndexReader
from ..text.sentences import sentence_texts
from ..types import Passage
from .recency import asks_about_present, recency_factor

_WORDS = re.compile(r"\w+")


def uniform_weights(words: Sequence[str]) -> dict[str, float]:
    """Every term weighs the same (an index without a keyword index yet)."""
    return dict.fromkeys(words, 1.0)


@dataclass
class Retrieval:
    """What a search found: the ranked passages, their vectors, and the query's vector (the
    answer step reuses them instead of embedding again), and `idf`, the weight of each term over
    the index searched (the not-found rule and sentence scoring weigh overlap with it)."""

    query: str
    query_vector: np.ndarray
    passages: list[Passage]
    vectors: list[np.ndarray]
    idf: Callable[[Sequence[str]], dict[str, float]] = field(default=uniform_weights)


def shingles(text: str, size: int = 3) -> frozenset[tuple[str, ...]]:
    words = _WORDS.findall(text.lower())
    if len(words) < size:
        return frozenset([tuple(words)])
    return frozenset(tuple(words[i : i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def fuse(rankings: Sequence[tuple[Sequence[str], float]], rrf_k: float) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of several rankings, each with a weight: sum of weight/(rrf_k + rank)."""
    scores: dict[str, float] = {}
    for keys, weight in rankings:
        for rank, key in enumerate(keys, 1):
            scores[key] = scores.get(key, 0.0) + weight / (rrf_k + rank)
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)


LOW_ANCHOR = 0.5
"""Score fusion's lower anchor, as a fraction of the best score: a scale is normalised from
min(its lowest candidate, LOW_ANCHOR x its best) to its best. Plain min-max (1.0) stretches any
gap among a handful of candidates to the full range, so in a two-document folder a barely closer
passage scores 1 and its rival 0 and no prior can lift the rival; the anchor keeps small gaps small."""


def fuse_scores(cosines: dict[str, float], bm25: dict[str, float], dense_share: float) -> list[tuple[str, float]]:
    """Convex fusion: dense_share x the normalised cosine of every candidate plus the rest x its
    normalised BM25 score (0 where BM25 did not find it). Unlike reciprocal rank fusion it keeps
    how far ahead a hit is: a passage far closer to the question than the next is not pulled
    level by a middling keyword rank (rtqa-dev, benchmarks/README.md "Third round"). A tiny
    floor keeps every score positive for the multiplicative recency prior."""

    def normalised(scores: dict[str, float]) -> dict[str, float]:
        if not scores:
            return {}
        high = max(scores.values())
        low = min(min(scores.values()), LOW_ANCHOR * high)
        span = high - low
        return {key: (value - low) / span if span > 0 else 1.0 for key, value in scores.items()}

    dense, keyword = normalised(cosines), normalised(bm25)
    fused = {
        key: dense_share * dense.get(key, 0.0) + (1.0 - dense_share) * keyword.get(key, 0.0) + 1e-6
        for key in cosines.keys() | bm25.keys()
    }
    return sorted(fused.items(), key=lambda item: (item[1], item[0]), reverse=True)


def by_document(
    fused: Sequence[tuple[str, float]], source_of: dict[str, str], weight: float, on_topic: dict[str, float]
) -> list[tuple[str, float]]:
    """Each passage's fused score plus `weight` times that of its document's second-best passage,
    scaled by how on topic that passage is (`on_topic`: its cosine over the best passage's,
    squared): a document with two passages that match the question is about it, one with a single
    passing mention (a news digest, a list of links) is not. Every passage of a document gets the
    same lift, so their order stays. Reciprocal rank fusion keeps no magnitudes: without the
    scaling a long document's off-topic passages would lift it past a short one that answers
    (rtqa-dev MRR@10 0.821 -> 0.837; benchmarks/README.md "Second round")."""
    seen: dict[str, int] = {}
    lift: dict[str, float] = {}
    for key, score in fused:
        source = source_of.get(key)
        if source is None:
            continue
        seen[source] = seen.get(source, 0) + 1
        if seen[source] == 2:  # fused is sorted: the document's second-best passage
            lift[source] = weight * score * min(1.0, max(0.0, on_topic.get(key, 0.0))) ** 2
    rescored = [(key, score + lift.get(source_of[key], 0.0)) for key, score in fused if key in source_of]
    return sorted(rescored, key=lambda item: item[1], reverse=True)


class Retriever:
    """Searches the live index; one per process, reused across questions (it caches the keyword
    index and follows other processes' commits)."""

    def __init__(
        self,
        settings: Settings,
        embeddings: Embedder | None = None,
        reader: IndexReader | None = None,
    ) -> None:
        self.settings = settings
        self.reader = reader or IndexReader(settings, embeddings)
        self.embeddings = self.reader.embeddings

    def search(
        self,
        query: str,
        k: int | None = None,
        sources: Sequence[str] | None = None,
        mode: str | None = None,
        as_of: date | None = None,
    ) -> Retrieval:
        """The k best passages for `query` (settings.top_k by default), best first; each
        Passage.score is its cosine similarity to the query, whichever ranking found it.
        `as_of` is the moment of asking (default today), for questions about the present."""
        settings = self.settings
        k = k or settings.top_k
        mode = mode or settings.retrieval
        depth = max(settings.candidates, k)
        query_vector = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
        found: dict[str, tuple[Passage, np.ndarray]] = {}
        rankings: list[tuple[list[str], float]] = []
        hits: list[tuple[str, float]] = []
        if mode in ("hybrid", "dense"):
            dense = self.reader.nearest(query_vector.tolist(), depth, sources)
            if self.reader.state is not None and self.reader.state.chunk_embedding == "sentences":
                dense = self._by_best_sentence(query_vector, dense)
            found.update((passage.chunk_id, (passage, vector)) for passage, vector in dense)
            rankings.append(([passage.chunk_id for passage, _ in dense], 1.0))
        keywords = self.reader.keyword_index()
        if mode in ("hybrid", "bm25"):
            if keywords is not None:
                hits = keywords.search(query, depth, sources)
                rankings.append(([key for key, _ in hits], settings.bm25_weight if mode == "hybrid" else 1.0))
        fused = fuse(rankings, settings.rrf_k)
        missing = [key for key, _ in fused if key not in found]
        if missing:
            found.update(self.reader.fetch(missing))
        if settings.fusion == "scores" and mode == "hybrid":
            cosines = {key: float(np.dot(query_vector, found[key][1])) for key, _ in fused if key in found}
            bm25 = {key: score for key, score in hits if key in found}
            fused = fuse_scores(cosines, bm25, settings.dense_share)
        if settings.recency_days and asks_about_present(query):
            today = as_of or datetime.now(UTC).date()

            def weighted(key: str, score: float) -> float:
                date_of = found[key][0].date
                return score * recency_factor(date_of, today, settings.recency_days, settings.recency_boost)

            fused = sorted(
                ((key, weighted(key, score)) for key, score in fused if key in found),
                key=lambda item: item[1],
                reverse=True,
            )
        if settings.document_weight:
            kept = [key for key, _ in fused if key in found]
            cosines = {key: float(np.dot(query_vector, found[key][1])) for key in kept}
            top_cosine = max(cosines.values(), default=0.0)
            on_topic = {key: cosine / top_cosine for key, cosine in cosines.items()} if top_cosine > 0 else {}
            source_of = {key: found[key][0].source for key in kept}
            fused = by_document(fused, source_of, settings.document_weight, on_topic)
        passages: list[Passage] = []
        vectors: list[np.ndarray] = []
        kept_shingles: list[frozenset[tuple[str, ...]]] = []
        for key, _ in fused:
            if key not in found:  # deleted since the keyword index was built
                continue
            passage, vector = found[key]
            marks = shingles(passage.text)
            if any(jaccard(marks, seen) >= settings.dedup_jaccard for seen in kept_shingles):
                continue
            kept_shingles.append(marks)
            passages.append(replace(passage, score=float(np.dot(query_vector, vector))))
            vectors.append(vector)
            if len(passages) == k:
                break
        idf = keywords.idf if keywords is not None else uniform_weights
        return Retrieval(query, query_vector, passages, vectors, idf)

    def _by_best_sentence(
        self, query_vector: np.ndarray, dense: list[tuple[Passage, np.ndarray]]
    ) -> list[tuple[Passage, np.ndarray]]:
        """Dense hits of an index whose chunk vectors are means of sentence vectors, ordered by
        their sentence most like the question: the mean blurs the one sentence that answers
        (rtqa-dev answer containment 0.317 -> 0.339; whole chunk vectors: 0.348, and ordering
        them so lowers it)."""
        texts = {passage.chunk_id: sentence_texts(passage.text) for passage, _ in dense}
        stored = self.reader.sentence_vectors([text for sentences in texts.values() for text in sentences])

        def best(item: tuple[Passage, np.ndarray]) -> float:
            passage, vector = item
            scores = [float(stored[text] @ query_vector) for text in texts[passage.chunk_id] if text in stored]
            return max(scores, default=float(vector @ query_vector))

        return sorted(dense, key=best, reverse=True)

    def close(self) -> None:
        self.reader.close()
