"""Sentences as the agreement check reads them: lower-case words with contractions spelled out
("didn't" -> "did not"), which of them a negation or a hedge governs, and where the names are.

A cue governs the first word after it that carries meaning ("has *not* yet fully *raised*",
"*failed to* *win*", "*is expected to* *raise*"), skipping auxiliaries, articles and adverbs, within
a few words. That is a shallow reading, chosen because it is fast and needs no parser; what it
misses (a negation far from its verb) makes the check say less, never flag more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

_CONTRACTIONS = (
    (re.compile(r"\bwon['’]t\b", re.I), "will not"),
    (re.compile(r"\bcan['’]t\b|\bcannot\b", re.I), "can not"),
    (re.compile(r"\bshan['’]t\b", re.I), "shall not"),
    (re.compile(r"n['’]t\b", re.I), " not"),
)
_TOKEN = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*|\d+(?:[.,]\d+)*|[%$€£]|[;:,]")  # "year-old": two words
_POSSESSIVE = re.compile(r"['’]s$", re.I)
#: What a word starting a sentence follows (or nothing): its capital says nothing of a name.
_OPENING = frozenset(".!?\n\"“‘'(-–—:;") | {""}

#: Words that negate what follows them.
NEGATORS = frozenset("not no never none nobody nothing neither nor without nowhere".split())
#: Verbs that negate the verb after them: "failed to win", "refused to sign", "denied taking".
NEGATING_VERBS = frozenset(
    "fail fails failed failing refuse refuses refused refusing deny denies denied denying "
    "decline declines declined declining".split()
)
#: After these, "not" does not negate: "not only", "not just", "if not the largest".
_NOT_NEGATING_AFTER = frozenset("only just merely least".split())
#: "no more than 5", "not less than": a bound, not a negation.
_BOUNDS = frozenset("more less fewer later earlier".split())

#: Words that make what follows a possibility, a plan or a forecast rather than a fact.
HEDGES = frozenset(
    "may might could would should will shall likely unlikely possibly probably perhaps maybe potentially "
    "reportedly allegedly supposedly apparently".split()
)
#: Hedges when "to" follows: "plans to", "is expected to", "aims to", "is set to".
HEDGES_BEFORE_TO = frozenset(
    "plan plans planned planning expect expects expected aim aims aimed seek seeks sought intend intends "
    "intended want wants wanted hope hopes hoped propose proposes proposed threaten threatens threatened "
    "set poised scheduled likely going try tries tried attempt attempts attempted".split()
)

#: Words a cue skips on its way to the word it governs.
_SKIPPED = frozenset(
    "be is are was were been being have has had do does did a an the to yet even ever also fully always any "
    "longer immediately directly really quite very so that it they he she we its their his her our there this "
    "these those of much enough all entirely completely necessarily actually officially publicly formally "
    "still only again further currently initially then now once already just being soon eventually likely "
    "probably possibly potentially ultimately forever finally shortly quickly".split()
)
_WINDOW = 5  # words after a cue within which the governed word is looked for


@dataclass(frozen=True)
class Word:
    text: str  # lower case
    position: int  # in the sentence's word list
    name: bool  # capitalised away from the sentence's start
    start: int  # character offsets in the sentence as given
    end: int


class Wording:
    """One sentence's words and what its negations and hedges govern."""

    def __init__(self, sentence: str) -> None:
        self.sentence = sentence
        spelled = sentence
        for pattern, replacement in _CONTRACTIONS:
            spelled = pattern.sub(replacement, spelled)
        self._spelled = spelled
        words = []
        for match in _TOKEN.finditer(spelled):
            raw = _POSSESSIVE.sub("", match.group(0))
            opening = spelled[: match.start()].rstrip()[-1:] in _OPENING
            name = (raw[:1].isupper() and not opening and not raw.isupper()) or (raw.isupper() and len(raw) > 1)
            words.append(Word(raw.lower(), len(words), name, match.start(), match.end()))
        self.words = words

    def quote(self, position: int, before: int = 3, after: int = 3) -> str:
        """The words around `position` as the sentence writes them (for a reason: "the passage
        says 'has raised over'")."""
        first = self.words[max(0, position - before)]
        last = self.words[min(len(self.words) - 1, position + after)]
        around = self._spelled[first.start : last.end]
        at = self.words[position].start - first.start  # keep to the sentence holding the word
        head = max(around.rfind(". ", 0, at), around.rfind("\n", 0, at))
        tail = [cut for cut in (around.find(". ", at), around.find("\n", at)) if cut >= 0]
        return around[head + 1 if head >= 0 else 0 : min(tail) + 1 if tail else len(around)].strip(" .\n")

    def _after(self, position: int, step: int) -> str:
        """The word `step` places after `position`, or ""."""
        return self.words[position + step].text if position + step < len(self.words) else ""

    @cached_property
    def negated(self) -> dict[int, int]:
        """Positions of the words a negation governs -> the position of the negation."""
        governed: dict[int, int] = {}
        words = self.words
        for word in words:
            following, after = self._after(word.position, 1), self._after(word.position, 2)
            if word.text in NEGATORS:
                if following in _NOT_NEGATING_AFTER or (following in _BOUNDS and after == "than"):
                    continue
                if word.text == "not" and word.position > 0 and words[word.position - 1].text in ("if", "or"):
                    continue
                if word.text == "no" and following[:1].isdigit():
                    continue  # "No. 1"
                start = word.position + 1
            elif word.text in NEGATING_VERBS:
                if word.text.startswith("decl") and following != "to":
                    continue  # "shares declined 5%" is a fall, not a negation
                start = word.position + 1
            else:
                continue
            head = self._governed(start)
            if head is not None:
                governed.setdefault(head, word.position)
        return governed

    @cached_property
    def hedged(self) -> dict[int, int]:
        """Positions of the words a hedge governs -> the position of the hedge."""
        governed: dict[int, int] = {}
        words = self.words
        for word in words:
            following = self._after(word.position, 1)
            if word.name and word.text == "may":
                continue  # "in May" is a month
            if word.text in HEDGES or (word.text in HEDGES_BEFORE_TO and following == "to"):
                if word.text == "set" and (word.position == 0 or words[word.position - 1].text not in _BE):
                    continue  # "is set to" hedges; "set to work" does not
                head = self._governed(word.position + 1)
                if head is not None:
                    governed.setdefault(head, word.position)
        return governed

    def hedges_before(self, position: int) -> bool:
        """Whether the word at `position` is hedged: governed by a hedge, or a hedge stands just
        before it ("could potentially deprive")."""
        if position in self.hedged:
            return True
        if position > 0 and self.words[position - 1].text == "to":
            return True  # "in talks to leave": an infinitive states no deed
        for index in range(max(0, position - 3), position):
            word = self.words[index]
            following = self.words[index + 1].text
            if not (word.name and word.text == "may") and (
                word.text in HEDGES or (word.text in HEDGES_BEFORE_TO and following == "to")
            ):
                return True
        return False

    def _governed(self, start: int) -> int | None:
        for index in range(start, min(len(self.words), start + _WINDOW)):
            word = self.words[index]
            if word.text in (";", ":", ","):
                return None
            if word.text not in _SKIPPED and word.text not in NEGATORS and word.text.isalpha():
                return index
        return None


_BE = frozenset("is are was were be been being 's".split())
