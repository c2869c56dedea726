"""Text around an article that is not the article: photo captions, bylines, datelines alone,
related-story links, navigation, cookie and subscription notices.

Saved web pages carry these beside the story ("Pictured: The Bank of China is seen in London
(file photo)"). They repeat the story's names, so they look relevant, but they are not where a
question is answered: an answer sentence or a short answer taken from one is a guess. A caption
is read by its line: every sentence of a line opening with "Pictured:" belongs to the caption.
"""

from __future__ import annotations

import re

# A line that opens as a caption or a link does: "Pictured:", "Photo:", "Read more:", "RELATED".
_LINE_OPENERS = re.compile(
    r"^\s*[\"“(]?(?:pictured|picture|photo(?:graph)?s?|image|images|video|watch|above|below|left|right|top|"
    r"inset|main image|file photo|caption|credit|source|read more|read also|more|related(?: stories| articles)?|"
    r"see also|also read|click here|advertisement|sponsored|sign up|subscribe|follow us|share this|listen|"
    r"trending|recommended|most read|most popular|latest news|top stories|more from|continue reading)\b"
    r"\s*(?::|\||—|–|-\s|»|>|$)",
    re.IGNORECASE,
)
# Anywhere in a sentence: the marks of a caption or a photo credit.
_CAPTION_MARKS = re.compile(
    r"\((?:file )?photo\)|\(file picture\)|\(pictured\b|\bpictured (?:here|above|below|left|right|with|at|in)\b|"
    r"\b(?:getty images|ap photo|afp via getty|reuters/|photo by|photograph:|image caption|image source|"
    r"photo credit|shutterstock|epa-efe)\b",
    re.IGNORECASE,
)
# Notices of the site, not the story.
_NOTICES = re.compile(
    r"\b(?:cookies?(?: policy| settings| preferences)?|privacy policy|terms of (?:use|service)|all rights reserved|"
    r"subscribe (?:to|now|today)|subscribers? only|sign up (?:for|to)|our newsletter|log ?in to|create an account|"
    r"already a subscriber|enable javascript|your browser|ad blocker|click here|tap here|"
    r"follow us on|share (?:this|on)|download (?:our|the) app|copyright ©|©\s*\d{4})\b",
    re.IGNORECASE,
)
# "By Jane Smith, CNN", "Updated 3:45 PM ET, Fri June 3, 2022", "Published: ...": who and when, not what.
_BYLINE = re.compile(
    r"^\s*(?:by\s+[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,3}(?:\s*(?:,|and|&)\s*[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,3})*"
    r"(?:\s*[,|]\s*[A-Z][\w ]{0,30})?\s*$|(?:updated|published|posted|last modified)\b.{0,60}$)",
    re.IGNORECASE,
)


def _line_of(text: str, start: int, end: int) -> str:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    return text[line_start : line_end if line_end >= 0 else len(text)]


def is_boilerplate(sentence: str, line: str = "") -> bool:
    """Whether `sentence` (in `line`, the line of its passage it stands in) is a caption, byline,
    link or site notice rather than the story."""
    line = line or sentence
    return bool(
        _LINE_OPENERS.match(line) or _CAPTION_MARKS.search(line) or _NOTICES.search(sentence) or _BYLINE.match(sentence)
    )


def boilerplate_in(text: str, start: int, end: int) -> bool:
    """`is_boilerplate` for text[start:end], a sentence of a passage, read with its line."""
    return is_boilerplate(text[start:end], _line_of(text, start, end))
