"""Each format's reader: text, title, pages; and the bad-input reasons."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest

from qa.errors import IngestError
from qa.ingestion.loaders import load_bytes

from .conftest import make_pdf


def test_plain_text_title_is_first_line() -> None:
    loaded = load_bytes("\n\n  My Title \nbody text here\n".encode(), Path("a.txt"))
    assert loaded.title == "My Title"
    assert "body text here" in loaded.text


def test_markdown_heading_becomes_title() -> None:
    loaded = load_bytes(b"# Quarterly plan\n\nSome *text*.", Path("plan.md"))
    assert loaded.title == "Quarterly plan"


def test_html_keeps_text_drops_scripts_and_styles() -> None:
    html = b"""<html><head><title>Page title</title><style>.x{color:red}</style>
    <script>alert('boom')</script></head><body><h1>Heading</h1><p>Visible paragraph.</p>
    <script>var hidden = 1;</script><noscript>no js</noscript></body></html>"""
    loaded = load_bytes(html, Path("p.html"))
    assert loaded.title == "Page title"
    assert "Visible paragraph." in loaded.text and "Heading" in loaded.text
    for hidden in ("alert", "color:red", "hidden", "no js"):
        assert hidden not in loaded.text


def test_html_inline_markup_stays_in_its_sentence_and_blocks_start_lines() -> None:
    html = b"""<html><body><!-- draft: not for readers --><p>The dome is <b>leaking</b>
    again, <a href="/r">Mira</a> said.</p><ul><li>First item</li><li>Second item</li></ul>
    Line one<br>Line two<pre>keep
      this</pre></body></html>"""
    text = load_bytes(html, Path("p.html")).text
    assert "The dome is leaking again, Mira said." in text.splitlines()
    assert "First item" in text.splitlines() and "Second item" in text.splitlines()
    assert "Line one\nLine two" in text and "keep\n" in text
    assert "draft" not in text


def test_pdf_pages_are_kept() -> None:
    loaded = load_bytes(make_pdf(["First page words", "Second page words", "Third page words"]), Path("r.pdf"))
    pages = loaded.sections or []
    assert [section.page for section in pages] == [1, 2, 3]
    for number, section in enumerate(pages, 1):
        assert loaded.text[section.start :].startswith(["First", "Second", "Third"][number - 1])


def test_docx_paragraphs_and_title(tmp_path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "Board minutes"
    document.add_paragraph("The board approved the budget.")
    document.add_paragraph("The meeting closed at noon.")
    path = tmp_path / "m.docx"
    document.save(path)
    loaded = load_bytes(path.read_bytes(), path)
    assert loaded.title == "Board minutes"
    assert "approved the budget" in loaded.text and "closed at noon" in loaded.text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Café au lait coûte trois euros à Montréal, déjà très cher.", "cp1252"),
        ("Crème brûlée recipe from Montréal, très bon.", "cp1252"),
        ("Привет, как дела? Сегодня хорошая погода в Москве, и мы идём гулять.", "cp1251"),
        ("今日は良い天気ですね。東京で会いましょう。明日また連絡します。", "shift_jis"),
        ("Zażółć gęślą jaźń — polski tekst w kodowaniu środkowoeuropejskim.", "cp1250"),
    ],
)
def test_legacy_encodings_are_detected_and_flagged(text: str, encoding: str) -> None:
    loaded = load_bytes(text.encode(encoding), Path("legacy.txt"))
    assert loaded.text == text
    assert loaded.warnings and loaded.warnings[0].startswith("not UTF-8; decoded as")


def test_undecodable_bytes_are_replaced_not_fatal() -> None:
    data = b"Plain words, then stray bytes: \xff\xfe\x81 and more words."
    loaded = load_bytes(data, Path("odd.txt"))
    assert "Plain words" in loaded.text and "more words" in loaded.text
    assert loaded.warnings


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\n \t", "empty"),
        ("image.txt", bytes(range(256)) * 20, "binary"),
        ("broken.pdf", b"%PDF-1.4\n this is not really a pdf", "corrupt PDF"),
        ("broken.docx", b"PK\x03\x04 not a zip at all", "corrupt DOCX"),
        ("blank.pdf", make_pdf([""]), "no extractable text"),
    ],
)
def test_bad_input_has_a_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(IngestError) as caught:
        load_bytes(data, Path(name))
    assert reason in caught.value.reason


def _encrypted_pdf(user_password: str) -> bytes:
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Quarterly numbers are up"]))))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_with_only_an_owner_password_is_read() -> None:
    assert "Quarterly numbers" in load_bytes(_encrypted_pdf(""), Path("locked.pdf")).text


def test_pdf_with_a_user_password_is_reported() -> None:
    with pytest.raises(IngestError, match="encrypted PDF"):
        load_bytes(_encrypted_pdf("open-sesame"), Path("locked.pdf"))


def test_malformed_docx_xml_is_reported(tmp_path: Path) -> None:
    import zipfile

    document = docx.Document()
    document.add_paragraph("Some text.")
    good = tmp_path / "good.docx"
    document.save(good)
    bad = tmp_path / "bad.docx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[: len(data) // 2] if item.filename == "word/document.xml" else data)
    with pytest.raises(IngestError, match="cannot parse .docx"):
        load_bytes(bad.read_bytes(), bad)
