"""Plain text, Markdown and HTML (tables read row by row with their header)."""

from __future__ import annotations

import re
import warnings

from ..extracted import LoadedText, ReadOptions, decode_text, first_line_title
from .tables import table_rows


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
        table.replace_with("\n\n" + "\n".join(text for _, text in table_rows(rows)) + "\n\n")
    text = soup.get_text("\n")
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    return title, re.sub(r"\n{3,}", "\n\n", text).strip()
