"""Captions, bylines, links and site notices are told from the story they surround."""

from __future__ import annotations

import pytest

from qa.text.boilerplate import boilerplate_in, is_boilerplate

CAPTION = (
    "Pictured: The Bank of China is seen in London (file photo). The bank was one of two Chinese "
    "state-backed banks to limit finance for raw materials from Russia"
)


@pytest.mark.parametrize(
    "sentence",
    [
        "Pictured: The Bank of China is seen in London (file photo).",
        "Read more: How the sanctions work",
        "RELATED: Oil prices rise again",
        "We use cookies to improve your experience.",
        "Subscribe to our newsletter for the latest news.",
        "By Jane Smith and John Doe, CNN",
        "Updated 3:45 PM ET, Fri June 3, 2022",
        "(AP Photo/Rich Pedroncelli)",
        "Courtney Pedroza/Getty Images",
    ],
)
def test_site_text_is_boilerplate(sentence: str) -> None:
    assert is_boilerplate(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "ICBC is the world's largest bank by assets.",
        "By Friday, the two banks had restricted financing for Russian commodities.",
        "Netflix added 2.4 million subscribers in the quarter.",
        "The photo agency said more than 40 pictures were taken.",
        "He read more than 300 books in prison.",
    ],
)
def test_story_text_is_not(sentence: str) -> None:
    assert not is_boilerplate(sentence)


def test_a_caption_line_is_read_whole() -> None:
    """The caption's second sentence has no mark of its own; its line makes it a caption."""
    text = "ICBC and Bank of China are restricting financing.\n" + CAPTION
    second = text.index("The bank was")
    assert boilerplate_in(text, second, len(text))
    assert not boilerplate_in(text, 0, text.index("\n"))
