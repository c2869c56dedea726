"""Answers and sources as the page shows them. Document text is untrusted: every piece of it is
HTML-escaped (and, in chat messages, Markdown-escaped) before it reaches the page, so a document
holding `<script>` or `<img onerror=...>` shows as text and never runs."""

from __future__ import annotations

import html
import re

from ..text import markers
from ..types import Answer, Citation

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def escape_markdown(text: str) -> str:
    """Plain text that Markdown and HTML render as itself (no links, images, tags or emphasis)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def anchor(answer_no: int, n: int) -> str:
    return f"src-{answer_no}-{n}"


def answer_markdown(answer: Answer, answer_no: int) -> str:
    """The chat message: the answer with clickable [n] markers (they jump to the source in the
    panel), notes on fallback and unsupported sentences, then a compact list of the sources."""
    if answer.not_found:
        return f"**{escape_markdown(answer.text)}**"
    body = []
    for piece in markers.parts(answer.text):
        if isinstance(piece, int):  # a cited passage number
            body.append(f'<a class="cite" href="#{anchor(answer_no, piece)}">[{piece}]</a>')
        else:
            body.append(escape_markdown(piece))
    lines = []
    if answer.fallback:
        lines.append(
            f"> ⚠️ {escape_markdown(answer.error or 'The answer backend failed')}. Showing the extractive answer.\n"
        )
    lines.append("".join(body))
    if answer.unsupported:
        lines.append("")
        for sentence in answer.unsupported:
            lines.append(f"> ⚠️ Not supported by the cited passages: *{escape_markdown(sentence)}*")
    if answer.citations:
        lines.append("")
        lines.append("**Sources**")
        for citation in answer.citations:
            lines.append(f"- [{citation.n}] {escape_markdown(_where(citation))}")
    return "\n".join(lines)


def _where(citation: Citation) -> str:
    parts = [citation.source]
    if citation.title:
        parts.append(citation.title)
    if citation.page:
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
            + f' <span class="source-score">score {citation.score:.2f}</span></div>'
            f'<div class="source-passage">{highlighted}</div></div>'
        )
    return "\n".join(blocks)
