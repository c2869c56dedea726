"""Plain text, Markdown and HTML (tables read row by row with their header)."""

from __future__ import annotations

import re
import warnings

from bs4 import NavigableString, PageElement, Tag

from ..extracted import LoadedText, ReadOptions, decode_text, first_line_title
from .tables import table_rows


class _Verbatim(NavigableString):
    """Text put in the page by the reader (a table's rows), laid out as it is."""


_LOOSE_SPACE = re.compile(r"\s{2,}|[\t\n\r\f\v]")
# Elements a browser lays out as blocks: each starts a line.
_BLOCKS = {
    *("p", "div", "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "hr", "section", "article"),
    *("header", "footer", "nav", "aside", "main", "figure", "figcaption", "address", "details", "summary"),
    *("h1", "h2", "h3", "h4", "h5", "h6", "title", "body", "form", "fieldset", "legend", "caption", "tr"),
}


def read_plain(data: bytes, path: str, options: ReadOptions) -> LoadedText:
    text, warnings = decode_text(data, path)
    return LoadedText(text=text, title=first_line_title(text), warnings=warnings)


def read_html(data: bytes, path: str, options: ReadOptions) -> LoadedText:
    markup, warnings = decode_text(data, path)
    title, text = _html(markup)
    return LoadedText(text=text, title=title or first_line_title(text), warnings=warnings)


def html_text(markup: str) -> str:
    """The text of an HTML document or fragment (a mail's HTML body, an e-book's chapter)."""
    return _html(markup)[1]


def _laid_out(root: Tag) -> str:
    """The text as a browser lays it out: inline markup (<b>, <a>, <span>) stays inside its
    sentence, blocks and <br> start a line, a paragraph's own line breaks are spaces (except in
    <pre>). One pass without recursion (deeply nested pages) or tree edits (slow on long pages)."""
    parts: list[str] = []
    stack: list[PageElement | None] = [root]  # None: the end of a block
    while stack:
        element = stack.pop()
        if element is None:
            parts.append("\n")
        elif isinstance(element, _Verbatim):
            parts.append(str(element))
        elif isinstance(element, NavigableString):
            if type(element) is NavigableString:  # not comments, CDATA, doctypes
                parts.append(_LOOSE_SPACE.sub(" ", element))
        elif isinstance(element, Tag):
            if element.name == "br":
                parts.append("\n")
            elif element.name == "pre":
                parts.append("\n" + element.get_text() + "\n")
            else:
                if element.name in _BLOCKS:
                    parts.append("\n")
                    stack.append(None)
                stack.extend(reversed(element.contents))
    return "".join(parts)


def _html(markup: str) -> tuple[str, str]:
    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():  # XHTML (e-books, some mail) reads fine as HTML: no warning each time
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(markup, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "noscript", "template", "head", "svg", "iframe", "object"]):
        tag.decompose()
    for table in reversed(soup.find_all("table")):  # nested tables first
        rows = [
            (number, [cell.get_text(" ", strip=True) for cell in row.find_all(["th", "td"])])
            for number, row in enumerate(table.find_all("tr"), 1)
        ]
        table.replace_with(_Verbatim("\n\n" + "\n".join(text for _, text in table_rows(rows)) + "\n\n"))
    text = _laid_out(soup)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    return title, re.sub(r"\n{3,}", "\n\n", text).strip()
