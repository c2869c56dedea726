"""Whether a passage that talks about what an answer sentence says also agrees with it.

Similar meaning is not support: "The auction has not raised $53 million" is as close to "The
auction has raised $53 million" as a sentence gets. The passage's evidence (the sentence most like
the claim, with its neighbours, since a claim may join two of them) disagrees with the claim when
- it does not account for the claim's words: a word the claim asserts (an inflected verb such as
  "vetoed") or more than a quarter of its words are found there neither as written, nor in a base
  form, nor as a WordNet synonym or derived form ("bought" / "purchased", "abstained" /
  "abstention"): *unsupported*;
- polarity differs: the claim negates a word the evidence states, or the other way round
  ("not", "never", "failed to", "denied" ...): *contradicted*;
- a word of the claim is the opposite of its counterpart in the evidence (the two share a
  neighbouring word: "shares *rose*" / "shares *fell*"), unless one of the two is negated ("did not
  win" agrees with "lost"): *contradicted*;
- the evidence hedges what the claim states as done ("may", "plans to", "is expected to",
  "would"): *contradicted*, since the passage says it is not (yet) so;
- a number agrees in digits but not in scale or unit ("2.9 billion" / "2.9 million", "30 points" /
  "30%"): *contradicted*;
- the names and numbers the claim ties to its verb are tied otherwise (see `roles`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ...text.lexicon import Lexicon
from ...text.terms import terms
from .claims import Evidence, Finding, without_framing
from .facts import words_in
from .quantities import quantities, values_in
from .roles import clauses, role_conflict, with_places
from .wording import Word, Wording

#: Words never compared for opposites or coverage.
_FUNCTION = frozenset(
    "the a an of to in on at by and or is are was were be been being has have had it its this that these those "
    "he she they we his her their our as from with than then there which who whom what when where while also "
    "do does did done doing will would can could may might shall should must not no never".split()
)
_CONTEXT = 3  # words each side in which an opposite's counterpart must share a neighbour
#: Verbs that assert little of their own ("the launch occurred at ..."): not held to being found.
_LIGHT_VERBS = frozenset("occur happen include involve take become remain feature contain come go get".split())
UNCOVERED_SHARE = 0.25  # of the claim's words, at most this share may be absent from the evidence


@dataclass(frozen=True)
class _Reading:
    """A claim and its evidence as the checks below read them (built once per pair)."""

    said: Wording  # the claim
    found: Wording  # the evidence sentence
    window: Wording  # the sentence with its neighbours
    claim_bases: list[frozenset[str]]
    found_bases: list[frozenset[str]]
    window_bases: list[frozenset[str]]
    lexicon: Lexicon


def disagreement(
    claim: str, evidence: Evidence, lexicon: Lexicon, asked: frozenset[str] = frozenset()
) -> Finding | None:
    """Why `evidence` does not support `claim`, or None when it does. `asked`: the words of the
    question (a claim repeating its names ties nothing)."""
    return _disagreement(claim, evidence, lexicon, asked, every_word=True)


def conflict(claim: str, evidence: Evidence, lexicon: Lexicon, asked: frozenset[str] = frozenset()) -> Finding | None:
    """`disagreement` without the demand that every word be found as written or as a synonym: for
    one fact of a claim said in other words (`decomposed`), whose words `decomposed.covered` weighs.
    Polarity, opposites, hedges and units are read as strictly; of roles, only a name swapped with
    another of the sentence's counts (where the name is at all, the caller read)."""
    return _disagreement(claim, evidence, lexicon, asked, every_word=False)


def _disagreement(
    claim: str, evidence: Evidence, lexicon: Lexicon, asked: frozenset[str], every_word: bool
) -> Finding | None:
    claim = without_framing(claim)
    said = Wording(claim)
    if not any(_content(word) for word in said.words):
        return _bare_answer(claim, evidence, asked, lexicon)
    # Polarity, opposites and hedges are read in the sentence itself: a neighbour's "not" or
    # "could" is about something else. Coverage and roles take the window (a claim may join two).
    found = Wording(evidence.sentence)
    window = Wording(evidence.window)
    reading = _Reading(
        said,
        found,
        window,
        [lexicon.bases(word.text) for word in said.words],
        [lexicon.bases(word.text) for word in found.words],
        [lexicon.bases(word.text) for word in window.words],
        lexicon,
    )
    role = role_conflict(claim, evidence, asked, lexicon.is_proper_noun, lexicon.names_behind)
    if not every_word and role is not None and role.verdict != "contradicted":
        role = None
    return (
        _quantities(claim, evidence.window)
        or _polarity(reading)
        or _opposites(reading)
        or _hedges(reading)
        or role
        or (_uncovered(reading, asked) if every_word else None)
    )


