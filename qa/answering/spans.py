"""Spans of one kind in a sentence, verbatim: names (a list of them as one), numbers with their
unit, dates, words in quotation marks. `short_answer` chooses among them for a question.

A capital that only opens a sentence ("Crews searched ..."), a caption's label ("Pictured:") or
a dateline ("WASHINGTON (AP) —") names nothing; a name keeps the article the sentence gives it
("the Tony Awards"), a number its unit and rate ("$22 an hour").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..text.lexicon import lexicon

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
DATE = re.compile(
    rf"\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b"
    rf"|\b\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?\b"
    rf"|\b{_MONTH}\s+\d{{4}}\b"
    rf"|\b{_WEEKDAY}\b"
    r"|\b(?:1[5-9]|20)\d\d\b"
)
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozen|twenty|thirty|forty|fifty|hundred|half)"
)
_SCALE = r"(?:\s?(?:%|percent|per cent|million|billion|trillion|thousand|hundred|bn)\b|%)?"
NUMBER = re.compile(
    rf"(?:[$£€¥]\s?)?\d[\d,]*(?:\.\d+)?{_SCALE}"
    rf"|\b{_NUMBER_WORD}(?:[- ]{_NUMBER_WORD})*(?:\s(?:million|billion|thousand|hundred|percent))?\b",
    re.IGNORECASE,
)
# The unit after a number ("12,000 tonnes", "4 million euros"): one lower-case word that is not
# a function word or a verb form.
_UNIT = re.compile(r"\s([a-z]{3,})\b")
_NOT_UNITS = frozenset(
    "the and but for from with than that this which who was were are has have had per into over under about "
    "after before since until while more less also not its their his her our a an of to in on at by as or".split()
)
_CAPITALISED = r"[A-ZÀ-Ý][\w'’.\-]*"
_NAME = re.compile(rf"{_CAPITALISED}(?:\s+(?:(?:of|the|de|del|la|los|las|von|van|and|&|for)\s+)*{_CAPITALISED})*")
# Capitalised words that are not names by themselves (sentence openers, pronouns, bylines).
NOT_NAMES = frozenset(
    "the a an he she it they we i you in on at but and or this that these those his her their its our my as if "
    "when while after before for with by from to of there here what which who where why how whose whom "
    "mr mrs ms dr so yet also according "
    "however meanwhile now then still since some many most more one all no not last next new first cnn reuters "
    "ap getty images afp two three four five six seven eight nine ten "
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june july august "
    "september october november december".split()
)
_CONTRACTIONS = frozenset("they're we're you're i'm he's she's it's that's there's let's".split())
# Of those, words that open a longer name ("New York", "First Lady Jill Biden") and stay in it.
_NAME_OPENERS = frozenset("new first last next".split())

# Words in quotation marks: a title ("Squid Game") or what was said. Up to 12 words, opening with
# a capital or a digit.
_QUOTED = re.compile(r"[“\"]([A-Z0-9][^“”\"]{0,80}?)[”\"]")


@dataclass(frozen=True)
class Span:
    """sentence[start:end] == text."""

    start: int
    end: int
    text: str


LIST_SPLIT = re.compile(r",\s*(?:(?:and|or)\s+)?|\s+(?:and|or)\s+")
_LIST_GLUE = re.compile(r"^(?:,\s*|,?\s+(?:and|or)\s+)(?:the\s+)?$")


def _joined(sentence: str, spans: list[Span]) -> list[Span]:
    """Names listed together ("China, India and the UAE") as one span: a list answers "which
    countries"."""
    out: list[Span] = []
    for span in spans:
        if out and _LIST_GLUE.match(sentence[out[-1].end : span.start]):
            out[-1] = Span(out[-1].start, span.end, sentence[out[-1].start : span.end])
        else:
            out.append(span)
    return out


