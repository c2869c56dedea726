"""A claim as models write it: several facts in one sentence, in words of their own.

"X has denied all allegations, and a jury found X liable" joins two sentences of a passage, not
always neighbours; "The agency is pausing more than a dozen notices" says "suspend" in other
words; "about 30%" rounds 29.6%. When no passage sentence supports a claim as a whole, the claim
is cut into its facts (at ";", ", and", ", which", ", while", a participle after a comma, ...)
and each fact is looked for on its own in the passages (the cited ones first): a sentence, read
with its neighbours, that
- holds the fact's names (or the passage's title or the sentences before it do) and its numbers,
  a number rounded the way models round ("about 30%" for 29.6%, "$1.2 billion" for 1,203 million),
- accounts for most of its words (as written, a base form, a WordNet synonym or derived form; a
  word of the question counts as said), the fact's meaning close to the sentence's,
- and does not disagree with it: no negation, opposite, hedge, unit or role that differs
  (`agreement.conflict`; the check that every word is found is the one relaxed here).
Every fact found: the claim is supported, citing the passages its facts came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ...text.lexicon import Lexicon
from ...text.terms import terms
from ...types import Passage
from ..sentence_vectors import Vectors
from .agreement import conflict
from .claims import Claim, Evidence, Finding, without_framing
from .facts import Facts, words_in
from .quantities import Quantity, quantities
from .roles import passage_names
from .wording import Wording

_BREAK = re.compile(
    r"\s*(?:;(?:\s*(?:and|but)\b)?|\s[-–—]\s|,\s*(?:and|but|while|whereas|although|though|which|who|where|when|after|before|because|"
    r"since|with|including|as well as|so|yet|plus)\b|,\s+(?=[a-z]+ing\b)|\s(?:but|whereas|although|though)\s)\s*",
    re.I,
)
MIN_FACT_TERMS = 2  # a piece with fewer content terms joins the fact before it
UNCOVERED_SHARE = 0.34  # of a fact's words, at most this share may be said in other words
FACT_SIMILARITY = 0.5  # cosine of a fact with the sentence that states it, when words differ
ROUNDING = Decimal("0.05")  # a rounded number within 5% of the passage's
_HEDGED = re.compile(
    r"\b(?:about|around|approximately|roughly|nearly|almost|some|over|more than|less than|fewer than|under|"
    r"up to|at least|close to|just over|just under|an estimated|estimated|~)\s*$",
    re.I,
)


def split_facts(claim: str) -> list[str]:
    """The facts of a claim: its clauses, each with at least `MIN_FACT_TERMS` terms."""
    facts: list[str] = []
    for piece in _BREAK.split(claim):
        piece = piece.strip(" ,.")
        if not piece:
            continue
        if facts and len(set(terms(piece))) < MIN_FACT_TERMS:
            facts[-1] += ", " + piece
        else:
            facts.append(piece)
    if len(facts) > 1 and len(set(terms(facts[0]))) < MIN_FACT_TERMS:
        facts[1] = facts[0] + ", " + facts[1]
        facts.pop(0)
    return facts or [claim]


def _value(quantity: Quantity) -> Decimal | None:
    try:
        return Decimal(quantity.value)
    except InvalidOperation:
        return None


def _significant(number: str) -> int:
    digits = number.replace(".", "").lstrip("0").rstrip("0")
    return len(digits) or 1


def numbers_held(fact: str, window: str) -> bool:
    """Every number of the fact is in the window, exactly or rounded as models round: a hedged
    ("about", "more than") or rounder number (fewer significant digits) within 5%, in the same unit."""
    found = quantities(window)
    for stated in quantities(fact):
        if any(stated.agrees_with(other) for other in found):
            continue
        value = _value(stated)
        at = fact.find(stated.text)
        hedged = at >= 0 and bool(_HEDGED.search(fact[:at]))
        close = False
        for other in found:
            known = _value(other)
            if (
                value is None
                or known is None
                or not known
                or (stated.unit and other.unit and stated.unit != other.unit)
            ):
                continue
            rounder = _significant(stated.number) < _significant(other.number)
            if (hedged or rounder) and abs(value - known) <= ROUNDING * abs(known):
                close = True
                break
        if not close:
            return False
    return True


@dataclass(frozen=True)
class Place:
    """A passage sentence: passage index, its span, and its text with neighbours and context."""

    passage: int
    start: int
    end: int
    evidence: Evidence
    terms: frozenset[str]
    words: frozenset[str]  # where a fact's names are looked for (`place_words`)
    window_bases: frozenset[str]
    sentence_bases: frozenset[str]  # where a widening word must be (not in a neighbour)


#: Verbs that report or frame rather than assert ("X said", "put the average at", "gave no
#: estimate"): a model's choice among them is wording, not a claim.
_REPORTING = frozenset(
    """say tell report note add state describe call claim put give make take show find reveal
    indicate suggest estimate announce explain write mention cite according record list rate count
    see have get keep reach set hold mark remain become""".split()
)
#: Words that widen or narrow a claim: they must be the passage's own (an overgeneralisation
#: swaps "most" for "all", "one of the" for "the first").
_STRICT = frozenset(
    """all every always never none only first last largest biggest smallest most least entire entirely
    completely solely exclusively any sole single whole fully totally""".split()
)


#: An asserted verb said in other words passes when the fact means what the sentence means this
#: closely (MiniLM cosine) and nothing else of the fact is missing.
PARAPHRASE_SIMILARITY = 0.75
_FLOATING_ALL = re.compile(
    r"\b(?:are|were|is|was|they|them|we|us|these|those)\s+all\b|\ball\s+(?:\d|of\b|part\b)", re.I
)


def covered(fact: str, place: Place, lexicon: Lexicon, asked: frozenset[str], cosine: float = 0.0) -> float:
    """The share of the fact's content words the place accounts for (a question word counts); 0
    when a word that decides the claim is missing: a widening word (`_STRICT`) or an asserted verb
    that is neither reporting nor one step from one of the place's words in WordNet."""
    names = Facts.of_claim(fact).names
    content = [
        word
        for word in re.findall(r"[a-z]+", fact.lower())
        if word not in names and (terms(word) or word in _STRICT) and not word.isdigit()
    ]
    if not content:
        return 1.0
    asked_terms = set(terms(" ".join(asked)))
    floating = bool(_FLOATING_ALL.search(fact))  # "are all part of", "all 30 members": not "all" of a kind
    paraphrased = 0
    found = 0
    for word in content:
        if word == "all" and floating:
            found += 1
            continue
        stems = set(terms(word))
        bases = lexicon.bases(word)
        if word in _STRICT:
            if not bases & place.sentence_bases:
                return 0.0
            found += 1
        elif stems & place.terms or stems & asked_terms or bases & place.window_bases:
            found += 1
        elif lexicon.related(word) & place.window_bases:
            found += 1
        elif lexicon.is_verb_form(word) or any(base in _REPORTING for base in bases):
            if not (bases & _REPORTING or lexicon.near(word) & place.window_bases):
                if cosine < PARAPHRASE_SIMILARITY or lexicon.changes_amount(word):
                    return 0.0
                paraphrased += 1
            found += 1
    if paraphrased and found < len(content):
        return 0.0  # a verb in other words, and something else missing too
    return found / len(content)


