"""The one grammar of citation markers: "[2]", "[1][3]", "[1, 3]" or "[1; 3]" after a claim, and
of the marks the citation check puts where an answer sentence is not supported:
"[unsupported]" and "[contradicted by source 2]" (no passage number in brackets, so nothing vouches
for the sentence).

Passage numbers are 1-based, as the passages are numbered in a prompt and in an answer's
citations. The checker parses them, the prompt strips them from earlier answers, the web page
turns them into links and the evaluation ignores them: all through this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

#: One marker; group 1 holds its numbers ("1", "1, 3").
MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
#: A marker with the white space before it (what removing a marker removes).
SPACED_MARKER = re.compile(r"\s*" + MARKER.pattern)
#: Markers opening a text ("[2] The ..."): they belong to the sentence before.
LEADING_MARKERS = re.compile(r"^(?:" + SPACED_MARKER.pattern + r")+")
#: The check's mark on a sentence no passage supports, or one a passage contradicts.
UNSUPPORTED_MARK = "[unsupported]"
CONTRADICTED_MARK = "[contradicted by source {n}]"
VERDICT_MARK = re.compile(r"\s*\[(?:unsupported|contradicted by source \d+)\]")
_NUMBER_SEPARATOR = re.compile(r"\s*[,;]\s*")
#: A piece of text running through the markers that end it (and the white space after them).
_THROUGH_MARKERS = re.compile(r".+?(?:" + MARKER.pattern + r")+\s*|.+$", re.S)


def numbers(marker_body: str) -> list[int]:
    """The numbers of one marker's group 1: "1, 3" -> [1, 3]."""
    return [int(part) for part in _NUMBER_SEPARATOR.split(marker_body) if part.isdigit()]


def cited_numbers(text: str) -> list[int]:
    """Every passage number the markers in `text` cite, in order, repeats kept."""
    return [number for match in MARKER.finditer(text) for number in numbers(match.group(1))]


def strip_markers(text: str, replacement: str = "") -> str:
    """`text` without its markers and verdict marks (and the white space before each)."""
    return VERDICT_MARK.sub(replacement, SPACED_MARKER.sub(replacement, text))


def parts(text: str) -> Iterator[str | int]:
    """`text` as plain pieces (str) and the numbers its markers cite (int), in order."""
    position = 0
    for match in MARKER.finditer(text):
        if match.start() > position:
            yield text[position : match.start()]
        yield from numbers(match.group(1))
        position = match.end()
    if position < len(text):
        yield text[position:]


def through_markers(text: str) -> list[str]:
    """`text` cut after each run of markers: an extractive answer sentence by sentence, each
    with its citation ("".join gives the text back)."""
    return _THROUGH_MARKERS.findall(text)
