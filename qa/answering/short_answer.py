"""The answer first: the shortest verbatim span of a sentence that answers a specific question.

"Which two Chinese banks restricted financing?" asks for names, "How much ...?" for a number
with its unit, "When ...?" for a date. `asked_kind` reads that from the part of the question that
ends in "?" (quiz questions open with context); `answer_spans` finds the spans of that kind in a
sentence that the question does not already say. Of those, one that WordNet files under the noun
asked for ("which country" -> "Philippines", not "Luzon") comes first, then one that names it
("which banks" -> "Bank of China"). The span is the sentence's own characters, so the short
answer is as checked as the sentence it comes from.

A title asked for ("which show") prefers words in quotation marks ("“Squid Game”"), a number
the kind asked for (money for "how much does it cost", a time for "how long", the counted noun
for "how many people"), a date a year where one is asked ("since:"); a statement to complete
("... special assistant to:") asks for a name, "what did he say?" for a quotation.

Questions that ask for a judgement ("true or false", "all of these except") or a description
("what did ... do?") have no span: `short` is None for them. Measured on rtqa-dev in
benchmarks/README.md ("Answers first").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Literal

from ..text.lexicon import lexicon
from .spans import (
    DATE,
    LIST_SPLIT,
    NOT_NAMES,
    NUMBER,
    Span,
    name_spans,
    overlap,
    pattern_spans,
    quoted_spans,
    with_article,
    with_unit,
)

Kind = Literal["name", "number", "date", "quote"]

#: The words that make a sentence a question (as `terms` spells them): no answer holds them.
QUESTION_TERMS = frozenset("what which who whom whose when where why how".split())

# A model's first line longer than this is not a short answer.
SHORT_WORDS = 12


_ASKS_JUDGEMENT = re.compile(r"\b(true or false|except|all of these|none of these)\b", re.IGNORECASE)
_ASKS_DATE = re.compile(
    r"\b(when|how soon|what (year|day|month|date)|which (year|day|month|date))\b|\b(since|until|in|on):\s*$",
    re.IGNORECASE,
)
_ASKS_NUMBER = re.compile(
    r"\b(how (many|much|long|old|far|often|large|big|high|tall|fast)"
    r"|(what|which) (\w+ )?(percent|percentage|share|number|amount|age|proportion|price|rate|fee|sum|figure)"
    r"|what is the (number|percentage|share|amount|cost|price))\b",
    re.IGNORECASE,
)
_ASKS_NAME = re.compile(
    r"\b(who|whom|whose|which|where|name)\b"
    r"|\bwhat (\w+ )?(company|country|city|state|team|name|brand|show|movie|film|animal|product|app|title|group|"
    r"organi[sz]ation|party|agency|place|nation|island|river|band|song|album|book|sport|league|airline|network|"
    r"platform|website|university|school|event|award|word|park|region|continent|county|province|disease|virus|"
    r"holiday|genre|player|singer|actor|artist|author|is it called|is the name)\b"
    r"|\b(titled|called|named)\?"
    # a statement to complete: "... was a former special assistant to:", "... previously held by:"
    r"|\b(to|by|from|for|of|with|as|at|is|was|were|are|became|becomes|against|than|named|called):\s*$",
    re.IGNORECASE,
)
_ASKS_QUOTE = re.compile(
    r"\bwhat (did|does|do|was|is|were) (\w+ ){0,4}"
    r"(say|said|tweet|write|post|call|declare|announce|read|written|printed)\b",
    re.IGNORECASE,
)
# What a question asks for that is a work known by its title.
_WORKS = frozenset(
    "show series movie film album song book title play musical novel single record documentary podcast episode "
    "game slogan phrase sitcom drama".split()
)
_ASKS_TITLE = re.compile(r"\b(titled|called|named)\b", re.IGNORECASE)

# Where one sentence of a question ends and the next starts (not inside "2.9 million" or "U.S.").
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"'”’)]*\s+(?=[\"“‘'(]?[A-Z0-9])")
_WORDS = re.compile(r"\w+")


def _plain(text: str) -> str:
    return " " + " ".join(_WORDS.findall(text.lower())) + " "


# Words before a period that end no sentence ("Roe v. Wade", "Gov. Newsom", "U.S. Senate").
_ABBREVIATION = re.compile(
    r"(?:\b[A-Za-z]|\b(?:v|vs|Mr|Mrs|Ms|Dr|Gov|Sen|Rep|St|Jr|Sr|Gen|Lt|Col|Sgt|Prof|No|Inc|Corp|Co|Jan|Feb|"
    r"Aug|Sept|Oct|Nov|Dec))\.[\"'”’)]*$"
)


def _question_sentences(question: str) -> list[str]:
    parts: list[str] = []
    for part in _SENTENCE_BREAK.split(question):
        if parts and _ABBREVIATION.search(parts[-1]):
            parts[-1] += " " + part
        else:
            parts.append(part)
    return parts


def _asked_part(question: str) -> str:
    """The part of a question that ends in "?" (quiz questions open with context)."""
    asked = [part for part in _question_sentences(question) if "?" in part]
    return asked[-1] if asked else question


def asked_kind(question: str) -> Kind | None:
    """What a question asks for, or None when no single span can answer it."""
    if _ASKS_JUDGEMENT.search(question):
        return None
    part = _asked_part(question)
    if _ASKS_DATE.search(part):
        return "date"
    if _ASKS_NUMBER.search(part):
        return "number"
    if _ASKS_NAME.search(part):
        return "name"
    if _ASKS_QUOTE.search(part):
        return "quote"
    return None


def answer_spans(question: str, sentence: str, kind: Kind | None = None) -> list[Span]:
    """Spans of `sentence` of the kind the question asks for that the question does not already
    contain, in reading order."""
    kind = kind or asked_kind(question)
    if kind is None:
        return []
    if kind == "name":
        spans = name_spans(sentence)
        if _asks_for_title(question):
            quoted = quoted_spans(sentence)
            spans = quoted + [span for span in spans if not any(overlap(span, other) for other in quoted)]
    elif kind == "quote":
        spans = quoted_spans(sentence)
    elif kind == "date":
        spans = pattern_spans(sentence, (DATE, NUMBER))
    else:
        spans = [with_unit(sentence, span) for span in pattern_spans(sentence, (NUMBER,))]
    said = _plain(question)
    kept = [span for span in spans if _plain(span.text).strip() and _plain(span.text) not in said]
    return [with_article(sentence, span) if kind == "name" else span for span in kept]


def _asks_for_title(question: str) -> bool:
    """ "Which show ...", "what is it titled?": the answer is a title, often in quotation marks."""
    phrase = _asked_phrase(question)
    return bool(phrase and phrase[-1].rstrip("s") in _WORKS) or bool(_ASKS_TITLE.search(_asked_part(question)))


def _stems(text: str) -> set[str]:
    return {word[:-1] if word.endswith("s") and len(word) > 3 else word for word in _WORDS.findall(text.lower())}


_AUXILIARIES = frozenset(
    "is are was were be been will would did does do has have had can could may might should shall must "
    "to that who which recently this last".split()
)
_ASKED_WORDS = re.compile(r"\b(?:which|what|whose)\s+((?:[\w-]+\s+){0,4}[\w-]+)", re.IGNORECASE)


def _asked_phrase(question: str) -> list[str]:
    """The words of what a question asks for, up to its verb: "which two Chinese banks restricted"
    -> two, chinese, banks; "which state flooded" -> state; "which country was" -> country."""
    match = _ASKED_WORDS.search(_asked_part(question))
    if match is None:
        return []
    found = lexicon()
    phrase: list[str] = []
    for word in match.group(1).lower().split():
        if word in _AUXILIARIES or found.is_verb_form(word) and not found.is_plural_noun(word):
            break
        phrase.append(word)
    return phrase


def _asked_noun(phrase: list[str]) -> set[str]:
    """The base forms of the phrase's last word, the noun asked for: bank, state, country."""
    return set(lexicon().bases(phrase[-1])) - NOT_NAMES if phrase else set()


