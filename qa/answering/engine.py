"""Question -> cited Answer, the same path for every backend:

condense (follow-ups) -> hybrid retrieval -> not-found rule -> backend (streaming) -> citation
check -> Answer. A failing LLM backend never leaves the user without an answer: the extractive
answer is returned instead, marked as a fallback with the reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..config import Settings
from ..embeddings import Embedder
from ..errors import BackendError
from ..text.chat import chat_turns
from ..text.markers import strip_markers, through_markers
from ..text.terms import terms
from ..types import Answer
from .backends import Backend, GenerationRequest, get_backend
from .backends.extractive import ExtractiveWeights, compose, pick_sentences
from .citations import CitationChecker
from .prompting import NOT_FOUND_TEXT, fit_passages, heuristic_condense
from .retrieval import Retrieval, Retriever
from .sentence_vectors import SentenceVectors
from .short_answer import SHORT_WORDS, confident_answer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Relevance:
    """How well the best passage (by the blend of the two) matches the question: its cosine
    similarity, and the IDF-weighted share of the question's terms it contains."""

    cosine: float
    coverage: float

    @property
    def score(self) -> float:
        return 0.5 * self.cosine + 0.5 * self.coverage

    def found(self, min_cosine: float, min_coverage: float, min_overlap: float = 0.0) -> bool:
        """The not-found rule: the best passage's cosine reaches `min_cosine` and it shares at
        least `min_overlap` of the question's weighted words, or it holds nearly all of them
        (`min_coverage`). The overlap floor is for passages close in meaning but about something
        else ("How many hearts does an octopus have?" -> a passage on a rescued sea turtle, cosine
        0.36, no word in common). With MiniLM's 0.36, 0.9 and 0.05 this declines 90% of the
        off-topic questions on rtqa-dev and 12% of its news questions, no more of those whose
        answer is in the passages than without the floor (benchmarks/README.md, "Declining")."""
        return (self.cosine >= min_cosine and self.coverage >= min_overlap) or self.coverage >= min_coverage


