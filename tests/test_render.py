"""What the page shows is built from data and escaped: document text never becomes markup."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser

from qa.types import Answer, Citation, ClaimCheck
from qa.web.render import answer_markdown, escape_markdown, sources_html

EVIL = 'Prices rose <script>alert(1)</script> and <img src=x onerror="alert(2)"> [link](javascript:alert(3))'


def cited_answer() -> Answer:
    passage = "Intro sentence. " + EVIL + ". Outro."
    start = passage.index("Prices")
    end = passage.index(". Outro") + 1
    citation = Citation(
        n=1,
        source="evil <b>.html",
        title="T <i>",
        page=2,
        chunk_id="c",
        quote=passage[start:end],
        start=start,
        end=end,
        score=0.5,
        passage=passage,
    )
    claims = [
        ClaimCheck(EVIL + ".", "supported", [1], "", passage[start:end]),
        ClaimCheck("Unknown claim.", "unsupported", [], "no passage says this"),
        ClaimCheck("Prices fell <b>.", "contradicted", [1], "the passage says 'rose <script>'", passage[start:end]),
    ]
    return Answer(
        text=EVIL + " [1]. Unknown claim [unsupported]. Prices fell <b> [contradicted by source 1].",
        citations=[citation],
        unsupported=["Unknown claim.", "Prices fell <b>."],
        claims=claims,
    )


def test_chat_message_escapes_document_text_and_links_markers() -> None:
    text = answer_markdown(cited_answer(), answer_no=3)
    assert "<script>" not in text and "<img" not in text and "](javascript" not in text
    assert "&lt;script&gt;" in text
    assert '<a class="cite" href="#src-3-1">[1]</a>' in text
    # flagged sentences are marked where they stand, the contradicted one with the passage's words
    assert re.search(r'<span class="claim-unsupported" title="[^"]*">Unknown claim</span>', text)
    assert "⚠ not in the documents (no passage says this)" in text
    assert re.search(r'<span class="claim-contradicted" title="[^"]*">Prices fell &lt;b&gt;</span>', text)
    assert "✗ contradicted" in text and "the passage says 'rose &lt;script&gt;'" in text
    assert "<b>" not in text and "[unsupported]" not in text and "contradicted by source" not in text
    assert "evil &lt;b&gt;.html" in text


def test_sources_panel_escapes_and_highlights_the_quote() -> None:
    panel = sources_html(cited_answer(), answer_no=3)
    assert "<script>" not in panel and "<img" not in panel and "<b>" not in panel and "<i>" not in panel
    assert 'id="src-3-1"' in panel
    assert '<mark class="quote">Prices rose &lt;script&gt;' in panel
    assert "page 2" in panel and "score 0.50" in panel


def test_not_found_and_fallback_messages() -> None:
    assert "could not find" in answer_markdown(
        Answer(text="I could not find this in the documents.", not_found=True), 1
    )
    assert "No passage" in sources_html(Answer(text="x", not_found=True), 1)
    fallback = Answer(text="Text [1].", fallback=True, error="openai: server error (HTTP 500)", backend="openai")
    assert "openai: server error" in answer_markdown(fallback, 1)


def test_escape_markdown_keeps_plain_text_readable() -> None:
    assert escape_markdown("a*b_c [1] <x>") == "a\\*b\\_c \\[1\\] &lt;x&gt;"


def test_the_short_answer_leads_in_bold_and_escaped() -> None:
    answer = cited_answer()
    answer.short = "ICBC & <b>Bank</b> of China"
    text = answer_markdown(answer, answer_no=1)
    assert text.index("<strong>ICBC") < text.index('<a class="cite"')  # above the evidence
    assert "<b>Bank</b>" not in text and "&lt;b&gt;Bank" in text
    assert "short-answer" not in answer_markdown(cited_answer(), answer_no=1)


HOSTILE = '"><script>alert(1)</script> *x* $$y$$ [z](javascript:alert(4))'


class Spans(HTMLParser):
    """Every element of a rendered message: (tag, attributes as the browser reads them)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def elements(text: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Spans()
    parser.feed(text)
    return parser.elements


def titles(text: str, css_class: str) -> list[str | None]:
    return [attrs.get("title") for _, attrs in elements(text) if attrs.get("class") == css_class]


def test_a_flagged_sentence_says_why_in_its_tooltip() -> None:
    text = answer_markdown(cited_answer(), answer_no=1)
    assert titles(text, "claim-unsupported") == ["Not found in the passages searched: no passage says this."]
    assert titles(text, "claim-contradicted") == ["Contradicted by source 1: the passage says 'rose <script>'."]
    # the reason is still shown beside the sentence, for readers who cannot hover
    assert "⚠ not in the documents (no passage says this)" in text


def test_a_flag_without_a_reason_still_says_why() -> None:
    answer = Answer(
        text="Made up [unsupported]. Wrong [contradicted by source 2].",
        claims=[ClaimCheck("Made up.", "unsupported"), ClaimCheck("Wrong.", "contradicted", [2])],
    )
    text = answer_markdown(answer, answer_no=1)
    assert titles(text, "claim-unsupported") == ["Not found in the passages searched: no passage says this."]
    assert titles(text, "claim-contradicted") == ["Contradicted by source 2: it says otherwise."]


def test_a_hostile_reason_and_sentence_stay_text_in_the_tooltip() -> None:
    sentence = HOSTILE + " end."
    answer = Answer(
        text=f"{HOSTILE} end [unsupported]. {HOSTILE} two [contradicted by source 1].",
        claims=[
            ClaimCheck(sentence, "unsupported", [], f"the passage does not say '{HOSTILE}'"),
            ClaimCheck(HOSTILE + " two.", "contradicted", [1], f"the passage says '{HOSTILE}\n\nnext'"),
        ],
    )
    text = answer_markdown(answer, answer_no=1)
    assert "<script>" not in text and '"><' not in text and "](javascript" not in text
    raw = re.findall(r'title="([^"]*)"', text)
    assert len(raw) == 2
    for value in raw:  # nothing HTML, Markdown or LaTeX reads, and no line break (a blank line ends a tag)
        assert not set(value) & set("<>\"'\n*$[]()"), value
    tags = elements(text)
    assert [tag for tag, _ in tags] == ["span", "span", "span", "span", "a"]  # the page's own markup only
    assert titles(text, "claim-unsupported") == [
        f"Not found in the passages searched: the passage does not say '{HOSTILE}'."
    ]
    assert titles(text, "claim-contradicted") == [f"Contradicted by source 1: the passage says '{HOSTILE} next'."]


def supported_answer(claims: int) -> Answer:
    sentences = [f"Sentence {i} holds." for i in range(1, claims + 1)]
    return Answer(
        text=" ".join(sentence[:-1] + " [1]." for sentence in sentences),
        citations=[
            Citation(n=1, source="a.txt", title="", page=None, chunk_id="c", quote="q", start=0, end=1, score=1.0)
        ],
        claims=[ClaimCheck(sentence, "supported", [1], "", "q") for sentence in sentences],
    )


def all_supported_line(text: str) -> list[str]:
    return re.findall(r'<p class="verdict-all-supported">(.*?)</p>', text)


def test_an_answer_whose_every_sentence_is_supported_says_so_quietly() -> None:
    text = answer_markdown(supported_answer(3), answer_no=1)
    assert all_supported_line(text) == ["All 3 sentences are supported by the cited passage."]
    assert text.index("verdict-all-supported") < text.index("**Sources**")  # after the answer, before its sources
    assert all_supported_line(answer_markdown(supported_answer(1), 1)) == [
        "The one sentence is supported by the cited passage."
    ]
    two_sources = supported_answer(2)
    two_sources.citations.append(replace(two_sources.citations[0], n=2))
    assert all_supported_line(answer_markdown(two_sources, 1)) == [
        "All 2 sentences are supported by the cited passages."
    ]


def test_no_all_supported_line_when_anything_is_flagged_missing_or_unchecked() -> None:
    flagged = supported_answer(2)
    flagged.claims[1] = replace(flagged.claims[1], verdict="unsupported")
    fallback = supported_answer(2)
    fallback.fallback, fallback.error = True, "openai: server error (HTTP 500)"
    not_found = Answer(text="I could not find this in the documents.", not_found=True)
    unchecked = replace(supported_answer(2), claims=[])
    for answer in (cited_answer(), flagged, fallback, not_found, unchecked):
        assert "verdict-all-supported" not in answer_markdown(answer, 1)