def _asks_for_several(phrase: list[str]) -> bool:
    """ "Which countries ...", "which two banks ...": a list answers best."""
    if not phrase:
        return False
    return lexicon().is_plural_noun(phrase[-1]) or any(word in _NUMBER_WORDS for word in phrase[:-1])


_NUMBER_WORDS = frozenset("two three four five six seven eight nine ten several".split())


def _is_asked_thing(span: Span, nouns: set[str]) -> bool:
    """Whether WordNet files the span under the asked noun ("Philippines" for "which country");
    a word WordNet knows as an adjective ("British") names no thing."""
    if not nouns:
        return False
    found = lexicon()
    for part in LIST_SPLIT.split(span.text):  # "China, India and the UAE": any of them
        name = re.sub(r"^the\s+|['’]s$", "", part.strip(), flags=re.IGNORECASE)  # "Virginia's rivers"
        if " " not in name and "a" in found.parts_of_speech(name.lower()):
            continue
        if any(found.is_a(name, noun) for noun in nouns):
            return True
    return False


_MONEY = re.compile(r"^[$£€¥]|\b(dollars?|euros?|pounds?|yuan|yen|rupees?|cents?|bn)\b", re.IGNORECASE)
_ASKS_MONEY = re.compile(
    r"\bhow much\b.*\b(cost|costs|pay|paid|spend|spent|raise|raised|fetch|sell|sold|worth|charge|earn|earned|"
    r"fine|fined|owe|budget|fund|loan|forgiveness|salary|wage|bid|offer|receive|get|price)"
    r"|\b(price|cost|fee|sum|salary|wage)\b",
    re.IGNORECASE,
)
_ASKS_SHARE = re.compile(r"\b(percent|percentage|share|proportion|fraction)\b", re.IGNORECASE)
_PERCENT = re.compile(r"%|\bper ?cent\b", re.IGNORECASE)
_TIME_UNITS = frozenset("second minute hour day week month year decade".split())
_YEAR = re.compile(r"\b(?:1[5-9]|20)\d\d\b")
_HOW_MANY = re.compile(r"\bhow many ([\w-]+)", re.IGNORECASE)


