"""Mail, e-books, OpenDocument and RTF, from real files written by the libraries that write them
(the standard library's email and mailbox, ebooklib, odfpy): what each reader keeps, where each
section says it is, and that the mail's date becomes the document's."""

from __future__ import annotations

import io
import mailbox
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from ebooklib import epub
from odf import draw, style, table, text
from odf.opendocument import OpenDocumentPresentation, OpenDocumentSpreadsheet, OpenDocumentText

from qa import load_settings
from qa.answering.engine import Engine
from qa.errors import IngestError
from qa.ingestion.chunking import Chunker
from qa.ingestion.loaders import load_bytes
from qa.ingestion.pipeline import ingest

from .doubles import HASH_THRESHOLDS, HashEmbeddings
from .msg_files import Msg, msg_bytes
from .test_formats import xlsx_bytes


@pytest.fixture(scope="module")
def embeddings(hash_embeddings: HashEmbeddings) -> HashEmbeddings:
    """Which slide, sheet, page or message a distinctive question finds does not depend on the
    model here: the hash double."""
    return hash_embeddings


SENT = datetime(2022, 3, 14, 9, 30, tzinfo=UTC)


def message(subject: str = "Budget meeting", sent: datetime = SENT, body: str | None = None) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Ana Ruiz <ana@observatory.example>"
    mail["To"] = "board@observatory.example"
    mail["Date"] = format_datetime(sent)
    mail["Subject"] = subject
    if body is not None:
        mail.set_content(body)
        return mail
    mail.set_content(
        "The mirror order is confirmed for June.\n\n> Leo wrote: is the mirror ordered?\n> Please check.\n"
    )
    mail.add_alternative(
        "<html><body><p>The mirror order is <b>confirmed</b> for June.</p></body></html>", subtype="html"
    )
    return mail


def test_a_mail_keeps_headers_body_quotes_and_its_date() -> None:
    mail = message()
    mail.add_attachment(xlsx_bytes(), maintype="application", subtype="octet-stream", filename="plan.xlsx")
    loaded = load_bytes(mail.as_bytes(), Path("meeting.eml"))
    assert loaded.title == "Budget meeting" and loaded.date == SENT
    assert "From: Ana Ruiz <ana@observatory.example>" in loaded.text and "Subject: Budget meeting" in loaded.text
    assert "confirmed for June" in loaded.text and "> Leo wrote: is the mirror ordered?" in loaded.text
    # the attachment, read by its own reader, each of its sections named
    assert "Item: Telescope mirror; Owner: Ana Ruiz" in loaded.text
    locations = [section.location for section in loaded.sections or []]
    assert locations[0] == "Budget meeting"
    assert "Budget meeting, attachment plan.xlsx, sheet Budget" in locations
    chunks = Chunker(200, 40).split(loaded.text, loaded.sections)
    assert any(
        c.location == "Budget meeting, attachment plan.xlsx, sheet Budget" and "Telescope" in c.text for c in chunks
    )


def test_an_html_only_mail_is_read_as_text() -> None:
    mail = EmailMessage()
    mail["Subject"] = "Dome"
    mail.set_content(
        "<html><body><p>The dome is <i>leaking</i> again.</p><script>x()</script></body></html>", subtype="html"
    )
    loaded = load_bytes(mail.as_bytes(), Path("dome.eml"))
    assert "The dome is\nleaking\nagain." in loaded.text or "The dome is leaking again." in " ".join(
        loaded.text.split()
    )
    assert "x()" not in loaded.text


def test_forwarded_mail_nested_too_deep_is_cut_with_a_warning() -> None:
    inner = message("Level 0")
    for depth in range(1, 9):
        outer = message(f"Level {depth}")
        outer.add_attachment(inner)
        inner = outer
    loaded = load_bytes(inner.as_bytes(), Path("deep.eml"))
    assert "Subject: Level 8" in loaded.text and "Subject: Level 3" in loaded.text
    assert "Subject: Level 2" not in loaded.text
    assert any("nested over 5 deep" in warning for warning in loaded.warnings)


