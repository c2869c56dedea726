"""What the page shows is built from data and escaped: document text never becomes markup."""

from __future__ import annotations

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
    assert '<span class="claim-unsupported">Unknown claim</span>' in text
    assert "⚠ not in the documents (no passage says this)" in text
    assert '<span class="claim-contradicted">Prices fell &lt;b&gt;</span>' in text
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
