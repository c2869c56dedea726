"""The default backend: no LLM. The answer is the passages' own sentences that best answer the
question, each cited; it never writes a word that is not in a passage.

A sentence is scored by its embedding similarity to the question, the IDF-weighted share of the
question's terms it and its passage contain, whether it holds what the question asks for (a
number for "how many", a name for "who"/"which") that the question does not already say, and a
small penalty for coming from a lower-ranked passage (`ExtractiveWeights`). The best sentence
comes first; `short_answer` takes the answer's span from it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ...text.boilerplate import boilerplate_in
from ...text.lexicon import lexicon
from ...text.sentences import sentence_spans
from ...text.terms import terms
from ...types import Passage
from ..sentence_vectors import Vectors
from ..short_answer import QUESTION_TERMS, answer_spans, asked_kind

MIN_WORDS = 4
MAX_WORDS = 80


@dataclass(frozen=True)
class Pick:
    """A chosen sentence: passage index (0-based), its span in passage.text, and its score."""

    passage: int
    start: int
    end: int
    score: float
    about: float = 0.0  # the share of the question's weighted terms (not its wh-words) it holds
    boilerplate: bool = False


@dataclass(frozen=True)
class ExtractiveWeights:
    """A logistic regression of "this sentence contains the gold answer" on these features, fitted
    on rtqa-dev corpus_small with 5-fold cross-validation and scaled to the cosine's weight
    (benchmarks/README.md, "Answers first"): the best sentence holds the answer for 0.21 of the
    questions (0.17 with the hand-set weights before), three sentences for 0.32 (0.29).

    Passage coverage counts (the sentence of a passage that holds most of the question's rare
    words is likelier the answer's); title coverage counts against (a headline repeats the
    question, the answer is in the body); a span of the asked kind that the question does not
    already say counts for."""

    lexical: float = 0.42
    coverage: float = 1.07
    title_coverage: float = -0.56
    answers: float = 0.5
    rank_penalty: float = 0.07  # times log(1 + passage rank)
    #: a caption, byline, link or site notice (`text.boilerplate`): below any sentence of the story
    boilerplate: float = -1.0
    sentences: int = 3
    passages: int = 4
    min_ratio: float = 0.3  # a sentence scoring below this share of the best one is left out


@dataclass(frozen=True)
class Candidate:
    """A sentence that may go into the answer, with the features it is scored on."""

    passage: int
    start: int
    end: int
    terms: frozenset[str]
    cosine: float
    lexical: float
    coverage: float
    title_coverage: float
    answers: bool
    boilerplate: bool = False
    about: float = 0.0  # `lexical` without the question's own words ("which", "how"): for the short answer

    def score(self, weights: ExtractiveWeights) -> float:
        return (
            self.cosine
            + weights.lexical * self.lexical
            + weights.coverage * self.coverage
            + weights.title_coverage * self.title_coverage
            + weights.answers * self.answers
            + weights.boilerplate * self.boilerplate
            - weights.rank_penalty * math.log1p(self.passage)
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
    kind = asked_kind(question)

    def share(found_terms: set[str] | frozenset[str]) -> float:
        return sum(weight for term, weight in term_weights.items() if term in found_terms) / total

    subject_weights = {term: weight for term, weight in term_weights.items() if term not in QUESTION_TERMS}
    subject_total = sum(subject_weights.values()) or 1.0
    places = place_terms(question)

    found: list[tuple[int, int, int, frozenset[str], str, float, float, bool]] = []
    for index, passage in enumerate(passages[:max_passages]):
        coverage = share(set(terms(passage.title + "\n" + passage.text)))
        title_coverage = share(set(terms(passage.title)))
        for start, end in sentence_spans(passage.text):
            text = passage.text[start:end]
            words = len(text.split())
            if words < MIN_WORDS or words > MAX_WORDS:
                continue
            sentence_terms = frozenset(terms(text))
            if not sentence_terms - set(question_terms):
                continue  # says nothing the question does not
            boilerplate = boilerplate_in(passage.text, start, end)
            found.append((index, start, end, sentence_terms, text, coverage, title_coverage, boilerplate))
    if not found:
        return []
    similarity = vectors.embed_array([item[4] for item in found]) @ query_vector
    return [
        Candidate(
            passage=index,
            start=start,
            end=end,
            terms=sentence_terms,
            cosine=float(cosine),
            lexical=share(sentence_terms),
            coverage=coverage,
            title_coverage=title_coverage,
            answers=bool(answer_spans(question, text, kind)) and not boilerplate,
            boilerplate=boilerplate,
            about=sum(
                weight
                for term, weight in subject_weights.items()
                if term in sentence_terms or places.get(term, frozenset()) & sentence_terms
            )
            / subject_total,
        )
        for (index, start, end, sentence_terms, text, coverage, title_coverage, boilerplate), cosine in zip(
            found, similarity, strict=True
        )
    ]


def place_terms(question: str) -> dict[str, frozenset[str]]:
    """The question's adjectives of places, as the terms of the places they name: "Chinese" is
    said by a sentence that says "China's" (WordNet, `Lexicon.names_behind`)."""
    found = lexicon()
    aliases: dict[str, frozenset[str]] = {}
    for word in re.findall(r"\b[A-Z][a-z]+\b", question):
        behind = found.names_behind(word.lower())
        if behind:
            aliases.update({term: frozenset(terms(" ".join(behind))) for term in terms(word)})
    return aliases


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
    return [Pick(c.passage, c.start, c.end, c.score(weights), c.about, c.boilerplate) for c in [best, *rest]]


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