def test_a_bad_attachment_is_a_warning_not_a_failure() -> None:
    mail = message()
    mail.add_attachment(b"PK\x03\x04 not a zip", maintype="application", subtype="octet-stream", filename="broken.xlsx")
    loaded = load_bytes(mail.as_bytes(), Path("meeting.eml"))
    assert "confirmed for June" in loaded.text
    assert any(warning.startswith("attachment broken.xlsx skipped: corrupt XLSX") for warning in loaded.warnings)


def test_a_mailbox_reads_every_message_and_takes_the_newest_date(tmp_path: Path) -> None:
    box = mailbox.mbox(tmp_path / "board.mbox")
    box.add(message("Budget meeting", SENT))
    later = datetime(2022, 4, 2, 18, 0, tzinfo=UTC)
    # a body line starting "From " is quoted in the mailbox and read back as written
    box.add(message("Re: Budget meeting", later, body="From now on the mirror is Mira's job.\n"))
    box.flush()
    box.close()
    loaded = load_bytes((tmp_path / "board.mbox").read_bytes(), Path("board.mbox"))
    assert [section.location for section in loaded.sections or []] == ["Budget meeting", "Re: Budget meeting"]
    assert "From now on the mirror is Mira's job." in loaded.text
    assert loaded.date == later
    with pytest.raises(IngestError, match="not an mbox"):
        load_bytes(b"just some text\n", Path("notes.mbox"))


def test_an_epub_reads_its_chapters_in_order_with_their_titles(tmp_path: Path) -> None:
    book = epub.EpubBook()
    book.set_identifier("lighthouse-1")
    book.set_title("The Lighthouse Log")
    book.set_language("en")
    chapters = []
    for number, (heading, body) in enumerate(
        [
            ("Arrival", "The keeper arrived on a grey Tuesday."),
            ("The Storm", "The lamp failed at 3 a.m. and Ines Duarte relit it."),
        ],
        1,
    ):
        chapter = epub.EpubHtml(title=heading, file_name=f"chapter{number}.xhtml", lang="en")
        chapter.content = f"<html><body><h1>{heading}</h1><p>{body}</p></body></html>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = chapters
    epub.write_epub(str(tmp_path / "log.epub"), book)
    loaded = load_bytes((tmp_path / "log.epub").read_bytes(), Path("log.epub"))
    assert loaded.title == "The Lighthouse Log"
    assert [section.location for section in loaded.sections or []] == ["chapter 1: Arrival", "chapter 2: The Storm"]
    assert loaded.text.index("grey Tuesday") < loaded.text.index("Ines Duarte relit it")


def odf_bytes(document: Any) -> bytes:
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()


def odf_table(name: str, rows: list[tuple[str, ...]], **cell_options: str) -> Any:
    grid = table.Table(name=name)
    for values in rows:
        row = table.TableRow()
        for value in values:
            cell = table.TableCell(**cell_options)
            cell.addElement(text.P(text=value))
            row.addElement(cell)
        grid.addElement(row)
    return grid


def test_opendocument_text_sheet_and_slides() -> None:
    writer = OpenDocumentText()
    writer.text.addElement(text.H(outlinelevel=1, text="Harbour report"))
    writer.text.addElement(text.P(text="The new pier opens in May."))
    writer.text.addElement(odf_table("Ferries", [("Ferry", "Seats"), ("Gull", "120"), ("Tern", "80")]))
    odt = load_bytes(odf_bytes(writer), Path("report.odt"))
    assert "The new pier opens in May." in odt.text and "Ferry: Tern; Seats: 80" in odt.text

    sheet_doc = OpenDocumentSpreadsheet()
    sheet_doc.spreadsheet.addElement(
        odf_table("Tides", [("Day", "High water"), ("Monday", "06:12"), ("Tuesday", "06:58")], valuetype="string")
    )
    ods = load_bytes(odf_bytes(sheet_doc), Path("tides.ods"))
    assert "Day: Tuesday; High water: 06:58" in ods.text
    chunks = Chunker(200, 40).split(ods.text, ods.sections)
    assert [chunk.location for chunk in chunks] == ["sheet Tides, rows 1-3"]

    slides = OpenDocumentPresentation()
    layout = style.PageLayout(name="layout")
    slides.automaticstyles.addElement(layout)
    master = style.MasterPage(name="Default", pagelayoutname=layout)
    slides.masterstyles.addElement(master)
    for number, words in enumerate(["Welcome aboard", "Lifeboats are on deck two"], 1):
        page = draw.Page(name=f"page{number}", masterpagename=master)
        frame = draw.Frame(width="20cm", height="5cm", x="1cm", y="1cm")
        box = draw.TextBox()
        box.addElement(text.P(text=words))
        frame.addElement(box)
        page.addElement(frame)
        slides.presentation.addElement(page)
    odp = load_bytes(odf_bytes(slides), Path("safety.odp"))
    assert [(section.page, section.location) for section in odp.sections or []] == [(1, "slide 1"), (2, "slide 2")]
    assert "Lifeboats are on deck two" in odp.text