def _bare_answer(claim: str, evidence: Evidence, asked: frozenset[str], lexicon: Lexicon) -> Finding | None:
    """A claim of names and numbers only ("The answer is: 2020.", "The President of China is Xi
    Jinping."): it says something only together with the question, so the evidence sentence must
    hold it and be about the question (two of the question's terms). A claim that also names what
    was asked must find all of it in one clause: "Chinese President Xi Jinping, right, and Russian
    President Vladimir Putin" makes Xi Jinping, not Putin, president of China. An adjective
    stands for the name it comes from ("Chinese": China)."""
    sentence = evidence.sentence
    stated = {word for word in words_in(claim) if word not in _FUNCTION}
    question_terms = set(terms(" ".join(asked)))
    if not stated or len(question_terms & set(terms(" ".join(_held(sentence, lexicon))))) < 2:
        return _NOT_THE_ANSWER
    if stated & asked:
        if any(stated <= _held(clause, lexicon) for clause in clauses(sentence)):
            return None
    elif stated <= _held(sentence, lexicon):
        return None
    return _NOT_THE_ANSWER


_NOT_THE_ANSWER = Finding("unsupported", "the passage does not give this as the answer")


def _held(text: str, lexicon: Lexicon) -> set[str]:
    """The words and numbers of `text`, with the names its adjectives come from."""
    return with_places(words_in(text), lexicon.names_behind) | values_in(text)


def _content(word: Word) -> bool:
    return word.text.isalpha() and not word.name and word.text not in _FUNCTION and bool(terms(word.text))


def _uncovered(reading: _Reading, asked: frozenset[str]) -> Finding | None:
    """Words of the question count as accounted for: "The retailer that lowered its prices is
    Sheetz" repeats what was asked, and claims only the name."""
    said, found, lexicon = reading.said, reading.window, reading.lexicon
    claim_bases, found_bases = reading.claim_bases, reading.window_bases
    present = frozenset().union(*found_bases) if found_bases else frozenset()
    stems = set(terms(found.sentence))
    asked_bases = frozenset().union(*(lexicon.bases(word) for word in asked)) if asked else frozenset()
    content = [
        word
        for word in said.words
        if _content(word) and not (claim_bases[word.position] & asked_bases and not lexicon.is_verb_form(word.text))
    ]  # a verb stays held to the passage even if asked about: "Did China veto ...?" / "China vetoed ..."
    missing = [
        word
        for word in content
        if not (claim_bases[word.position] & present)
        and not (set(terms(word.text)) & stems)
        and not (lexicon.related(word.text) & present)
    ]
    asserted = [
        word for word in missing if lexicon.is_verb_form(word.text) and not (claim_bases[word.position] & _LIGHT_VERBS)
    ]
    if asserted or len(missing) > UNCOVERED_SHARE * len(content):
        shown = (asserted or missing)[0].text
        return Finding("unsupported", f"the passage does not say '{shown}'")
    return None


def _polarity(reading: _Reading) -> Finding | None:
    """A negation on one side that the other does not share about the same word. The claim's
    negation must be the passage's too: a passage that says nothing negative about the word
    does not support "did not remove" (unless it states the opposite: "did not win" / "lost")."""
    said, found, window, lexicon = reading.said, reading.found, reading.window, reading.lexicon
    claim_bases, found_bases = reading.claim_bases, reading.found_bases
    for head in said.negated:
        matches = [word.position for word in found.words if found_bases[word.position] & claim_bases[head]]
        negated_there = [position for position in matches if position in found.negated]
        if matches and not negated_there:
            return Finding("contradicted", f"the passage says '{found.quote(matches[0])}'")
        if not matches:
            # the claim's negation must be the passage's too (in the window: a claim may join two
            # sentences), or the passage must state the opposite ("did not win" / "lost")
            word = said.words[head].text
            if window.negated or any(lexicon.are_opposites(word, other.text) for other in window.words):
                continue
            return Finding("unsupported", f"the passage does not say '{said.quote(said.negated[head], 0, 1)}'")
    for head, cue in found.negated.items():
        matches = [word.position for word in said.words if claim_bases[word.position] & found_bases[head]]
        plain_here = [position for position in matches if position not in said.negated]
        plain_there = [  # in the window: a claim joining two sentences may take the word from the other
            word.position
            for word in window.words
            if lexicon.bases(word.text) & found_bases[head] and word.position not in window.negated
        ]
        if len(plain_here) > len(plain_there):
            return Finding("contradicted", f"the passage says '{found.quote(cue, 1, head - cue + 1)}'")
    return None