def _names_held(named: frozenset[str], place: Place) -> bool:
    """The fact's names are in the place's sentence (`Place.words`), or some are and the rest in
    its neighbours ("Jackson ... takes the seat Breyer held": Breyer is in the next sentence)."""
    return named <= place.words


#: A sentence this close to a fact (MiniLM cosine) that contradicts it outweighs any support
#: found further away: an answer sentence reworded from it ("approved" for "rejected").
CONTRADICTION_SIMILARITY = 0.6


def _denies(denied: Sequence[frozenset[str]], place: Place, lexicon: Lexicon) -> bool:
    """Each word the fact negates is negated in the place's sentence too."""
    found = Wording(place.evidence.sentence)
    negated = [lexicon.bases(found.words[head].text) for head in found.negated]
    return all(any(bases & other for other in negated) for bases in denied)


def fact_support(
    fact: str,
    places: Sequence[Place],
    similarity: Sequence[float],
    lexicon: Lexicon,
    asked: frozenset[str],
    conflict: Callable[[str, Evidence], Finding | None],
) -> tuple[float, Place] | None:
    """The place that states `fact` best (`similarity`: the fact's cosine with each place), or None."""
    named = fact_names(fact, lexicon) - asked
    # who did it, when the fact opens with people ("Mothers showed ...", "Physicians reported"):
    # the sentence's own word (its base or a synonym), not a neighbour's (the wrong person)
    opener = re.match(r"\W*([A-Za-z]+)\b", fact)
    who = opener.group(1).lower() if opener else ""
    subject = lexicon.related(who) if who and terms(who) and lexicon.is_a(who, "person") else frozenset()
    said = Wording(fact)
    denied = [lexicon.bases(said.words[head].text) for head in said.negated]
    best: tuple[float, Place] | None = None
    for place, cosine in sorted(zip(places, similarity, strict=True), key=lambda item: -item[1]):
        if best is not None and cosine + 1.0 <= best[0]:
            break
        if not _names_held(named, place) or not numbers_held(fact, place.evidence.window):
            continue
        found = conflict(fact, place.evidence)
        if found is not None:
            if found.verdict == "contradicted" and best is None and cosine >= CONTRADICTION_SIMILARITY:
                return None  # the sentence closest to the fact says otherwise
            continue
        if subject and not subject & place.sentence_bases:
            continue
        share = covered(fact, place, lexicon, asked, cosine)
        if share < 1.0 - UNCOVERED_SHARE or (share < 1.0 and cosine < FACT_SIMILARITY):
            continue
        if denied and not _denies(denied, place, lexicon):
            continue  # a fact that denies something needs a sentence that denies the same
        score = cosine + share
        if best is None or score > best[0]:
            best = (score, place)
    return best