def test_rtf_is_read_as_text() -> None:
    rtf = (
        rb"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard "
        rb"The lighthouse keeper is Ines Duarte.\par Second line.\par}"
    )
    loaded = load_bytes(rtf, Path("keeper.rtf"))
    assert "The lighthouse keeper is Ines Duarte." in loaded.text and "fonttbl" not in loaded.text
    with pytest.raises(IngestError, match="not an RTF"):
        load_bytes(b"plain words", Path("fake.rtf"))


def test_a_mail_is_answered_with_its_subject_and_dated_by_it(tmp_path: Path, embeddings: Any) -> None:
    docs = tmp_path / "mail"
    docs.mkdir()
    (docs / "meeting.eml").write_bytes(message().as_bytes())
    index = tmp_path / "index"
    report = ingest([docs], load_settings(index_dir=index), embeddings=embeddings)
    assert report.files_added == 1
    answer = Engine(load_settings(index_dir=index, **HASH_THRESHOLDS), embeddings=embeddings).answer(
        "When is the mirror order confirmed for?"
    )
    assert not answer.not_found and "June" in answer.text
    citation = answer.citations[0]
    assert citation.location == "Budget meeting" and citation.date == "2022-03-14"


def test_an_outlook_message_reads_like_a_mail() -> None:
    body = "The mirror order is confirmed for June.\r\n\r\n> Leo wrote: is the mirror ordered?\r\n"
    sent = Msg("Budget meeting", body=body, sent=SENT, files=[("plan.xlsx", xlsx_bytes()), ("logo.bin", b"\x00\x01")])
    sent.forwarded = [Msg("Dome repair", html="<html><body><p>The dome is <b>leaking</b>.</p></body></html>")]
    loaded = load_bytes(msg_bytes(sent), Path("meeting.msg"))
    assert loaded.title == "Budget meeting" and loaded.date == SENT
    assert "From: Ana Ruiz <ana@observatory.example>" in loaded.text and "Subject: Budget meeting" in loaded.text
    assert "To: Board <board@observatory.example>" in loaded.text
    assert "confirmed for June" in loaded.text and "> Leo wrote: is the mirror ordered?" in loaded.text
    assert "\r" not in loaded.text and "The dome is leaking." in " ".join(loaded.text.split())
    assert "Item: Telescope mirror; Owner: Ana Ruiz" in loaded.text
    locations = [section.location for section in loaded.sections or []]
    assert locations[:2] == ["Budget meeting", "Dome repair"]
    assert "Budget meeting, attachment plan.xlsx, sheet Budget" in locations


def test_outlook_messages_forwarded_too_deep_are_cut_and_non_messages_refused() -> None:
    inner = Msg("Level 0", body="The bottom.")
    for depth in range(1, 9):
        inner = Msg(f"Level {depth}", body=f"Body {depth}.", forwarded=[inner])
    loaded = load_bytes(msg_bytes(inner), Path("deep.msg"))
    assert "Subject: Level 8" in loaded.text and "Subject: Level 3" in loaded.text
    assert "Subject: Level 2" not in loaded.text
    assert any("nested over 5 deep" in warning for warning in loaded.warnings)
    with pytest.raises(IngestError, match="not an Outlook message"):
        load_bytes(b"From: someone\n\nplain text saved as .msg", Path("fake.msg"))
    with pytest.raises(IngestError, match="corrupt MSG"):
        load_bytes(msg_bytes(inner)[:3000], Path("cut.msg"))
