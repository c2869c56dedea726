"""Outlook mail (.msg, an OLE compound file; extract-msg reads it): From, To, Cc, Date and
Subject, then the text body (the HTML body as text when there is no plain one), embedded
messages (forwarded as attachments, 5 deep at most) as sections of their own, and attached files
handed back to be read by their own readers (`loaders.load_bytes`). The message's date is the
document's date, as for .eml."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from ...errors import IngestError
from ..extracted import Attachment, LoadedText, ReadOptions, SectionWriter, first_line_title
from .mail import MAX_DEPTH
from .plain import html_text

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def read_msg(data: bytes, path: str, options: ReadOptions) -> LoadedText:
    if not data.startswith(_OLE_MAGIC):
        raise IngestError(path, "not an Outlook message (no OLE compound file header)")
    import extract_msg  # 0.2 s to import: only when a .msg is read

    logging.getLogger("extract_msg").setLevel(logging.ERROR)  # it logs every unknown property
    message = extract_msg.openMsg(data, delayAttachments=False)
    try:
        if not hasattr(message, "body"):
            raise IngestError(path, f"not a mail message (an Outlook {type(message).__name__})")
        writer = SectionWriter()
        warnings: list[str] = []
        attachments: list[Attachment] = []
        date = _add_message(writer, message, warnings, attachments, depth=0)
        subject = _clean(message.subject)
        title = subject or first_line_title(writer.text())
        return LoadedText(writer.text(), title, writer.sections, warnings, date, attachments)
    finally:
        message.close()


def _clean(value: object) -> str:
    return " ".join(str(value).split()) if value else ""


def _date(message: Any) -> datetime | None:
    value = getattr(message, "date", None)
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _body(message: Any) -> str:
    body = message.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if body and body.strip():
        return body.replace("\r\n", "\n").strip()
    html = message.htmlBody
    if html:
        return html_text(html.decode("utf-8", errors="replace") if isinstance(html, bytes) else str(html))
    return ""


def _add_message(
    writer: SectionWriter, message: Any, warnings: list[str], attachments: list[Attachment], depth: int
) -> datetime | None:
    """The message as a section (embedded messages as sections after it); its date."""
    subject = _clean(message.subject)
    date = _date(message)
    fields = {
        "From": _clean(message.sender),
        "To": _clean(message.to),
        "Cc": _clean(message.cc),
        "Date": date.strftime("%a, %d %b %Y %H:%M:%S %z") if date else "",
        "Subject": subject,
    }
    lines = [f"{name}: {value}" for name, value in fields.items() if value]
    writer.add("\n".join(lines) + "\n\n" + _body(message), location=subject or "message")
    for attachment in message.attachments:
        data = attachment.data
        if hasattr(data, "attachments"):  # an embedded message (forwarded as an attachment)
            if depth >= MAX_DEPTH:
                warnings.append(f"forwarded messages nested over {MAX_DEPTH} deep: the deeper ones skipped")
                continue
            _add_message(writer, data, warnings, attachments, depth + 1)
            continue
        filename = _clean(attachment.longFilename or attachment.shortFilename)
        if isinstance(data, bytes) and filename:
            where = f"{subject}, attachment {filename}" if subject else f"attachment {filename}"
            attachments.append(Attachment(filename, data, where))
    return date