def _number_rank(question: str) -> Callable[[Span], int]:
    """0 for a number of what is asked for: money for "how much does it cost" ("$5 million"), a
    time for "how long" ("20 years"), the counted noun for "how many people" ("1,000 people"); 3
    for a bare year, which counts nothing; 2 for any other."""
    part = _asked_part(question)
    money = bool(_ASKS_MONEY.search(part))
    share = bool(_ASKS_SHARE.search(part))
    how_long = bool(re.search(r"\bhow long\b", part, re.IGNORECASE))
    counted = _HOW_MANY.search(part)
    counted_stems = _stems(counted.group(1)) if counted else set()

    def rank(span: Span) -> int:
        words = _stems(span.text)
        if (
            money
            and _MONEY.search(span.text)
            or how_long
            and words & _TIME_UNITS
            or words & counted_stems
            or share
            and _PERCENT.search(span.text)
        ):
            return 0
        return 3 if _YEAR.fullmatch(span.text) else 2

    return rank


def _date_rank(question: str) -> Callable[[Span], int]:
    """0 for a date with its year ("June 27, 2022"), or a bare year where one is asked for ("what
    year", "since:"); 1 for another date or a bare year; 2 for a weekday or a bare number."""
    wants_year = bool(re.search(r"\byear\b|\bsince:\s*$", _asked_part(question), re.IGNORECASE))

    def rank(span: Span) -> int:
        if _YEAR.search(span.text):
            return 0 if wants_year or _YEAR.fullmatch(span.text) is None else 1
        return 1 if re.search(r"\d", span.text) and re.search(r"[A-Za-z]", span.text) else 2

    return rank


def _rank(question: str) -> Callable[[Span], int]:
    """For a name: 0 for a span WordNet files under the asked noun (a list of them when the
    question asks for several) or a quoted title where a title is asked for, 1 for a single one
    where several were asked for, 2 for one that names the noun ("Bank of China" for "which
    banks"), 3 for any other. Numbers and dates: `_number_rank`, `_date_rank`."""
    kind = asked_kind(question)
    if kind == "number":
        return _number_rank(question)
    if kind == "date":
        return _date_rank(question)
    phrase = _asked_phrase(question)
    nouns = _asked_noun(phrase)
    plural = _asks_for_several(phrase)
    heads = {noun.rstrip("s") for noun in nouns}  # the asked noun, not its modifiers ("football team")
    title = _asks_for_title(question)

    def rank(span: Span) -> int:
        several = bool(LIST_SPLIT.search(span.text))
        if title and span.text[:1] in '“"':
            return 0
        if _is_asked_thing(span, nouns):
            return 0 if several or not plural else 1
        return 2 if _stems(span.text) & heads else 3

    return rank