_PRONOUN_START = re.compile(
    r"^\W*(?:he|she|they|it|its|his|her|their|this|these|the (?:company|group|agency|firm|study))\b", re.I
)


_CAPITALISED_RUN = re.compile(r"\b[A-Z][a-z]+(?:\s+(?:of\s+|for\s+|and\s+)?[A-Z][a-z]+)+")


def acronyms(text: str) -> set[str]:
    """ "World Health Organization" -> who, "Environmental Protection Agency" -> epa: a model
    writes the short form of a name the passage spells out."""
    runs = [re.sub(r"^(?:The|A|An)\s+", "", run) for run in _CAPITALISED_RUN.findall(text)]
    return {"".join(word[0] for word in run.split() if word[0].isupper()).lower() for run in runs}


def place_words(sentence: str, title: str, before: str, lexicon: Lexicon) -> frozenset[str]:
    """The words a fact's names must be among: the sentence's and the title's, and the sentences
    before it when it opens with a pronoun ("She ..."), with the names their adjectives come from
    ("Bulgarian": Bulgaria) and the acronyms of names spelled out. Not its neighbours': a name one
    sentence away is someone else's role as often as not (the right fact given to the wrong person)."""
    text = sentence + "\n" + title
    if _PRONOUN_START.match(sentence):
        text += "\n" + before
    found = words_in(text)
    return frozenset(
        found
        | acronyms(text)
        | {part for word in found for name in lexicon.names_behind(word) for part in words_in(name)}
    )


def fact_names(fact: str, lexicon: Lexicon) -> frozenset[str]:
    """The names a fact states: capitalised words, but not a first word capitalised only because
    the fact opens the sentence ("His remarks", "Officials said"): one WordNet does not know as a
    name and no capitalised word follows ("Mack Rutherford" stays)."""
    names = set(Facts.of_claim(fact).names)
    first = re.match(r"\W*([A-Z][\w'’.-]*)(\s+[A-Z])?", fact)
    if first is not None and first.group(2) is None and not lexicon.is_proper_noun(first.group(1)):
        names -= words_in(first.group(1))
    return frozenset(names)


