"""Sentence boundaries with character offsets, so a cited sentence can be highlighted exactly.

A rule-based splitter (no model ships offline for this): a sentence ends at . ! or ? (with any
closing quotes or brackets) followed by a space and a capital, digit or quote, unless the word
before the period is a known abbreviation or an initial; "word.Word" (a space lost in
extraction) ends one too; a line break always ends a sentence.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt ft gov sen rep gen col lt sgt capt cmdr adm pres supt rev hon
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun
    inc co corp ltd llc plc bros no nos vs etc al fig approx dept est univ ave blvd rd
    u.s u.k u.n e.g i.e a.m p.m d.c n.y l.a""".split()
)
_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s)")
_NEXT_START = re.compile(r"\s+[\"'\u201c\u2018(\[]?[A-Z0-9\u00c0-\u024f]")
_LINE_BREAK = re.compile(r"\n+")
_GLUED = re.compile(r"(?<=[a-z]{3}[.!?])(?=[A-Z][a-z])")  # "commodities.The decision": a lost space


def _is_abbreviation(text: str, dot: int) -> bool:
    """Is the period at `dot` the end of an abbreviation or an initial ("J. Smith", "U.S.")?"""
    start = dot
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    word = text[start:dot].lower().rstrip(".")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _split_line(text: str, start: int, end: int) -> list[tuple[int, int]]:
    stops = {match.start() for match in _GLUED.finditer(text, start, end)}
    for match in _END.finditer(text, start, end):
        stop = match.end()
        if text[match.start()] == "." and match.end() - match.start() == 1 and _is_abbreviation(text, match.start()):
            continue
        if _NEXT_START.match(text, stop, end):
            stops.add(stop)
    spans: list[tuple[int, int]] = []
    begin = start
    for stop in sorted(stops):
        spans.append((begin, stop))
        begin = stop
    spans.append((begin, end))
    return spans


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, whitespace trimmed, empty ones dropped."""
    spans: list[tuple[int, int]] = []
    line_start = 0
    for line_break in [*_LINE_BREAK.finditer(text), None]:
        line_end = line_break.start() if line_break else len(text)
        for begin, stop in _split_line(text, line_start, line_end):
            while begin < stop and text[begin].isspace():
                begin += 1
            while stop > begin and text[stop - 1].isspace():
                stop -= 1
            if stop > begin:
                spans.append((begin, stop))
        if line_break:
            line_start = line_break.end()
    return spans


def sentences(text: str) -> list[str]:
    return [text[begin:end] for begin, end in sentence_spans(text)]


def sentence_texts(text: str) -> list[str]:
    """The sentences of `text` as the answer step splits them (the whole text when it has none):
    the texts whose vectors ingest stores."""
    return [text[start:end] for start, end in sentence_spans(text)] or [text]
