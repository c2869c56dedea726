"""An answer cut into claims: its sentences with the passages each cites, without repeats, the
unfinished end of a cut-off answer, or sentences that claim nothing (framing)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from ...text import markers
from ...text.sentences import sentence_spans
from ...text.terms import terms
from .facts import NO_FACTS, Facts

_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")
CLOSING = ".!?\"'”’)"
_ENUMERATOR = re.compile(r"\(?(?:\d{1,3}|[a-zA-Z])[.)]")  # "1." "2)" "(a)" alone
Verdict = Literal["supported", "contradicted", "unsupported"]
#: How answers introduce what the passages say ("According to the documents, ..."): not a claim.
_SOURCES = (
    r"(?:the )?(?:documents?|passages?|sources?|articles?|reports?|texts?|context|information(?: provided)?)"
    r"(?: \[?\d+\]?)?"
)
FRAMING = re.compile(
    rf"^(?:according to {_SOURCES}|based on {_SOURCES}|as {_SOURCES} (?:says?|states?|shows?|notes?)|"
    rf"{_SOURCES}(?: \[?\d+\]?)? (?:says?|states?|shows?|indicates?|mentions?|reports?|suggests?|notes?)(?: that)?|"
    rf"in {_SOURCES}|i (?:think|believe)|it (?:seems|appears)(?: that)?|"
    r"(?:the |my )?(?:short )?answer(?: to (?:the|this|your) question)? is\b)\s*[,:]?\s*",
    re.I,
)
MIN_CLAIM_TERMS = 3  # shorter sentences ("Here is what I found.") without numbers or names are framing


@dataclass(frozen=True)
class Finding:
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class Evidence:
    """Where a claim is checked: the sentence most like it, with its neighbours (`window`), and
    what the rest of the passage says about names (for `roles`)."""

    sentence: str
    window: str
    before: str  # the sentences before the window's sentence (a pronoun's antecedent) and the title
    passage_names: frozenset[str]


@dataclass
class Claim:
    """One answer sentence, the passages it cites, and where the check found support for it."""

    text: str  # the sentence without markers
    cited: list[int] = field(default_factory=list)  # passage indices (0-based), in order
    support: dict[int, tuple[float, int, int]] = field(default_factory=dict)  # passage -> (score, start, end)
    #: passage that says the same but lacks some numbers or names -> (score, start, end) there, and
    #: the passage holding the rest with its sentence that holds most of them: (passage, start, end)
    joint: dict[int, tuple[tuple[float, int, int], tuple[int, int, int]]] = field(default_factory=dict)
    #: passage that talks about the claim but disagrees -> ((score, start, end), why)
    conflicts: dict[int, tuple[tuple[float, int, int], Finding]] = field(default_factory=dict)
    verdict: Verdict | None = "supported"  # None: the sentence claims nothing (framing)
    reason: str = ""
    evidence: tuple[int, int, int] | None = None  # (passage, start, end) the verdict rests on
    cited_before: list[int] = field(default_factory=list)  # what the writer cited, before the check

    def note_conflict(self, index: int, place: tuple[float, int, int], finding: Finding) -> None:
        """Keep, per passage, the disagreement of its sentence most like the claim; a contradiction
        outranks a mere lack of support."""
        known = self.conflicts.get(index)
        rank = (finding.verdict == "contradicted", place[0])
        if known is None or rank > (known[1].verdict == "contradicted", known[0][0]):
            self.conflicts[index] = (place, finding)


def split_claims(text: str, count: int) -> list[Claim]:
    """Answer sentences with the valid passage numbers each cites; markers right after a sentence's
    period ("... rose. [2]") belong to the sentence before."""
    claims: list[Claim] = []
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        leading = markers.LEADING_MARKERS.match(sentence)
        if leading and claims and not claims[-1].text.endswith(":"):
            claims[-1].cited.extend(_indices(leading.group(0), count))
            sentence = sentence[leading.end() :]
        cited = _indices(sentence, count)
        plain = _SPACE_BEFORE_PUNCT.sub(r"\1", markers.strip_markers(sentence)).strip()
        if plain:
            claims.append(Claim(plain, cited))
    for claim in claims:
        claim.cited = list(dict.fromkeys(claim.cited))
    return claims


def _indices(text: str, count: int) -> list[int]:
    """The 0-based passage indices the markers in `text` cite, those of missing passages left out."""
    return [number - 1 for number in markers.cited_numbers(text) if 1 <= number <= count]


def without_framing(text: str) -> str:
    """The claim an answer sentence makes, without the words introducing it."""
    stripped = text
    for _ in range(3):  # "Based on the passages, I think ..."
        stripped = FRAMING.sub("", stripped, count=1)
    return stripped[:1].upper() + stripped[1:] if stripped != text and stripped else text


def normal(text: str) -> str:
    """A sentence as compared for repeats and verbatim quotes: lower case, punctuation spaced."""
    return " ".join(re.sub(r"[^\w%$.]", " ", text.lower()).split()).rstrip(". ")


def drop_repeats(claims: list[Claim]) -> list[Claim]:
    """Claims without repeats: a sentence said before (alone or inside a longer one), or a last
    fragment (no final stop) that is the start of an earlier sentence, which is what a looping
    model leaves when it is stopped."""
    kept: list[Claim] = []
    seen: list[str] = []
    for position, claim in enumerate(claims):
        plain = normal(claim.text)
        unfinished = position == len(claims) - 1 and claim.text[-1] not in CLOSING
        repeated = plain in seen or (len(plain.split()) >= 4 and any(plain in earlier for earlier in seen))
        if plain and (repeated or (unfinished and any(plain in earlier for earlier in seen))):
            continue
        kept.append(claim)
        seen.append(plain)
    return kept


def without_cut_claim(claims: list[Claim], asked: Facts) -> list[Claim]:
    """Claims without an unfinished last one (and the bare list numbers left before it), if
    one that claims something remains."""
    if not claims or claims[-1].text.endswith(tuple(CLOSING)):
        return claims
    kept = claims[:-1]
    while kept and _ENUMERATOR.fullmatch(kept[-1].text):
        kept.pop()
    if any(not is_framing(claim.text, asked) for claim in kept):
        return kept
    return claims


def is_framing(sentence: str, asked: Facts = NO_FACTS) -> bool:
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
