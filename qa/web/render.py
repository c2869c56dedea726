"""Answers and sources as the page shows them. Document text is untrusted: every piece of it is
HTML-escaped (and, in chat messages, Markdown-escaped) before it reaches the page, so a document
holding `<script>` or `<img onerror=...>` shows as text and never runs."""

from __future__ import annotations

import html
import re

from ..text import markers
from ..types import Answer, Citation, ClaimCheck

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")
#: what an attribute's value may hold as itself: anything else is a character reference, so
#: neither HTML (quotes, brackets, ampersands) nor Markdown or LaTeX (`*`, `$`, ...) reads it
_ATTRIBUTE_SAFE = re.compile(r"[^0-9A-Za-z ,.:?/]")
#: why a sentence is unsupported when the check gave no reason
NO_REASON = "no passage says this"


def escape_markdown(text: str) -> str:
    """Plain text that Markdown and HTML render as itself (no links, images, tags or emphasis)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def escape_attribute(text: str) -> str:
    """Plain text as an HTML attribute's value, in double quotes: each character that could end
    the value or mean something to Markdown is a numeric character reference (the browser shows
    the character itself); white space runs are one space, so a blank line cannot end the tag."""
    return _ATTRIBUTE_SAFE.sub(lambda match: f"&#{ord(match.group())};", " ".join(text.split()))


def anchor(answer_no: int, n: int) -> str:
    return f"src-{answer_no}-{n}"


def answer_markdown(answer: Answer, answer_no: int) -> str:
    """The chat message: the short answer in bold, then the answer with clickable [n] markers
    (they jump to the source in the panel), each sentence the check did not pass marked where
    it stands (unsupported in amber, contradicted in red with the passage's own words beside
    it, and why in a tooltip), notes on fallback, then a compact list of the sources. An answer
    whose every checked sentence is supported says so in one quiet line."""
    if answer.not_found:
        return f"**{escape_markdown(answer.text)}**"
    lines = []
    if answer.fallback:
        lines.append(
            f"> ⚠️ {escape_markdown(answer.error or 'The answer backend failed')}. Showing the extractive answer.\n"
        )
    if answer.short:
        lines.append(f'<p class="short-answer"><strong>{escape_markdown(answer.short)}</strong></p>\n')
    lines.append(_marked_text(answer, answer_no))
    if all_supported := _all_supported(answer):
        lines.append("")
        lines.append(f'<p class="verdict-all-supported">{all_supported}</p>')
    if answer.citations:
        lines.append("")
        lines.append("**Sources**")
        for citation in answer.citations:
            lines.append(f"- [{citation.n}] {escape_markdown(_where(citation))}")
    return "\n".join(lines)


def _all_supported(answer: Answer) -> str:
    """The line saying every checked sentence is supported; "" for an answer with a flagged
    sentence, none checked, a fallback or nothing found."""
    if answer.not_found or answer.fallback or not answer.claims:
        return ""
    if any(claim.verdict != "supported" for claim in answer.claims):
        return ""
    n, passages = len(answer.claims), "passage" if len(answer.citations) == 1 else "passages"
    if n == 1:
        return f"The one sentence is supported by the cited {passages}."
    return f"All {n} sentences are supported by the cited {passages}."


def _cited(text: str, answer_no: int) -> str:
    """Plain answer text, escaped, with its [n] markers as links to the sources panel."""
    body = []
    for piece in markers.parts(text):
        if isinstance(piece, int):  # a cited passage number
            body.append(f'<a class="cite" href="#{anchor(answer_no, piece)}">[{piece}]</a>')
        else:
            body.append(escape_markdown(piece))
    return "".join(body)


def _marked_text(answer: Answer, answer_no: int) -> str:
    """The answer text with each flagged sentence wrapped and its verdict mark spelled out."""
    flagged = iter([claim for claim in answer.claims if claim.verdict != "supported"])
    text, position, out = answer.text, 0, []
    for match in markers.VERDICT_MARK.finditer(text):
        segment = text[position : match.start()]
        claim = next(flagged, None)
        body = claim.text[:-1] if claim and claim.text[-1:] in ".!?" else (claim.text if claim else "")
        split = len(segment) - len(body) if body and segment.endswith(body) else len(segment)
        out.append(_cited(segment[:split], answer_no))
        out.append(_flag(segment[split:], claim, answer_no))
        position = match.end()
    out.append(_cited(text[position:], answer_no))
    return "".join(out)


def _flag(sentence: str, claim: ClaimCheck | None, answer_no: int) -> str:
    """A flagged sentence, with why in its tooltip, and its mark spelled out beside it (so a
    reader without a pointer to hover with sees the reason too)."""
    title = escape_attribute(flag_tooltip(claim))
    if claim is not None and claim.verdict == "contradicted":
        source = claim.citations[0] if claim.citations else 0
        link = f' <a class="cite" href="#{anchor(answer_no, source)}">[{source}]</a>' if source else ""
        return (
            f'<span class="claim-contradicted" title="{title}">{escape_markdown(sentence)}</span> '
            f'<span class="verdict-contradicted">✗ contradicted{link}: {escape_markdown(claim.reason)}</span>'
        )
    reason = claim.reason if claim is not None and claim.reason else NO_REASON
    return (
        f'<span class="claim-unsupported" title="{title}">{escape_markdown(sentence)}</span> '
        f'<span class="verdict-unsupported">⚠ not in the documents ({escape_markdown(reason)})</span>'
    )


def flag_tooltip(claim: ClaimCheck | None) -> str:
    """Why a sentence is flagged, in plain words (its tooltip): "Contradicted by source 2: the
    passage says 'rose'." or "Not found in the passages searched: no passage says this."."""
    if claim is not None and claim.verdict == "contradicted":
        source = f"source {claim.citations[0]}" if claim.citations else "a source"
        why = f"Contradicted by {source}: {claim.reason or 'it says otherwise'}"
    else:
        why = f"Not found in the passages searched: {claim.reason if claim is not None and claim.reason else NO_REASON}"
    return why if why.endswith((".", "!", "?")) else why + "."


