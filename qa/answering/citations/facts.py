"""The facts a sentence states: its numbers (as quantities: "2.9m" is "2.9 million") and names. A
passage supporting an answer sentence must hold every one of them (a paraphrase keeps them; a
swapped name or number is not support)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...text.terms import terms
from .quantities import values_in

_NAME = re.compile(r"(?<![\w'’])[A-Z][\w'’&.-]*")
_ACRONYM_DOT = re.compile(r"(?<=\b[A-Za-z])\.(?=[A-Za-z]\.|\s|$)")
#: "Passage 2", "source [1]", "Passages:": how models refer to the passages; neither a name nor a number.
_PASSAGE_REFERENCE = re.compile(r"\b(?:passages?|sources?|documents?)\b(?:\s*\[?\d+\]?)?", re.I)
_FIRST_PERSON = re.compile(r"I(?:['’](?:m|ve|d|ll))?")
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


#: Short month names as the full ones, so "Feb. 25" states what "February 25" does.
_MONTHS = {
    month[:3]: month
    for month in "january february march april may june july august september october november december".split()
} | {"sept": "september"}


def numbers_in(text: str) -> set[str]:
    """Numbers as values: separators dropped, scale applied ("2.9m" == "2,900,000"), "5.00" == "5"."""
    return values_in(text)


def words_in(text: str) -> set[str]:
    """Lower-cased words, "U.S." as "us", possessives dropped, "Feb" as "february"."""
    words = re.findall(r"\w+", _POSSESSIVE.sub("", _ACRONYM_DOT.sub("", text)).lower())
    return {_MONTHS.get(word, word) for word in words}


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
        return cls(frozenset(numbers_in(sentence)), frozenset(words_in(" ".join(names))))

    @classmethod
    def of_passage(cls, text: str) -> Facts:
        return cls(frozenset(numbers_in(text)), frozenset(words_in(text)))

    def within(self, passage: Facts) -> bool:
        return self.numbers <= passage.numbers and self.names <= passage.names


#: A sentence stating nothing (the default when there is no question to compare with).
NO_FACTS = Facts(frozenset(), frozenset())