def _opposites(reading: _Reading) -> Finding | None:
    said, found, lexicon = reading.said, reading.found, reading.lexicon
    claim_bases, found_bases = reading.claim_bases, reading.found_bases
    in_found = frozenset().union(*found_bases) if found_bases else frozenset()
    claim_counts = Counter(word.text for word in said.words)
    found_counts = Counter(word.text for word in found.words)
    # a word of the passage is unmatched when the claim lacks it, or has it fewer times ("more
    # than one in five ... charging fewer than $5" over "... charging more than $5")
    unmatched_found = [
        word
        for word in found.words
        if word.text.isalpha()
        and not word.name
        and word.text not in _FUNCTION
        and (
            not any(found_bases[word.position] & bases for bases in claim_bases)
            or found_counts[word.text] > claim_counts[word.text]
        )
    ]
    for word in said.words:
        if not word.text.isalpha() or word.name or word.text in _FUNCTION:
            continue
        if claim_bases[word.position] & in_found and claim_counts[word.text] <= found_counts[word.text]:
            continue
        for other in unmatched_found:
            if not lexicon.are_opposites(word.text, other.text):
                continue
            if not _share_neighbour(said, word.position, claim_bases, found, other.position, found_bases):
                continue
            if (word.position in said.negated) != (other.position in found.negated):
                continue  # "did not win" / "lost": two flips agree
            return Finding("contradicted", f"the passage says '{found.quote(other.position)}'")
    return None


def _share_neighbour(
    said: Wording,
    at: int,
    claim_bases: Sequence[frozenset[str]],
    found: Wording,
    other: int,
    found_bases: Sequence[frozenset[str]],
) -> bool:
    def around(wording: Wording, position: int, bases: Sequence[frozenset[str]]) -> set[str]:
        near: set[str] = set()
        for index in range(max(0, position - _CONTEXT), min(len(wording.words), position + _CONTEXT + 1)):
            word = wording.words[index]
            if index != position and word.text not in _FUNCTION and word.text not in (",", ";", ":"):
                near |= bases[index]
        return near

    return bool(around(said, at, claim_bases) & around(found, other, found_bases))


def _hedges(reading: _Reading) -> Finding | None:
    """A word the passage hedges that the claim states plainly, more often than the passage
    states it plainly ("cut back ... to drive" is not flagged by "which could drive" beside it)."""
    said, found, window, lexicon = reading.said, reading.found, reading.window, reading.lexicon
    claim_bases, found_bases = reading.claim_bases, reading.found_bases
    for head, cue in found.hedged.items():
        plain_here = [
            word.position
            for word in said.words
            if claim_bases[word.position] & found_bases[head] and not said.hedges_before(word.position)
        ]
        plain_there = [  # in the window, as for polarity
            word.position
            for word in window.words
            if lexicon.bases(word.text) & found_bases[head] and not window.hedges_before(word.position)
        ]
        if len(plain_here) > len(plain_there):
            return Finding("contradicted", f"the passage says only '{found.quote(cue, 1, head - cue + 1)}'")
    return None


def _quantities(claim: str, window: str) -> Finding | None:
    found = quantities(window)
    for stated in quantities(claim):
        same = [other for other in found if other.number == stated.number]
        if any(other.value == stated.value and other.unit == stated.unit for other in same):
            continue  # said exactly so
        conflicting = [
            other
            for other in same
            if other.value != stated.value or (other.unit and stated.unit and other.unit != stated.unit)
        ]
        if conflicting:  # "€5" over "$5" (even if "five" is there too), "2.9 billion" over "2.9 million"
            return Finding("contradicted", f"the passage says '{conflicting[0].text}'")
    return None
