"""Who did what: the names and numbers an answer sentence ties to what it says must be tied the
same way in the passage, not merely be somewhere in it.

Both sentences are cut into clauses (at ";", ", and", "but", "while", "whereas", and at "and"
before a name that starts a new statement: "Russia vetoed the resolution and China abstained").
Each clause of the claim that names someone or states a number is set beside the evidence clause
that shares most of its other words. When that clause lacks one of the claim's names and names
someone the claim does not (the same for numbers), the claim swapped a role ("China vetoed" over
"Russia vetoed ... and China abstained"): contradicted. When the claim's name is in no clause of
the evidence sentence, nor in the sentences just before it (which a pronoun there may refer to) or
the title, the passage does not tie it to this: unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ...text.sentences import sentence_spans
from ...text.terms import terms
from .claims import Evidence, Finding
from .facts import Facts, words_in
from .quantities import values_in
from .wording import Wording

_BREAK = re.compile(
    r"\s*(?:;|:|\s[-–—]\s|,\s*(?:and|but|while|whereas|although|though|as|which|who|after|before|when|because)\b|"
    r"\s(?:but|while|whereas|although|though|because)\s)\s*",
    re.I,
)
_AND_NAME = re.compile(r"\s(?:and|or)\s(?=[A-Z])")
_SLOT = 3  # words between a name and the word it stands beside
MIN_SHARED = 0.5  # share of a claim clause's words the evidence clause it is set beside must hold


def clauses(text: str) -> list[str]:
    """`text` cut into sentences and those into clauses; a piece stating nothing but names ("ICBC"
    in "ICBC and Bank of China are restricting ...") stays with the piece after it."""
    return [clause for start, end in sentence_spans(text) for clause in _clauses(text[start:end])]


def _clauses(sentence: str) -> list[str]:
    pieces = [piece for part in _BREAK.split(sentence) for piece in _AND_NAME.split(part) if piece.strip()]
    merged: list[str] = []
    carry = ""
    for piece in pieces:
        piece = (carry + " and " + piece) if carry else piece
        if not _words(piece):
            carry = piece
            continue
        merged.append(piece)
        carry = ""
    if carry:
        if merged:
            merged[-1] += " and " + carry
        else:
            merged.append(carry)
    return merged


def _words(clause: str) -> set[str]:
    """The clause's terms besides its names and numbers."""
    facts = Facts.of_claim(clause)
    return set(terms(clause)) - set(terms(" ".join(facts.names))) - {term for term in terms(clause) if term.isdigit()}


def _plain(clause: str) -> set[str]:
    """The clause's terms besides its numbers, names included."""
    return {term for term in terms(clause) if not term.isdigit()}


def with_places(words: set[str] | frozenset[str], behind: Callable[[str], frozenset[str]]) -> set[str]:
    """`words` with the names their adjectives come from ("chinese" adds china)."""
    return set(words) | {part for word in words for place in behind(word) for part in words_in(place)}


def _names(clause: str, passage_names: frozenset[str]) -> frozenset[str]:
    """Capitalised words away from a sentence's start, and at its start those the passage also
    writes capitalised mid-sentence ("Late on Friday" is no name; "China" is)."""
    wording = Wording(clause)
    found = [word.text for word in wording.words if word.name or (word.position == 0 and word.text in passage_names)]
    return frozenset(words_in(" ".join(found)))


def passage_names(text: str) -> frozenset[str]:
    """The words a passage writes capitalised away from a sentence's start."""
    return frozenset(words_in(" ".join(word.text for word in Wording(text).words if word.name)))


def role_conflict(
    claim: str,
    evidence: Evidence,
    asked: frozenset[str],
    proper: Callable[[str], bool] = lambda word: False,
    behind: Callable[[str], frozenset[str]] = lambda word: frozenset(),
) -> Finding | None:
    """`proper`: whether a word is known as a name (the lexicon's `is_proper_noun`); `behind`:
    the names an adjective comes from (`names_behind`: "Russian" holds Russia)."""
    # a capitalised word opening a sentence is a name when the passage or the claim writes it so
    # mid-sentence, or when it is known as one ("China vetoed" over "Moscow also vetoed")
    known = evidence.passage_names | passage_names(claim)
    openers = [Wording(piece).words[:1] for piece in clauses(claim) + clauses(evidence.window)]
    known |= frozenset(words[0].text for words in openers if words and proper(words[0].text))
    claim_names = frozenset().union(*(_names(piece, known) for piece in clauses(claim)))
    claim_numbers = values_in(claim)
    # a clause's capitalised common nouns count as shared words ("President Xi" / "the president")
    found_clauses = [(clause, _plain(clause), set(terms(clause))) for clause in clauses(evidence.window)]
    window_names = _names(evidence.window, known) | passage_names(evidence.window)
    for piece in clauses(claim):
        names = _names(piece, known)
        numbers = values_in(piece)
        words = _words(piece)
        if not (names or numbers) or not words or not found_clauses:
            continue
        every = set(terms(piece))
        # most shared words; of those, the clause most like it as a whole (names included)
        clause, shared, _ = max(
            found_clauses, key=lambda item: (len(item[1] & words), len(item[2] & every) / len(item[2] | every))
        )
        if len(shared & words) < max(1.0, MIN_SHARED * len(words)):
            continue
        held_names = frozenset(with_places(_names(clause, known), behind))
        missing = names - held_names
        # a name of the question in the passage's place is a swap too; a word the claim writes
        # in lower case ("president") is no other name
        extra = held_names - claim_names - words_in(piece)
        if missing and extra and _same_slot(piece, clause, missing, extra, titles=bool(names & held_names)):
            return Finding("contradicted", f"the passage says '{_short(clause)}'")
        missing_numbers = numbers - values_in(clause)
        if missing_numbers and values_in(clause) - claim_numbers:
            return Finding("contradicted", f"the passage says '{_short(clause)}'")
        if _swapped(piece, clause, names, held_names):
            return Finding("contradicted", f"the passage says '{_short(clause)}'")
        elsewhere = missing - window_names - words_in(evidence.before) - asked
        if elsewhere:
            return Finding("unsupported", f"the passage does not say this of {sorted(elsewhere)[0].title()}")
    return None


