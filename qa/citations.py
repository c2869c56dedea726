"""The citation check every answer goes through, whatever wrote it.

1. Markers [n] that point at no passage are removed.
2. Each answer sentence is checked against the passages: it is supported by a passage when one of
   its sentences says the same (embedding similarity) or holds most of its terms (lexical recall),
   and the passage holds every number and name the answer sentence states (a paraphrase keeps
   them; "Toyota recalled 2.9 million cars" is not supported by a sentence about Ford recalling
   2.9 million, however similar the two sound). A sentence joining two passages ("The two banks
   that limited financing were ICBC and Bank of China": what they did in one passage, their
   names in another) is supported by the pair when the first passage's sentence says the same,
   holds its numbers and names no one it does not, and a sentence of the second, sharing a term
   with it, holds the names the first lacks; it cites both. Citations of passages that do not
   support the sentence are dropped; a sentence that cites nothing, or only passages that do not
   support it, gets the marker of the passage that supports it best (post-hoc citation: how
   answers from a small model, which rarely cites right, get theirs); a sentence no passage
   supports keeps its markers and is listed in `unsupported`. A sentence repeating an earlier
   one, or a last fragment that restarts one (a model stopped while looping), is dropped, and so
   is the unfinished last sentence of an answer cut at the writer's length limit. Sentences
   that claim nothing are not checked: a bare list number, a short lead-in, a question or a
   line ending in ":" that states no number or name beyond the question's.
3. Citations are exactly the passages the final text cites, renumbered 1..n in order of first use,
   each with the passage sentence that supports it (`quote`, at passage.text[start:end]).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .bm25 import terms
from .embeddings import SentenceEmbeddings
from .sentences import sentence_spans
from .types import Citation, Passage

_MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")

SIMILARITY_SUPPORT = 0.62  # cosine of MiniLM vectors above which two sentences say the same
LEXICAL_SUPPORT = 0.7  # share of the sentence's terms found in one passage sentence
MIN_CLAIM_TERMS = 3  # shorter sentences ("Here is what I found.") without numbers or names are framing


@dataclass
class _Claim:
    text: str  # the sentence without markers
    cited: list[int] = field(default_factory=list)  # passage indices (0-based), in order
    support: dict[int, tuple[float, int, int]] = field(default_factory=dict)  # passage -> (score, start, end)
    #: passage that says the same but lacks some numbers or names -> (score, start, end) there, and
    #: the passage holding the rest with its sentence that holds most of them: (passage, start, end)
    joint: dict[int, tuple[tuple[float, int, int], tuple[int, int, int]]] = field(default_factory=dict)


@dataclass
class CheckedAnswer:
    text: str
    citations: list[Citation]
    unsupported: list[str]


def _split_claims(text: str, count: int) -> list[_Claim]:
    """Answer sentences with the valid passage numbers each cites; markers right after a sentence's
    period ("... rose. [2]") belong to the sentence before."""
    claims: list[_Claim] = []
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        leading = _LEADING_MARKERS.match(sentence)
        if leading and claims and not claims[-1].text.endswith(":"):
            claims[-1].cited.extend(_numbers(leading.group(0), count))
            sentence = sentence[leading.end() :]
        cited = _numbers(sentence, count)
        plain = _SPACE_BEFORE_PUNCT.sub(r"\1", _MARKER.sub("", sentence)).strip()
        if plain:
            claims.append(_Claim(plain, cited))
    for claim in claims:
        claim.cited = list(dict.fromkeys(claim.cited))
    return claims


def _numbers(text: str, count: int) -> list[int]:
    found = []
    for match in _MARKER.finditer(text):
        for number in re.split(r"\s*[,;]\s*", match.group(1)):
            if number.isdigit() and 1 <= int(number) <= count:
                found.append(int(number) - 1)
    return found


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w%$.]", " ", text.lower()).split()).rstrip(". ")


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"(?<![\w'’])[A-Z][\w'’&.-]*")
_ACRONYM_DOT = re.compile(r"(?<=\b[A-Za-z])\.(?=[A-Za-z]\.|\s|$)")
#: "Passage 2", "source [1]", "Passages:": how models refer to the passages; neither a name nor a number.
_PASSAGE_REFERENCE = re.compile(r"\b(?:passages?|sources?|documents?)\b(?:\s*\[?\d+\]?)?", re.I)
_FIRST_PERSON = re.compile(r"I(?:['’](?:m|ve|d|ll))?")
_CLOSING = ".!?\"'”’)"
_ENUMERATOR = re.compile(r"\(?(?:\d{1,3}|[a-zA-Z])[.)]")  # "1." "2)" "(a)" alone
_POSSESSIVE = re.compile(r"['’]s\b", re.I)
#: Capitalised only because they open a sentence, besides stop words.
_OPENERS = frozenset(
    """however overall yes according also therefore additionally furthermore moreover meanwhile today
    yesterday currently finally here answer based unfortunately sorry instead still thus question
    which what who whom whose when where why how did does do is are was were can could will would
    sure okay ok certainly well so first second next then note""".split()
)


def _common(word: str) -> bool:
    plain = _POSSESSIVE.sub("", word).lower().strip(".")
    return plain in _OPENERS or not terms(plain)  # terms() drops stop words


def _numbers_in(text: str) -> set[str]:
    """Numbers as digits: thousands separators dropped, "5.00" == "5"."""
    found = set()
    for match in _NUMBER.findall(text):
        number = match.replace(",", "")
        if "." in number:
            number = number.rstrip("0").rstrip(".")
        found.add(number)
    return found


def _words_in(text: str) -> set[str]:
    """Lower-cased words, "U.S." as "us", possessives dropped."""
    return set(re.findall(r"\w+", _POSSESSIVE.sub("", _ACRONYM_DOT.sub("", text)).lower()))


@dataclass(frozen=True)
class Facts:
    """The numbers and names (capitalised words) a sentence states, which a passage supporting it
    must hold too."""

    numbers: frozenset[str]
    names: frozenset[str]

    @classmethod
    def of_claim(cls, sentence: str) -> Facts:
        """A capitalised first word is a name unless it is a common word ("The", "However"); "I"
        and references to the passages ("Passage 2") are not facts."""
        sentence = _PASSAGE_REFERENCE.sub(" ", sentence).strip()
        first = re.search(r"\w", sentence)
        names = [
            match.group(0)
            for match in _NAME.finditer(sentence)
            if (first is None or match.start() != first.start() or not _common(match.group(0)))
            and not _FIRST_PERSON.fullmatch(match.group(0))
        ]
        return cls(frozenset(_numbers_in(sentence)), frozenset(_words_in(" ".join(names))))

    @classmethod
    def of_passage(cls, text: str) -> Facts:
        return cls(frozenset(_numbers_in(text)), frozenset(_words_in(text)))

    def within(self, passage: Facts) -> bool:
        return self.numbers <= passage.numbers and self.names <= passage.names


def _drop_repeats(claims: list[_Claim]) -> list[_Claim]:
    """Claims without repeats: a sentence said before (alone or inside a longer one), or a last
    fragment (no final stop) that is the start of an earlier sentence, which is what a looping
    model leaves when it is stopped."""
    kept: list[_Claim] = []
    seen: list[str] = []
    for position, claim in enumerate(claims):
        plain = _normal(claim.text)
        unfinished = position == len(claims) - 1 and claim.text[-1] not in _CLOSING
        repeated = plain in seen or (len(plain.split()) >= 4 and any(plain in earlier for earlier in seen))
        if plain and (repeated or (unfinished and any(plain in earlier for earlier in seen))):
            continue
        kept.append(claim)
        seen.append(plain)
    return kept


class CitationChecker:
    """Checks answers against passages with the embedding model (one batch per answer)."""

    def __init__(self, embeddings: SentenceEmbeddings) -> None:
        self.embeddings = embeddings

    def check(
        self, text: str, passages: Sequence[Passage], question: str = "", cut_off: bool = False
    ) -> CheckedAnswer:
        """`question`: what was asked (a sentence echoing it claims nothing); `cut_off`: the
        writer stopped at its length limit, so an unfinished last sentence is dropped when a
        claim precedes it."""
        asked = Facts.of_passage(question)  # every word of it: an echo may start mid-sentence
        claims = _drop_repeats(_split_claims(text, len(passages)))
        if cut_off:
            claims = self._without_cut_claim(claims, asked)
        spans = [sentence_spans(passage.text) for passage in passages]
        needs_vectors = [claim for claim in claims if not self._verbatim(claim, passages, spans)]
        if needs_vectors:
            self._score_by_meaning(needs_vectors, passages, spans)
        unsupported: list[str] = []
        for claim in claims:
            if not claim.cited and self._framing(claim.text, asked):
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
    def _cite_pair(claim: _Claim) -> list[int]:
        """The best pair of passages that together support a sentence neither supports alone."""
        best = max(claim.joint, key=lambda index: claim.joint[index][0][0])
        found, (other, start, end) = claim.joint[best]
        claim.support[best] = found
        claim.support[other] = (found[0], start, end)
        return [best, other]

    @classmethod
    def _without_cut_claim(cls, claims: list[_Claim], asked: Facts) -> list[_Claim]:
        """Claims without an unfinished last one (and the bare list numbers left before it), if
        one that claims something remains."""
        if not claims or claims[-1].text.endswith(tuple(_CLOSING)):
            return claims
        kept = claims[:-1]
        while kept and _ENUMERATOR.fullmatch(kept[-1].text):
            kept.pop()
        if any(not cls._framing(claim.text, asked) for claim in kept):
            return kept
        return claims

    @staticmethod
    def _framing(sentence: str, asked: Facts = Facts(frozenset(), frozenset())) -> bool:
        """Sentences that claim nothing: a list's bare "1."; "Here is what I found." (few terms,
        no number or name); a question or a lead-in ending in ":" that states no number and no
        name besides the question's (a small model often repeats the question). "The answer is:
        2." or "Did Honda recall 7 million cars?" state something, so they are checked."""
        if _ENUMERATOR.fullmatch(sentence):
            return True
        facts = Facts.of_claim(sentence)
        if sentence.endswith(("?", ":")):
            return not facts.numbers - asked.numbers and not facts.names - asked.names
        return len(set(terms(sentence))) < MIN_CLAIM_TERMS and not facts.numbers and not facts.names

    @staticmethod
    def _verbatim(claim: _Claim, passages: Sequence[Passage], spans: Sequence[list[tuple[int, int]]]) -> bool:
        """Fast path (the extractive backend, quoting models): the sentence is a passage sentence."""
        wanted = _normal(claim.text)
        if not wanted:
            return True
        order = claim.cited + [index for index in range(len(passages)) if index not in claim.cited]
        for index in order:
            for start, end in spans[index]:
                if _normal(passages[index].text[start:end]) == wanted:
                    claim.support[index] = (1.0, start, end)
                    return True
        return False

    def _score_by_meaning(
        self, claims: Sequence[_Claim], passages: Sequence[Passage], spans: Sequence[list[tuple[int, int]]]
    ) -> None:
        flat = [(index, start, end) for index, passage_spans in enumerate(spans) for start, end in passage_spans]
        sentences = [passages[i].text[s:e] for i, s, e in flat]
        vectors = self.embeddings.embed_array([claim.text for claim in claims] + sentences)
        claim_vectors, sentence_vectors = vectors[: len(claims)], vectors[len(claims) :]
        similarity = claim_vectors @ sentence_vectors.T if len(flat) else np.zeros((len(claims), 0))
        sentence_terms = [set(terms(sentence)) for sentence in sentences]
        #: (passage, start, end), terms, words of each sentence: where a pair's partner is looked for
        candidates = [
            (place, held, _words_in(sentence))
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
    def _renumber(claims: Sequence[_Claim], passages: Sequence[Passage], unsupported: list[str]) -> CheckedAnswer:
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