def _where(citation: Citation) -> str:
    parts = [citation.source]
    if citation.title:
        parts.append(citation.title)
    if citation.location:  # "slide 3", "sheet Budget, rows 12-30": says more than the page
        parts.append(citation.location)
    elif citation.page:
        parts.append(f"page {citation.page}")
    if citation.date:
        parts.append(citation.date)
    return " · ".join(parts)


def sources_html(answer: Answer | None, answer_no: int) -> str:
    """The sources panel: each cited passage with the cited sentence highlighted."""
    if answer is None:
        return '<div class="sources-empty">Sources of the answer appear here.</div>'
    if answer.not_found:
        return '<div class="sources-empty">No passage in the documents answers this question.</div>'
    if not answer.citations:
        return '<div class="sources-empty">This answer cites no passage.</div>'
    blocks = []
    for citation in answer.citations:
        passage = citation.passage or citation.quote
        start, end = citation.start, citation.end
        if not (0 <= start <= end <= len(passage)) or passage[start:end] != citation.quote:
            start, end = 0, 0
        highlighted = (
            html.escape(passage[:start])
            + f'<mark class="quote">{html.escape(passage[start:end])}</mark>'
            + html.escape(passage[end:])
        )
        blocks.append(
            f'<div class="source" id="{anchor(answer_no, citation.n)}">'
            f'<div class="source-head"><span class="source-n">[{citation.n}]</span> '
            f'<span class="source-file">{html.escape(citation.source)}</span>'
            + (f' <span class="source-title">{html.escape(citation.title)}</span>' if citation.title else "")
            + (f' <span class="source-page">page {citation.page}</span>' if citation.page else "")
            + f' <span class="source-collection">in {html.escape(citation.collection)}</span>'
            + f' <span class="source-score">score {citation.score:.2f}</span></div>'
            f'<div class="source-passage">{highlighted}</div></div>'
        )
    return "\n".join(blocks)


# The page's styles for what these functions render (sources, quotes, flagged claims).
CSS = """
#sources { max-height: 70vh; overflow-y: auto; }
.source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px; margin-bottom: 8px; }
.source-head { font-size: 0.9em; margin-bottom: 4px; }
.source-n { font-weight: bold; }
.source-file { font-family: monospace; }
.source-title { font-style: italic; }
.source-score, .source-page, .source-collection { color: var(--body-text-color-subdued); }
.source-passage { white-space: pre-wrap; font-size: 0.9em; }
mark.quote { background: #ffe58a; color: inherit; padding: 0 2px; }
a.cite { text-decoration: none; font-weight: bold; }
.claim-unsupported { text-decoration: underline wavy #d9a400; cursor: help; }
.verdict-unsupported { color: #8a6500; font-size: 0.9em; }
.claim-contradicted { text-decoration: line-through #c62828; cursor: help; }
.verdict-contradicted { color: #c62828; font-size: 0.9em; font-weight: bold; }
.verdict-all-supported { color: var(--body-text-color-subdued); font-size: 0.85em; margin-top: 4px; }
"""