def name_spans(sentence: str) -> list[Span]:
    found = []
    for match in _NAME.finditer(sentence):
        words = match.group(0).split()
        while words and words[0].lower().strip(".,") in NOT_NAMES:
            if words[0].lower() in _NAME_OPENERS and len(words) > 1 and words[1].lower() not in NOT_NAMES:
                break
            words = words[1:]
        opener = len(words) > 1 and words[0].lower() in _NAME_OPENERS
        if (
            words
            and not opener
            and _opens_sentence(sentence, match.start())
            and (_is_common_word(words[0]) if len(words) == 1 else _is_function_word(words[0]))
        ):
            # "Crews searched ...": capitalised only because it opens the sentence ("United
            # Airlines" keeps its first word: only a function word leaves a longer name)
            words = words[1:]
        while words and words[-1].lower().strip(".,") in NOT_NAMES:
            words = words[:-1]
        if not words:
            continue
        text = " ".join(words).rstrip(".,’'")
        start = sentence.find(text, match.start())
        if text and start >= 0 and not _is_label(sentence, start, start + len(text)):
            found.append(Span(start, start + len(text), text))
    return _joined(sentence, found)


_LABEL_END = re.compile(r"\s*(?::|\([A-Z]+\)\s*[—–-]|[—–]|--)")


def _is_label(sentence: str, start: int, end: int) -> bool:
    """A caption's or dateline's label opening the sentence ("Pictured:", "WASHINGTON (AP) —"),
    not a name it tells of."""
    return _opens_sentence(sentence, start) and (
        bool(_LABEL_END.match(sentence, end)) and (sentence[start:end].isupper() or ":" in sentence[end : end + 2])
    )


def _opens_sentence(sentence: str, start: int) -> bool:
    return not sentence[:start].strip(" \"“‘'(")


def _is_function_word(word: str) -> bool:
    """ "Under", "They're": never part of a name. ("United Airlines" keeps its adjective.)"""
    plain = word.lower().strip(".,’'")
    return re.split(r"[’']", plain)[0] in NOT_NAMES or plain in _CONTRACTIONS


def _is_common_word(word: str) -> bool:
    """A word whose capital says nothing at the start of a sentence: a function word ("Under",
    "They're"), an inflected form ("Crews", "Demonstrators") or an adjective or adverb WordNet
    knows ("High"), unless WordNet knows it as a name. A noun as written ("Apple", "Twitter")
    may be a name and stays."""
    if _is_function_word(word):
        return True
    plain = word.lower().strip(".,’'")
    if not plain.isalpha():
        return False
    found = lexicon()
    if not found.has_wordnet or found.is_proper_noun(plain):
        return False
    classes = found.parts_of_speech(plain)
    inflected = any(base != plain for base in found.bases(plain)) and "n" not in classes
    return inflected or bool(classes) and classes <= {"a", "r"}


def pattern_spans(sentence: str, patterns: tuple[re.Pattern[str], ...]) -> list[Span]:
    found = []
    for pattern in patterns:
        for match in pattern.finditer(sentence):
            text = match.group(0).strip().rstrip(",")  # "60, 70": the list's comma is not the number's
            if text:
                start = sentence.find(text, match.start())
                found.append(Span(start, start + len(text), text))
    return sorted(found, key=lambda span: span.start)


_RATE = re.compile(r"\s(?:an?|per|each)\s[a-z]{3,}\b")  # "$22 an hour", "$8 per month"


def with_unit(sentence: str, span: Span) -> Span:
    end = span.end
    match = _UNIT.match(sentence, end)
    if (
        match is not None
        and not span.text.endswith("%")
        and match.group(1) not in _NOT_UNITS
        and not match.group(1).endswith(("ed", "ing", "ly"))
    ):
        end = match.end()
    rate = _RATE.match(sentence, end)
    if rate is not None:
        end = rate.end()
    return Span(span.start, end, sentence[span.start : end])


def quoted_spans(sentence: str) -> list[Span]:
    """Words in quotation marks, the marks included (“Squid Game”)."""
    return [
        Span(match.start(), match.end(), match.group(0))
        for match in _QUOTED.finditer(sentence)
        if len(match.group(1).split()) <= 12
    ]


def with_article(sentence: str, span: Span) -> Span:
    """A name the sentence writes with its article keeps it ("the Tony Awards", "the Denver
    Broncos"): quiz answers often include it."""
    before = sentence[max(0, span.start - 4) : span.start]
    if before.lower() == "the " and (span.start == 4 or not sentence[span.start - 5].isalnum()):
        return Span(span.start - 4, span.end, sentence[span.start - 4 : span.end])
    return span


def overlap(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end