def short_answer(question: str, sentence: str) -> Span | None:
    """The span of `sentence` that answers `question`: one WordNet knows as the asked thing
    ("which country" -> "Philippines"), else one that names it ("which banks" -> "Bank of China",
    "which park" -> "Yosemite National Park"), else the first (the sentence leads with its answer
    more often than not on rtqa-dev)."""
    found = answering_sentence(question, [sentence])
    return found[1] if found else None


def answering_sentence(question: str, sentences: Sequence[str]) -> tuple[int, Span] | None:
    """Which of the answer's sentences (best first) the short answer comes from, and its span: the
    best span by the order of `_rank`, the first of equal rank (the question is read once)."""
    found = _ranked_spans(question, sentences)
    return min(found, key=lambda item: item[2])[:2] if found else None  # min keeps the first of equal rank


def _ranked_spans(question: str, sentences: Sequence[str]) -> list[tuple[int, Span, int]]:
    kind = asked_kind(question)
    if kind is None:
        return []
    rank = _rank(question)
    return [
        (index, span, rank(span))
        for index, sentence in enumerate(sentences)
        for span in answer_spans(question, sentence, kind)
    ]


#: A short answer is shown from this confidence up: the share of the question's (IDF-weighted)
#: terms its sentence holds, plus `_RANK_BONUS` for a span of the asked sort. On rtqa-dev 0.8
#: shows it for 7% of the questions with the gold answer in 0.82 of them; shown whenever a span
#: was found, 75% with 0.25 (benchmarks/README.md, "The bold answer only when sure").
SHOWN_FROM = 0.8
_RANK_BONUS = {0: 0.2, 1: 0.1, 2: 0.1}
_COUNT_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "both": 2}
_SAME_SORT_MARGIN = 0.1  # a rival span's sentence this close in coverage makes the answer unsure


def asked_count(question: str) -> int | None:
    """How many things a question asks for: "which two banks" -> 2; None when it does not say."""
    phrase = _asked_phrase(question)
    return next((_COUNT_WORDS[word] for word in phrase[:-1] if word in _COUNT_WORDS), None)


def confident_answer(
    question: str, sentences: Sequence[str], coverage: Sequence[float], boilerplate: Sequence[bool]
) -> tuple[int, Span] | None:
    """The short answer when it is right with high confidence, else None. `sentences`: the
    answer's sentences, best first; `coverage`: the share of the question's weighted terms each
    holds (is it about the question's subject?); `boilerplate`: which are captions, bylines or
    links (`text.boilerplate`), never a source of the answer.

    Shown only when the span is of the kind and number asked ("which two banks": a list of two),
    its sentence is about the subject (`SHOWN_FROM`), and no other sentence of the answer, about
    the subject as much, gives a different span of the same sort (the passages disagree)."""
    found = [item for item in _ranked_spans(question, sentences) if not boilerplate[item[0]]]
    count = asked_count(question)
    if count is not None:  # as many names as asked for are of the asked sort; fewer or more, not
        found = [(index, span, 0) for index, span, _ in found if len(LIST_SPLIT.split(span.text)) == count]
    if not found:
        return None
    index, span, rank = min(found, key=lambda item: item[2])

    if asked_kind(question) == "number" and _YEAR.fullmatch(span.text):
        return None  # a bare year counts nothing
    if coverage[index] + _RANK_BONUS.get(rank, 0.0) < SHOWN_FROM:
        return None
    said = _plain(span.text)
    for other, rival, other_rank in found:
        if other != index and other_rank <= rank and coverage[other] >= coverage[index] - _SAME_SORT_MARGIN:
            plain = _plain(rival.text)
            if plain not in said and said not in plain:
                return None
    return index, span
