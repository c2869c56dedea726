"""Whether a passage supports a claim: the same sentence, or one saying the same (embedding
similarity) or holding most of its terms, in a passage holding its facts, that also agrees with
it (`agreement`); a pair of passages when one says it and another names who; then the answer
renumbered with each citation's quote, and each claim's verdict."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...embeddings import Embedder
from ...text import markers
from ...text.lexicon import Lexicon, lexicon
from ...text.sentences import sentence_spans
from ...text.terms import terms
from ...types import Citation, ClaimCheck, Passage
from ..sentence_vectors import Vectors
from .agreement import disagreement
from .claims import (
    Claim,
    Evidence,
    Finding,
    drop_repeats,
    is_framing,
    normal,
    split_claims,
    without_cut_claim,
)
from .decomposed import evidence_at, places_of, support_by_facts
from .facts import Facts, words_in
from .roles import passage_names

SIMILARITY_SUPPORT = 0.62  # cosine of MiniLM vectors above which two sentences say the same
LEXICAL_SUPPORT = 0.7  # share of the sentence's terms found in one passage sentence
VERBATIM_WORDS = 6  # a claim this long found word for word in a passage is a quote of it
CHECKED_PER_PASSAGE = 3  # most similar sentences of a passage checked for agreement with a claim


NO_PASSAGE = "no passage says this"


@dataclass
class CheckedAnswer:
    text: str
    citations: list[Citation]
    unsupported: list[str]
    claims: list[ClaimCheck]


class CitationChecker:
    """Checks answers against passages with the embedding model (the claims, one batch per
    answer), the passages' sentence vectors (stored at ingest) and the lexicon (loaded on the
    first answer that is not quoted verbatim)."""

    def __init__(
        self,
        embeddings: Embedder,
        words: Lexicon | None = None,
        wordnet_dir: Path | None = None,
        sentences: Vectors | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.sentences: Vectors = sentences or embeddings
        self._lexicon = words
        self._wordnet_dir = wordnet_dir

    @property
    def lexicon(self) -> Lexicon:
        if self._lexicon is None:
            self._lexicon = lexicon(self._wordnet_dir)
        return self._lexicon

    def check(self, text: str, passages: Sequence[Passage], question: str = "", cut_off: bool = False) -> CheckedAnswer:
        """`question`: what was asked (a sentence echoing it claims nothing); `cut_off`: the
        writer stopped at its length limit, so an unfinished last sentence is dropped when a
        claim precedes it."""
        asked = Facts.of_passage(question)  # every word of it: an echo may start mid-sentence
        claims = drop_repeats(split_claims(text, len(passages)))
        if cut_off:
            claims = without_cut_claim(claims, asked)
        spans = [sentence_spans(passage.text) for passage in passages]
        needs_vectors = [claim for claim in claims if not self._verbatim(claim, passages, spans)]
        if needs_vectors:
            self._score_by_meaning(needs_vectors, passages, spans, asked.names)
        pending: list[Claim] = []  # claims no passage sentence supports as a whole
        for claim in claims:
            claim.cited_before = list(claim.cited)
            if not claim.cited and is_framing(claim.text, asked):
                claim.verdict = None  # claims nothing: shown as written, not checked
                continue
            if not claim.support and not claim.joint:
                self._look_for_contradiction(claim, passages, spans, asked.names)
            # A passage's sentence that says the opposite, and is more like the claim than any
            # supporting one, outweighs it: the claim is closest to what a passage contradicts.
            bar = max(
                (place[0] for place, found in claim.conflicts.values() if found.verdict == "contradicted"), default=0.0
            )
            backing = {index: found for index, found in claim.support.items() if found[0] >= bar}
            supported = [index for index in claim.cited if index in backing]
            if not supported and backing:
                # Uncited, or citing the wrong passage, while another passage supports it: cite that one.
                best = max(backing, key=lambda index: backing[index][0])
                supported = [best]
            elif not supported and any(found[0][0] >= bar for found in claim.joint.values()):
                supported = self._cite_pair(claim)
            if supported:
                claim.cited = supported
            else:
                pending.append(claim)
        if pending:
            places = places_of(passages, spans, self.lexicon)
            support_by_facts(pending, passages, places, self.embeddings, self.sentences, self.lexicon, asked.names)
        for claim in pending:
            if not claim.cited or not claim.support:
                self._judge_unsupported(claim)
        return self._renumber(claims, passages)

    @staticmethod
    def _judge_unsupported(claim: Claim) -> None:
        """A claim no passage supports: contradicted when a passage says otherwise (one it cites
        first), else unsupported, with the reason of the passage closest to saying it."""
        contradicting = {index: found for index, found in claim.conflicts.items() if found[1].verdict == "contradicted"}
        pool = contradicting or claim.conflicts
        cited = [index for index in claim.cited if index in pool]
        if pool:
            index = cited[0] if cited else max(pool, key=lambda key: pool[key][0][0])
            (score, start, end), finding = pool[index]
            claim.verdict, claim.reason = finding.verdict, finding.reason
            claim.evidence = (index, start, end)
        else:
            claim.verdict, claim.reason = "unsupported", NO_PASSAGE
        claim.cited = []

    @staticmethod
    def _cite_pair(claim: Claim) -> list[int]:
        """The best pair of passages that together support a sentence neither supports alone."""
        best = max(claim.joint, key=lambda index: claim.joint[index][0][0])
        found, (other, start, end) = claim.joint[best]
        claim.support[best] = found
        claim.support[other] = (found[0], start, end)
        return [best, other]

    @staticmethod
    def _verbatim(claim: Claim, passages: Sequence[Passage], spans: Sequence[list[tuple[int, int]]]) -> bool:
        """Fast path (the extractive backend, quoting models): the sentence is a passage sentence."""
        wanted = normal(claim.text)
        if not wanted:
            return True
        order = claim.cited + [index for index in range(len(passages)) if index not in claim.cited]
        for index in order:
            for start, end in spans[index]:
                if normal(passages[index].text[start:end]) == wanted:
                    claim.support[index] = (1.0, start, end)
                    return True
        words = re.findall(r"\w+|[^\w\s]", claim.text.rstrip(".!? "))
        if len(words) >= VERBATIM_WORDS:  # a quote spanning sentences as split here (a headline and its text)
            pattern = re.compile(r"\s*".join(re.escape(word) for word in words), re.I)
            for index in order:
                starts = {start for start, _ in spans[index]}
                for found in pattern.finditer(passages[index].text):
                    if found.start() in starts:  # from a sentence's start: no "not" or "may" left behind
                        claim.support[index] = (1.0, found.start(), found.end())
                        return True
        return False

    def _score_by_meaning(
        self,
        claims: Sequence[Claim],
        passages: Sequence[Passage],
        spans: Sequence[list[tuple[int, int]]],
        asked: frozenset[str],
    ) -> None:
        flat = [(index, start, end) for index, passage_spans in enumerate(spans) for start, end in passage_spans]
        order = [position for passage_spans in spans for position in range(len(passage_spans))]
        names: list[frozenset[str] | None] = [None] * len(passages)  # computed when first needed
        sentences = [passages[i].text[s:e] for i, s, e in flat]
        claim_vectors = self.embeddings.embed_array([claim.text for claim in claims])
        sentence_vectors = self.sentences.embed_array(sentences)
        similarity = claim_vectors @ sentence_vectors.T if len(flat) else np.zeros((len(claims), 0))
        sentence_terms = [set(terms(sentence)) for sentence in sentences]
        #: (passage, start, end), terms, words of each sentence: where a pair's partner is looked for
        candidates = [
            (place, held, words_in(sentence))
            for place, held, sentence in zip(flat, sentence_terms, sentences, strict=True)
        ]
        passage_facts = [Facts.of_passage(passage.title + "\n" + passage.text) for passage in passages]
        for row, claim in enumerate(claims):
            claim_terms = set(terms(claim.text))
            claim_facts = Facts.of_claim(claim.text)
            scored = []
            for column in range(len(flat)):
                cosine = float(similarity[row, column])
                recall = len(claim_terms & sentence_terms[column]) / len(claim_terms) if claim_terms else 0.0
                if cosine >= SIMILARITY_SUPPORT or recall >= LEXICAL_SUPPORT:
                    scored.append((max(cosine, recall), column))
            checked: dict[int, int] = {}  # passage -> its sentences checked for agreement so far
            for score, column in sorted(scored, reverse=True):
                index, start, end = flat[column]
                contradicted = index in claim.conflicts and claim.conflicts[index][1].verdict == "contradicted"
                if index in claim.support or contradicted or checked.get(index, 0) >= CHECKED_PER_PASSAGE:
                    continue  # a passage speaks through its sentence most like the claim that agrees or contradicts
                checked[index] = checked.get(index, 0) + 1
                if names[index] is None:
                    names[index] = passage_names(passages[index].text)
                evidence = self._evidence(passages[index], spans[index], order[column], names[index])
                finding = disagreement(claim.text, evidence, self.lexicon, asked)
                if not claim_facts.within(passage_facts[index]):
                    if finding is not None and finding.verdict == "contradicted":
                        claim.note_conflict(index, (score, start, end), finding)
                        continue
                    partner = self._partner(
                        claim_terms, claim_facts, index, passage_facts[index], sentences[column], candidates
                    )
                    if partner and (index not in claim.joint or score > claim.joint[index][0][0]):
                        claim.joint[index] = ((score, start, end), partner)
                    else:
                        claim.note_conflict(index, (score, start, end), finding or _MISSING_FACTS)
                    continue
                if finding is not None:
                    claim.note_conflict(index, (score, start, end), finding)
                else:
                    claim.support[index] = (score, start, end)

    def _look_for_contradiction(
        self, claim: Claim, passages: Sequence[Passage], spans: Sequence[list[tuple[int, int]]], asked: frozenset[str]
    ) -> None:
        """A claim nothing supports may still be contradicted by a sentence less like it as a
        whole: one using the verb the claim asserts about one of its names ("China vetoed" over
        "China's decision not to fully veto"). Such sentences are checked too."""
        if any(found.verdict == "contradicted" for _, found in claim.conflicts.values()):
            return
        words = self.lexicon
        asserted = [word for word in words_in(claim.text) if words.is_verb_form(word)]
        named = Facts.of_claim(claim.text).names
        if not asserted or not named:
            return
        wanted = frozenset().union(*(words.bases(word) for word in asserted))
        for index, passage in enumerate(passages):
            names: frozenset[str] | None = None  # the passage's names, read once when first needed
            for position, (start, end) in enumerate(spans[index]):
                sentence = passage.text[start:end]
                held = words_in(sentence)
                if not held & named or not any(words.bases(word) & wanted for word in held):
                    continue
                if names is None:
                    names = passage_names(passage.text)
                evidence = self._evidence(passage, spans[index], position, names)
                finding = disagreement(claim.text, evidence, words, asked)
                if finding is not None and finding.verdict == "contradicted":
                    claim.note_conflict(index, (0.0, start, end), finding)
                    return

    @staticmethod
    def _evidence(passage: Passage, spans: Sequence[tuple[int, int]], position: int, names: frozenset[str]) -> Evidence:
        return evidence_at(passage, spans, position, names)

    @staticmethod
    def _partner(
        claim_terms: set[str],
        claim_facts: Facts,
        index: int,
        passage: Facts,
        sentence: str,
        candidates: Sequence[tuple[tuple[int, int, int], set[str], set[str]]],
    ) -> tuple[int, int, int] | None:
        """A sentence of another passage that names who or what `sentence` (of passage `index`,
        whose facts are `passage`; it says the same as the claim) leaves unnamed: it holds every
        name the passage lacks and shares another term with the claim. Numbers never come from
        the partner, and `sentence` must name nobody the claim does not (else the claim swapped a
        name: "Ford recalled" over "Toyota recalled")."""
        missing_names = claim_facts.names - passage.names
        if not claim_facts.numbers <= passage.numbers or not missing_names:
            return None
        if Facts.of_claim(sentence).names - claim_facts.names:
            return None
        other_terms = claim_terms - set(terms(" ".join(missing_names)))
        for (other, start, end), held_terms, words in candidates:
            if other != index and missing_names <= words and other_terms & held_terms:
                return other, start, end
        return None

    @staticmethod
    def _renumber(claims: Sequence[Claim], passages: Sequence[Passage]) -> CheckedAnswer:
        """The text with each claim's markers (or its verdict's mark), the citations numbered in
        order of first use (a contradicting passage included, so its words can be shown), and
        the claims' verdicts."""
        numbers: dict[int, int] = {}
        quotes: dict[int, tuple[float, int, int]] = {}
        pieces: list[str] = []
        checks: list[ClaimCheck] = []
        for claim in claims:
            for index in claim.cited:
                numbers.setdefault(index, len(numbers) + 1)
                found = claim.support.get(index)
                if found and (index not in quotes or found[0] > quotes[index][0]):
                    quotes[index] = found
            mark = "".join(f"[{numbers[index]}]" for index in claim.cited)
            quote = ""
            if claim.verdict == "contradicted" and claim.evidence is not None:
                index, start, end = claim.evidence
                numbers.setdefault(index, len(numbers) + 1)
                quotes.setdefault(index, (0.0, start, end))
                mark = markers.CONTRADICTED_MARK.format(n=numbers[index])
                quote = passages[index].text[start:end]
            elif claim.verdict == "unsupported":
                mark = markers.UNSUPPORTED_MARK
                if claim.evidence is not None:
                    index, start, end = claim.evidence
                    quote = passages[index].text[start:end]
            elif claim.cited:
                index = claim.cited[0]
                score, start, end = claim.support.get(index, (0.0, 0, 0))
                quote = passages[index].text[start:end]
            if claim.verdict is not None:
                cited = [numbers[claim.evidence[0]]] if claim.verdict == "contradicted" and claim.evidence else []
                checks.append(
                    ClaimCheck(
                        claim.text,
                        claim.verdict,
                        [numbers[index] for index in claim.cited] or cited,
                        claim.reason,
                        quote,
                    )
                )
            if mark:
                body, end_punct = (claim.text[:-1], claim.text[-1]) if claim.text[-1] in ".!?" else (claim.text, "")
                pieces.append(f"{body} {mark}{end_punct}")
            else:
                pieces.append(claim.text)
        citations = []
        for index, n in sorted(numbers.items(), key=lambda item: item[1]):
            passage = passages[index]
            score, start, end = quotes.get(index, (0.0, 0, 0))
            if end <= start:  # cited but unsupported: point at the passage's first sentence
                start, end = (sentence_spans(passage.text) or [(0, len(passage.text))])[0]
            citations.append(
                Citation(
                    n=n,
                    source=passage.source,
                    title=passage.title,
                    page=passage.page,
                    chunk_id=passage.chunk_id,
                    quote=passage.text[start:end],
                    start=start,
                    end=end,
                    score=round(passage.score, 4),
                    passage=passage.text,
                    date=passage.date,
                    location=passage.location,
                    collection=passage.collection,
                )
            )
        unsupported = [check.text for check in checks if check.verdict != "supported"]
        return CheckedAnswer(" ".join(pieces), citations, unsupported, checks)


#: Why a sentence similar to the claim does not support it when the passage lacks a name or number.
_MISSING_FACTS = Finding("unsupported", "the passage does not hold all of its names and numbers")