def _same_slot(piece: str, clause: str, missing: frozenset[str], extra: frozenset[str], titles: bool = False) -> bool:
    """Whether a name of the claim the clause lacks and a name of the clause the claim lacks stand
    in the same place: next to a word both share, on the same side ("*China* vetoed" / "*Russia*
    vetoed"). A paraphrase naming things differently elsewhere in the clause ("the US national
    park ... was Yellowstone" over "Yellowstone National Park officials assessed") is no swap.
    `titles`: the two share a name, so a title one capitalises ("Russian President Vladimir
    Putin" / "Putin is the president of China") is a word both share; without a shared name
    the title may be another person's ("Russian President Vladimir Putin" / "Xi Jinping is the
    president of China")."""
    said, found = Wording(piece), Wording(clause)
    if any(word.text == "by" for word in said.words + found.words):
        return False  # a passive turns sides around ("shown by NASA")

    def places(wording: Wording, wanted: frozenset[str]) -> list[float]:
        """Where the wanted names stand; "the president of Russia" puts Russia where "the Russian
        president" does, before the noun it belongs to."""
        words = wording.words
        return [
            (
                word.position - 2.5
                if word.position >= 2 and words[word.position - 1].text.lower() == "of"
                else word.position
            )
            for word in words
            if (word.name or word.position == 0) and words_in(word.text) & wanted  # "national park" is no name
        ]

    def anchors(wording: Wording, lower: frozenset[str]) -> dict[str, list[int]]:
        """Words that are no name, and a title one side capitalises where the other does not
        ("President Xi" / "the president")."""
        found_at: dict[str, list[int]] = {}
        for word in wording.words:
            stems = terms(word.text)
            if stems and (not word.name or word.text.lower() in lower) and not word.text.isdigit():
                found_at.setdefault(stems[0], []).append(word.position)
        return found_at

    def lower_words(wording: Wording) -> frozenset[str]:
        return frozenset(word.text for word in wording.words if word.text.islower())

    claim_anchors, clause_anchors = (
        anchors(said, lower_words(found) if titles else frozenset()),
        anchors(found, lower_words(said) if titles else frozenset()),
    )
    claim_places, clause_places = places(said, missing), places(found, extra)
    for stem in claim_anchors.keys() & clause_anchors.keys():
        for at in claim_anchors[stem]:
            sides = {(name > at) for name in claim_places if 0 < abs(name - at) <= _SLOT}
            for other in clause_anchors[stem]:
                if any((name > other) in sides for name in clause_places if 0 < abs(name - other) <= _SLOT):
                    return True
    return False


def _swapped(piece: str, clause: str, names: frozenset[str], held: frozenset[str]) -> bool:
    """Whether two names trade places around a word both clauses share ("Russia abstained ...
    condemning China's invasion" over "China abstained ... condemning Russia's invasion"). A
    passive ("... was invaded by Russia") turns sides around, so a clause with "by" is left alone."""
    said, found = Wording(piece), Wording(clause)
    if any(word.text == "by" for word in said.words + found.words):
        return False
    both = names & held
    if len(both) < 2:
        return False

    def sides(wording: Wording) -> dict[str, tuple[set[str], set[str]]]:
        positions = {name: [w.position for w in wording.words if words_in(w.text) & {name}] for name in both}
        anchors: dict[str, tuple[set[str], set[str]]] = {}
        for word in wording.words:
            stems = terms(word.text)
            if word.name or not stems or stems[0] in anchors:
                continue
            left = {name for name, found_at in positions.items() if found_at and found_at[0] < word.position}
            right = {name for name, found_at in positions.items() if found_at and found_at[0] > word.position}
            anchors[stems[0]] = (left, right)
        return anchors

    claim_sides, found_sides = sides(said), sides(found)
    for anchor in claim_sides.keys() & found_sides.keys():
        (claim_left, claim_right), (found_left, found_right) = claim_sides[anchor], found_sides[anchor]
        if claim_left & found_right and claim_right & found_left:
            return True
    return False


def _short(clause: str, most: int = 12) -> str:
    words = clause.strip(" ,;:").split()
    return " ".join(words[:most]) + (" ..." if len(words) > most else "")
