"""The default backend: no LLM. The answer is the passages' own sentences that best answer the
question, each cited; it never writes a word that is not in a passage.

A sentence is scored by its embedding similarity to the question, the IDF-weighted share of the
question's terms it contains, a bonus when it holds what the question asks for (a number for "how
many", a name for "who"/"which") and something the question does not already say, and a small
penalty for coming from a lower-ranked passage. Weights were tuned on rtqa-dev
(benchmarks/README.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ...text.sentences import sentence_spans
from ...text.terms import terms
from ...types import Passage
from ..sentence_vectors import Vectors

_NUMBER = re.compile(r"\d")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+")
_ASKS_NUMBER = re.compile(
    r"\b(how (many|much|long|old|far|often|large|big|high|tall)|what (percent|percentage|share|number|year|age|amount)|"
    r"when)\b",
    re.I,
)
_ASKS_NAME = re.compile(
    r"^\W*(who|whom|whose|which|where|name)\b|^\W*what (\w+ )?(company|country|city|state|team|name|brand|show|"
    r"movie|film|animal|product|app|title|group|organi[sz]ation|party|agency|word|place)\b",
    re.I,
)
_QUESTION_PART = re.compile(r"[^.!?]*\?")

MIN_WORDS = 4
MAX_WORDS = 80


@dataclass(frozen=True)
class Pick:
    """A chosen sentence: passage index (0-based), its span in passage.text, and its score."""

    passage: int
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class ExtractiveWeights:
    """Chosen on rtqa-dev corpus_small by benchmarks/calibrate.py --sweep (benchmarks/README.md):
    5 sentences contain the answer for 0.351 of the questions, 4 for 0.335, 3 for 0.326; leaving
    out sentences under 0.3 of the best one's score costs nothing there and drops padding from
    unrelated passages when only one passage is relevant."""

    lexical: float = 0.5
    answer_type: float = 0.1
    rank_penalty: float = 0.15
    sentences: int = 5
    passages: int = 4
    min_ratio: float = 0.3  # a sentence scoring below this share of the best one is left out


def _answer_type_bonus(question: str, sentence: str, question_words: set[str]) -> float:
    """1 when the sentence holds the kind of thing the question asks for (a number, a name) and
    the question does not already say it. Quiz-style questions often open with context: only the
    part that ends in "?" says what is asked."""
    asked = _QUESTION_PART.findall(question)
    question = asked[-1] if asked else question
    if _ASKS_NUMBER.search(question):
        return 1.0 if _NUMBER.search(sentence) else 0.0
    if _ASKS_NAME.search(question):
        names = {match.group(0).lower() for match in _NAME.finditer(sentence)}
        return 1.0 if names - question_words else 0.0
    return 0.0


@dataclass(frozen=True)
class Candidate:
    """A sentence that may go into the answer, with the features it is scored on."""

    passage: int
    start: int
    end: int
    terms: frozenset[str]
    cosine: float
    lexical: float
    answer_type: float

    def score(self, weights: ExtractiveWeights) -> float:
        return (
            self.cosine
            + weights.lexical * self.lexical
            + weights.answer_type * self.answer_type
            - weights.rank_penalty * self.passage
        )


def candidates(
    question: str,
    query_vector: np.ndarray,
    passages: Sequence[Passage],
    vectors: Vectors,
    idf: Callable[[Sequence[str]], dict[str, float]],
    max_passages: int,
) -> list[Candidate]:
    """Every usable sentence of the first `max_passages` passages, scored with its vector (stored at
    ingest, see `SentenceVectors`)."""
    question_terms = sorted(set(terms(question)))
    term_weights = idf(question_terms)
    total = sum(term_weights.values()) or 1.0
    question_words = {word.lower() for word in re.findall(r"[A-Za-z]+", question)}
    found: list[tuple[int, int, int, frozenset[str], str]] = []
    for index, passage in enumerate(passages[:max_passages]):
        for start, end in sentence_spans(passage.text):
            text = passage.text[start:end]
            words = len(text.split())
            if words < MIN_WORDS or words > MAX_WORDS:
                continue
            sentence_terms = frozenset(terms(text))
            if not sentence_terms - set(question_terms):
                continue  # says nothing the question does not
            found.append((index, start, end, sentence_terms, text))
    if not found:
        return []
    similarity = vectors.embed_array([text for *_, text in found]) @ query_vector
    return [
        Candidate(
            passage=index,
            start=start,
            end=end,
            terms=sentence_terms,
            cosine=float(cosine),
            lexical=sum(weight for term, weight in term_weights.items() if term in sentence_terms) / total,
            answer_type=_answer_type_bonus(question, text, question_words),
        )
        for (index, start, end, sentence_terms, text), cosine in zip(found, similarity, strict=True)
    ]


def _similar(a: Candidate, b: Candidate) -> bool:
    return len(a.terms & b.terms) / max(len(a.terms | b.terms), 1) > 0.6


def choose(found: Sequence[Candidate], weights: ExtractiveWeights) -> list[Pick]:
    """The best `weights.sentences` candidates, near-repeats skipped, in answer order: the best
    sentence first, then the others grouped by passage (best passage first), in reading order."""
    ranked = sorted(found, key=lambda candidate: candidate.score(weights), reverse=True)
    floor = ranked[0].score(weights) * weights.min_ratio if ranked else 0.0
    chosen: list[Candidate] = []
    for candidate in ranked:
        if len(chosen) >= weights.sentences or candidate.score(weights) < floor:
            break
        if any(_similar(candidate, seen) for seen in chosen):
            continue
        chosen.append(candidate)
    if not chosen:
        return []
    best = chosen[0]
    passage_order = list(dict.fromkeys(candidate.passage for candidate in chosen))
    rest = sorted(chosen[1:], key=lambda candidate: (passage_order.index(candidate.passage), candidate.start))
    return [Pick(c.passage, c.start, c.end, c.score(weights)) for c in [best, *rest]]


def pick_sentences(
    question: str,
    query_vector: np.ndarray,
    passages: Sequence[Passage],
    vectors: Vectors,
    idf: Callable[[Sequence[str]], dict[str, float]],
    weights: ExtractiveWeights = ExtractiveWeights(),
) -> list[Pick]:
    """The answer's sentences (see `candidates` and `choose`)."""
    return choose(candidates(question, query_vector, passages, vectors, idf, weights.passages), weights)


def compose(picks: Sequence[Pick], passages: Sequence[Passage]) -> str:
    """The answer text: each sentence verbatim (a headline or caption without a final stop gets
    one, so sentences stay apart), followed by its passage's marker."""
    parts = []
    for pick in picks:
        sentence = passages[pick.passage].text[pick.start : pick.end]
        if sentence.rstrip("\"'”’)")[-1:] not in (".", "!", "?"):  # a headline ending in a quote gets one too
            sentence += "."
        parts.append(f"{sentence} [{pick.passage + 1}]")
    return " ".join(parts)
