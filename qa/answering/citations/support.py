"""Whether a passage supports a claim: the same sentence, or one saying the same (embedding
similarity) or holding most of its terms, in a passage holding its facts; a pair of passages
when one says it and another names who; then the answer renumbered with each citation's quote."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...embeddings import SentenceEmbeddings
from ...text.sentences import sentence_spans
from ...text.terms import terms
from ...types import Citation, Passage
from .claims import Claim, drop_repeats, is_framing, normal, split_claims, without_cut_claim
from .facts import Facts, words_in

SIMILARITY_SUPPORT = 0.62  # cosine of MiniLM vectors above which two sentences say the same
LEXICAL_SUPPORT = 0.7  # share of the sentence's terms found in one passage sentence


@dataclass
class CheckedAnswer:
    text: str
    citations: list[Citation]
    unsupported: list[str]


class CitationChecker:
    """Checks answers against passages with the embedding model (one batch per answer)."""

    def __init__(self, embeddings: SentenceEmbeddings) -> None:
        self.embeddings = embeddings

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
            self._score_by_meaning(needs_vectors, passages, spans)
        unsupported: list[str] = []
        for claim in claims:
            if not claim.cited and is_framing(claim.text, asked):
                continue
            supported = [index for index in claim.cited if index in claim.support]
            if not supported and claim.support:
                # Uncited, or citing the wrong passage, while another passage supports it: cite that one.
                best = max(claim.support, key=lambda index: claim.support[index][0])
                claim.cited = [best]
                supported = [best]
            elif not supported and claim.joint:
                supported = claim.cited = self._cite_pair(claim)
            claim.cited = supported or claim.cited
            if not supported:
                unsupported.append(claim.text)
        return self._renumber(claims, passages, unsupported)

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
        return False

    def _score_by_meaning(
        self, claims: Sequence[Claim], passages: Sequence[Passage], spans: Sequence[list[tuple[int, int]]]
    ) -> None:
        flat = [(index, start, end) for index, passage_spans in enumerate(spans) for start, end in passage_spans]
        sentences = [passages[i].text[s:e] for i, s, e in flat]
        vectors = self.embeddings.embed_array([claim.text for claim in claims] + sentences)
        claim_vectors, sentence_vectors = vectors[: len(claims)], vectors[len(claims) :]
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
            for column, (index, start, end) in enumerate(flat):
                cosine = float(similarity[row, column])
                recall = len(claim_terms & sentence_terms[column]) / len(claim_terms) if claim_terms else 0.0
                score = max(cosine, recall)
                if cosine < SIMILARITY_SUPPORT and recall < LEXICAL_SUPPORT:
                    continue
                if not claim_facts.within(passage_facts[index]):
                    partner = self._partner(
                        claim_terms, claim_facts, index, passage_facts[index], sentences[column], candidates
                    )
                    if partner and (index not in claim.joint or score > claim.joint[index][0][0]):
                        claim.joint[index] = ((score, start, end), partner)
                    continue
                if index not in claim.support or score > claim.support[index][0]:
                    claim.support[index] = (score, start, end)

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
    def _renumber(claims: Sequence[Claim], passages: Sequence[Passage], unsupported: list[str]) -> CheckedAnswer:
        numbers: dict[int, int] = {}
        quotes: dict[int, tuple[float, int, int]] = {}
        pieces: list[str] = []
        for claim in claims:
            for index in claim.cited:
                numbers.setdefault(index, len(numbers) + 1)
                found = claim.support.get(index)
                if found and (index not in quotes or found[0] > quotes[index][0]):
                    quotes[index] = found
            markers = "".join(f"[{numbers[index]}]" for index in claim.cited)
            if markers:
                body, end_punct = (claim.text[:-1], claim.text[-1]) if claim.text[-1] in ".!?" else (claim.text, "")
                pieces.append(f"{body} {markers}{end_punct}")
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
                )
            )
        return CheckedAnswer(" ".join(pieces), citations, unsupported)