def evidence_at(passage: Passage, spans: Sequence[tuple[int, int]], position: int, names: frozenset[str]) -> Evidence:
    """Sentence `position` of the passage, the window of it and its neighbours, and what comes
    before it (with the title)."""
    start, end = spans[position]
    first, last = spans[max(0, position - 1)][0], spans[min(len(spans) - 1, position + 1)][1]
    before = passage.title + "\n" + passage.text[spans[max(0, position - 2)][0] : start]
    return Evidence(passage.text[start:end], passage.text[first:last], before, names)


def places_of(passages: Sequence[Passage], spans: Sequence[list[tuple[int, int]]], lexicon: Lexicon) -> list[Place]:
    """Every sentence of the passages as a place a fact may be found."""
    found = []
    for index, passage in enumerate(passages):
        names = passage_names(passage.text)
        for position, (start, end) in enumerate(spans[index]):
            evidence = evidence_at(passage, spans[index], position, names)
            window_words = re.findall(r"[a-z]+", evidence.window.lower())
            sentence_words = re.findall(r"[a-z]+", evidence.sentence.lower())
            found.append(
                Place(
                    index,
                    start,
                    end,
                    evidence,
                    frozenset(terms(evidence.window)),
                    place_words(evidence.sentence, passage.title, evidence.before, lexicon),
                    frozenset().union(*(lexicon.bases(word) for word in window_words)),
                    frozenset().union(*(lexicon.bases(word) for word in sentence_words)),
                )
            )
    return found


def support_by_facts(
    claims: Sequence[Claim],
    passages: Sequence[Passage],
    places: Sequence[Place],
    embeddings: Vectors,
    sentences: Vectors,
    lexicon: Lexicon,
    asked: frozenset[str],
) -> None:
    """Claims no passage sentence supports as a whole, cut into their facts, each looked for on
    its own (the passages the writer cited first): a claim whose every fact is found is
    supported, citing the passages its facts came from; the others are left as they were."""
    for claim in claims:
        claim.cited = []
    if not places:
        return
    facts = [split_facts(without_framing(claim.text)) for claim in claims]
    fact_vectors = embeddings.embed_array([fact for claim_facts in facts for fact in claim_facts])
    place_vectors = sentences.embed_array([passages[place.passage].text[place.start : place.end] for place in places])
    similarity = fact_vectors @ place_vectors.T

    def conflict_of(fact: str, evidence: Evidence) -> Finding | None:
        return conflict(fact, evidence, lexicon, asked)

    row = 0
    for claim, claim_facts in zip(claims, facts, strict=True):
        rows = range(row, row + len(claim_facts))
        row += len(claim_facts)
        if any(finding.verdict == "contradicted" for _, finding in claim.conflicts.values()):
            continue  # a passage sentence like the whole claim says otherwise: that stands
        own = [position for position, place in enumerate(places) if place.passage in claim.cited_before]
        found: list[tuple[float, Place]] = []
        for fact, fact_row in zip(claim_facts, rows, strict=True):
            scores = [float(value) for value in similarity[fact_row]]
            best = None
            if own:
                best = fact_support(
                    fact, [places[i] for i in own], [scores[i] for i in own], lexicon, asked, conflict_of
                )
            best = best or fact_support(fact, places, scores, lexicon, asked, conflict_of)
            if best is None:
                break
            found.append(best)
        if len(found) != len(claim_facts):
            continue
        claim.cited = list(dict.fromkeys(place.passage for _, place in found))
        for score, place in found:
            claim.support.setdefault(place.passage, (min(score / 2, 1.0), place.start, place.end))
        claim.verdict, claim.reason, claim.evidence = "supported", "", None
