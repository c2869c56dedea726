"""Mail (.eml one message, .mbox many; the standard library's email): From, To, Cc, Date and
Subject, then the text body (an HTML body as text; quoted replies kept), and forwarded messages,
each a section named by the message's subject; attachments are handed back to be read by their
own readers after the mail (`loaders.load_bytes`). The message's date (the newest, for a
mailbox) is the document's date."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from ...errors import IngestError
from ..extracted import Attachment, LoadedText, ReadOptions, SectionWriter, first_line_title
from .plain import html_text

MAX_DEPTH = 5  # messages forwarded as attachments, nested at most this deep
MAX_MESSAGES = 20_000  # per mailbox, with a warning
_MBOX_SEPARATOR = re.compile(rb"^From .*\r?\n", re.MULTILINE)


def read_eml(data: bytes, path: str, options: ReadOptions) -> LoadedText:
    message = email.message_from_bytes(data, policy=policy.default)
    if not isinstance(message, EmailMessage) or not (message.keys() or message.get_payload()):
        raise IngestError(path, "not a mail message")
    writer = SectionWriter()
    warnings: list[str] = []
    attachments: list[Attachment] = []
    date = _add_message(writer, message, warnings, attachments, depth=0)
    subject = _header(message, "subject")
    title = subject or first_line_title(writer.text())
    return LoadedText(writer.text(), title, writer.sections, warnings, date, attachments)


def read_mbox(data: bytes, path: str, options: ReadOptions) -> LoadedText:
    writer = SectionWriter()
    warnings: list[str] = []
    attachments: list[Attachment] = []
    newest: datetime | None = None
    messages = [part for part in _MBOX_SEPARATOR.split(data) if part.strip()]
    if not _MBOX_SEPARATOR.match(data.lstrip(b"\r\n")):
        raise IngestError(path, "not an mbox mailbox (no 'From ' line)")
    if len(messages) > MAX_MESSAGES:
        warnings.append(f"read the first {MAX_MESSAGES:,} of {len(messages):,} messages")
        messages = messages[:MAX_MESSAGES]
    for raw in messages:
        raw = re.sub(rb"(?m)^>(>*From )", rb"\1", raw)  # mboxrd quoting
        message = email.message_from_bytes(raw, policy=policy.default)
        date = _add_message(writer, message, warnings, attachments, depth=0)  # type: ignore[arg-type]
        if date is not None and (newest is None or date > newest):
            newest = date
    return LoadedText(writer.text(), Path(path).stem, writer.sections, warnings, newest, attachments)


def _header(message: EmailMessage, name: str) -> str:
    try:
        return " ".join(str(message.get(name, "") or "").split())
    except (ValueError, TypeError):  # a malformed header the policy cannot parse
        return ""


def _date(message: EmailMessage) -> datetime | None:
    raw = _header(message, "date")
    if not raw:
        return None
    try:
        parsed = parsedate_to_datetime(raw)
    except (ValueError, TypeError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset: read it as Latin-1 rather than lose it
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("latin-1") if isinstance(payload, bytes) else str(payload)
    text = content if isinstance(content, str) else content.decode("utf-8", errors="replace")
    return html_text(text) if part.get_content_type() == "text/html" else text.strip()


def _add_message(
    writer: SectionWriter, message: EmailMessage, warnings: list[str], attachments: list[Attachment], depth: int
) -> datetime | None:
    """The message as a section (its attachments as sections after it); its date."""
    subject = _header(message, "subject")
    lines = [
        f"{name}: {value}" for name in ("From", "To", "Cc", "Date", "Subject") if (value := _header(message, name))
    ]
    writer.add("\n".join(lines) + "\n\n" + _body(message), location=subject or "message")
    for part in message.iter_attachments():
        filename = part.get_filename() or ""
        if part.get_content_type() == "message/rfc822":
            if depth >= MAX_DEPTH:
                warnings.append(f"forwarded messages nested over {MAX_DEPTH} deep: the deeper ones skipped")
                continue
            inner = part.get_content()
            if isinstance(inner, EmailMessage):
                _add_message(writer, inner, warnings, attachments, depth + 1)
            continue
        _add_attachment(attachments, part, filename, subject)
    return _date(message)


def _add_attachment(attachments: list[Attachment], part: EmailMessage, filename: str, subject: str) -> None:
    """Keep an attachment to be read by its own reader (loaders.load_bytes does, after the mail)."""
    if not filename or Path(filename).suffix.lower() in (".eml", ".mbox"):
        return  # a mail attached as a file: forwarded messages are read above, as messages
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        where = f"{subject}, attachment {filename}" if subject else f"attachment {filename}"
        attachments.append(Attachment(filename, payload, where))