class Engine:
    """Everything one process needs to answer: retriever, embedding model, backends, checker.
    Build once, reuse for every question (the app and the CLI do)."""

    def __init__(
        self,
        settings: Settings,
        embeddings: Embedder | None = None,
        backends: Mapping[str, Backend] | None = None,
    ) -> None:
        """`backends`: answer backends by name, used before the built-in ones are built (a
        backend of your own, or a test's scripted one: `stream(..., backend=name)`)."""
        self.settings = settings
        self.retriever = Retriever(settings, embeddings)
        self.embeddings = self.retriever.embeddings
        #: passage sentences' vectors, read from the index (a question embeds only itself)
        self.sentence_vectors = SentenceVectors(self.embeddings, self.retriever.reader.sentence_vectors)
        self.checker = CitationChecker(
            self.embeddings, wordnet_dir=settings.wordnet_dir, sentences=self.sentence_vectors
        )
        self.extractive_weights = ExtractiveWeights()
        self._backends: dict[str, Backend] = dict(backends or {})

    def backend(self, name: str | None = None) -> Backend:
        name = name or self.settings.backend
        if name not in self._backends:
            self._backends[name] = get_backend(self.settings, name)
        return self._backends[name]

    def relevance(self, retrieval: Retrieval) -> Relevance:
        question_terms = sorted(set(terms(retrieval.query)))
        weights = retrieval.idf(question_terms)
        total = sum(weights.values()) or 1.0
        best = Relevance(0.0, 0.0)
        for passage in retrieval.passages:
            passage_terms = set(terms(passage.title + "\n" + passage.text))
            coverage = sum(weight for term, weight in weights.items() if term in passage_terms) / total
            candidate = Relevance(passage.score, coverage)
            if candidate.score > best.score:
                best = candidate
        return best

    def stream(
        self,
        question: str,
        history: Sequence[Any] | None = None,
        *,
        backend: str | None = None,
        k: int | None = None,
        sources: Sequence[str] | None = None,
        as_of: date | None = None,
    ) -> Iterator[str | Answer]:
        """Text deltas as they are produced, then the final, checked Answer (whose text may differ
        from the deltas: invalid markers removed, citations renumbered)."""
        started = time.perf_counter()
        name = backend or self.settings.backend
        turns = chat_turns(history)
        question = question.strip()
        base = Answer(text="", backend=name, question=question, standalone_question=question)
        llm = None if name == "extractive" else self.backend(name)
        standalone = question
        failure: BackendError | None = None
        if turns:
            standalone = heuristic_condense(question, turns)
            if llm is not None:
                try:
                    standalone = llm.condense(question, turns) or standalone
                except BackendError as exc:
                    log.warning("%s", exc)
                    failure = exc
        base.standalone_question = standalone
        retrieval = self.retriever.search(standalone, k=k, sources=sources, as_of=as_of)
        relevance = self.relevance(retrieval)
        log.debug("relevance %.3f (cosine %.3f, coverage %.3f)", relevance.score, relevance.cosine, relevance.coverage)
        if not retrieval.passages or not relevance.found(
            self.settings.min_relevance, self.settings.min_coverage, self.settings.min_overlap
        ):
            yield NOT_FOUND_TEXT
            yield self._not_found(base)
            return
        if llm is not None and failure is None:
            passages = fit_passages(retrieval.passages, self.settings.context_tokens, self.settings.tokenizer)
            request = GenerationRequest(question=question, passages=passages, history=turns)
            pieces: list[str] = []
            try:
                for delta in llm.stream(request):
                    pieces.append(delta)
                    yield delta
            except BackendError as exc:
                log.warning("%s", exc)
                failure = exc
            else:
                raw = "".join(pieces)
                if _says_not_found(raw):
                    yield self._not_found(base)
                    return
                answer = self._checked(base, raw, passages, started, cut_off=request.cut_off)
                answer.short = _first_line(answer)
                yield answer
                return
        picks = pick_sentences(
            standalone,
            retrieval.query_vector,
            retrieval.passages,
            self.sentence_vectors,
            retrieval.idf,
            self.extractive_weights,
        )
        if not picks:
            yield NOT_FOUND_TEXT
            yield self._not_found(base)
            return
        answering = confident_answer(
            standalone,
            [retrieval.passages[pick.passage].text[pick.start : pick.end] for pick in picks],
            [pick.about for pick in picks],
            [pick.boilerplate for pick in picks],
        )
        span = None
        if answering is not None:  # the sentence the short answer comes from leads, as its evidence
            index, span = answering
            picks = [picks[index], *picks[:index], *picks[index + 1 :]]
        text = compose(picks, retrieval.passages)
        if failure is None:
            yield from through_markers(text)  # sentence by sentence, each with its marker
        answer = self._checked(base, text, retrieval.passages, started)
        if span is not None and answer.claims and answer.claims[0].verdict == "supported":
            answer.short = span.text
        if failure is not None:
            answer.fallback = True
            answer.error = str(failure)
            yield answer.text
        yield answer

    def answer(self, question: str, history: Sequence[Any] | None = None, **options: Any) -> Answer:
        final = None
        for event in self.stream(question, history, **options):
            if isinstance(event, Answer):
                final = event
        assert final is not None
        return final

    def _checked(
        self, base: Answer, raw: str, passages: Sequence[Any], started: float, cut_off: bool = False
    ) -> Answer:
        """`cut_off`: the backend stopped at its length limit (its unfinished sentence goes)."""
        checked = self.checker.check(raw, passages, question=base.standalone_question, cut_off=cut_off)
        log.debug("answered in %.0f ms", (time.perf_counter() - started) * 1000)
        return Answer(
            text=checked.text,
            citations=checked.citations,
            unsupported=checked.unsupported,
            claims=checked.claims,
            backend=base.backend,
            question=base.question,
            standalone_question=base.standalone_question,
        )

    @staticmethod
    def _not_found(base: Answer) -> Answer:
        return Answer(
            text=NOT_FOUND_TEXT,
            backend=base.backend,
            not_found=True,
            question=base.question,
            standalone_question=base.standalone_question,
        )

    def close(self) -> None:
        self.retriever.close()


def _first_line(answer: Answer) -> str | None:
    """A model's one-line answer (the prompt asks for it first), when the check supports it and
    it is short."""
    if not answer.claims or answer.claims[0].verdict != "supported":
        return None
    line = strip_markers(answer.claims[0].text).strip().rstrip(".")
    return line if 0 < len(line.split()) <= SHORT_WORDS else None


def _says_not_found(text: str) -> bool:
    """The model followed the instruction to say the passages lack the answer."""
    plain = " ".join(text.lower().split())
    wanted = NOT_FOUND_TEXT.lower().rstrip(".")
    return plain.startswith(wanted) or (wanted in plain and len(plain) < len(wanted) + 40)


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def engine_for(settings: Settings) -> Engine:
    """One Engine per distinct settings in this process (the embedding model loads once). Keyed
    on a digest of every value, secrets included: two settings differing only by API key get
    two engines, and no secret is kept in the key."""
    key = settings.fingerprint()
    with _engines_lock:
        if key not in _engines:
            _engines[key] = Engine(settings)
        return _engines[key]


def stream_answer(
    question: str, settings: Settings, history: Sequence[Any] | None = None, **options: Any
) -> Iterator[str | Answer]:
    """Text deltas, then the final Answer. Options: backend, k, sources, as_of."""
    return engine_for(settings).stream(question, history, **options)


def answer(question: str, settings: Settings, history: Sequence[Any] | None = None, **options: Any) -> Answer:
    """The checked, cited Answer to `question` (see stream_answer for options)."""
    return engine_for(settings).answer(question, history, **options)
