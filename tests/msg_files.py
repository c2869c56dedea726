"""Outlook .msg files for the tests, written with extract-msg's own OLE writer: no library writes
a .msg from fields, so the MAPI property streams ([MS-OXMSG]) are laid out here by name."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime

from extract_msg.ole_writer import OleWriter

_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_PTYP_TIME, _PTYP_LONG = 0x0040, 0x0003


@dataclass
class Msg:
    subject: str
    body: str = ""
    html: str = ""
    sender: str = "Ana Ruiz"
    sender_address: str = "ana@observatory.example"
    to: list[tuple[str, str]] = field(default_factory=lambda: [("Board", "board@observatory.example")])
    sent: datetime | None = None
    files: list[tuple[str, bytes]] = field(default_factory=list)
    forwarded: list[Msg] = field(default_factory=list)


def msg_bytes(message: Msg) -> bytes:
    writer = OleWriter()
    _write(writer, "", message, top=True)
    return writer.write_bytes() if hasattr(writer, "write_bytes") else _to_bytes(writer)


def _to_bytes(writer: OleWriter) -> bytes:
    import io

    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _text(value: str) -> bytes:
    return value.encode("utf-16-le")


def _properties(header: bytes, fixed: list[tuple[int, int]]) -> bytes:
    return header + b"".join(struct.pack("<IIQ", tag, 0x6, value) for tag, value in fixed)


def _write(writer: OleWriter, prefix: str, message: Msg, top: bool) -> None:
    def stream(name: str, data: bytes) -> None:
        writer.addEntry(prefix + name, data)

    stream("__substg1.0_001A001F", _text("IPM.Note"))
    stream("__substg1.0_0037001F", _text(message.subject))
    stream("__substg1.0_0C1A001F", _text(message.sender))
    stream("__substg1.0_5D01001F", _text(message.sender_address))
    stream("__substg1.0_0E04001F", _text("; ".join(name for name, _ in message.to)))
    if message.body:
        stream("__substg1.0_1000001F", _text(message.body))
    if message.html:
        stream("__substg1.0_10130102", message.html.encode("utf-8"))
    if top:
        writer.addEntry("__nameid_version1.0", storage=True)
        for part in ("00020102", "00030102", "00040102"):
            writer.addEntry(f"__nameid_version1.0/__substg1.0_{part}", b"")
    for number, (name, address) in enumerate(message.to):
        recipient = f"{prefix}__recip_version1.0_#{number:08X}"
        writer.addEntry(recipient, storage=True)
        writer.addEntry(recipient + "/__substg1.0_3001001F", _text(name))
        writer.addEntry(recipient + "/__substg1.0_39FE001F", _text(address))
        writer.addEntry(recipient + "/__properties_version1.0", _properties(b"\0" * 8, [(0x0C150003, 1)]))
    attachments = [(name, data, None) for name, data in message.files] + [
        ("", b"", inner) for inner in message.forwarded
    ]
    for number, (name, data, inner) in enumerate(attachments):
        attachment = f"{prefix}__attach_version1.0_#{number:08X}"
        writer.addEntry(attachment, storage=True)
        if inner is None:
            writer.addEntry(attachment + "/__substg1.0_3707001F", _text(name))
            writer.addEntry(attachment + "/__substg1.0_37010102", data)
            method = 1  # ATTACH_BY_VALUE
        else:
            writer.addEntry(attachment + "/__substg1.0_3701000D", storage=True)
            _write(writer, attachment + "/__substg1.0_3701000D/", inner, top=False)
            method = 5  # ATTACH_EMBEDDED_MSG
        writer.addEntry(attachment + "/__properties_version1.0", _properties(b"\0" * 8, [(0x37050003, method)]))
    counts = struct.pack("<IIII", len(message.to), len(attachments), len(message.to), len(attachments))
    header = b"\0" * 8 + counts + (b"\0" * 8 if top else b"")
    fixed = []
    if message.sent is not None:
        filetime = int((message.sent - _FILETIME_EPOCH).total_seconds() * 10**7)
        fixed = [((0x0039 << 16) | _PTYP_TIME, filetime), ((0x0E06 << 16) | _PTYP_TIME, filetime)]
    stream("__properties_version1.0", _properties(header, fixed))
