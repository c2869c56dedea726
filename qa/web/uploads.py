"""User uploads -> files in the documents folder.

Both the file name a browser sends and the folder's current contents are untrusted: a name is
reduced to a plain base name of a supported type, nothing is ever overwritten or written through
a symlink, and every refusal says why so the UI can show it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import stat
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, UploadRejected
from ..ingestion.loaders import READERS

log = logging.getLogger(__name__)

# Extensions with their leading dot and lower case, as READERS spells them: (".docx", ".htm", ...).
SUPPORTED: tuple[str, ...] = tuple(sorted(READERS))

MAX_NAME_CHARS = 120
# File systems stop at 255 bytes; 120 CJK characters are 360 UTF-8 bytes. Leave room for " (n)".
_MAX_NAME_BYTES = 240
_CHUNK = 1 << 20
_MAX_COPIES = 10_000
_SAFE_PUNCTUATION = frozenset(" -_.(),")
_SEPARATORS = re.compile(r"[/\\]")
# Windows refuses these as a name's stem whatever follows the first dot ("con.tar.txt" too);
# the superscript digits count as digits there.
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"{device}{digit}" for device in ("COM", "LPT") for digit in "0123456789\u00b9\u00b2\u00b3"}
)


@dataclass(frozen=True)
class SavedFile:
    """An upload now in the documents folder; `renamed_from` is set when its name had to change."""

    name: str
    path: Path
    renamed_from: str | None = None


@dataclass(frozen=True)
class RejectedFile:
    """An upload that was not stored, and why. `name` is as given, control characters escaped."""

    name: str
    reason: str


@dataclass
class UploadResult:
    saved: list[SavedFile] = field(default_factory=list)
    rejected: list[RejectedFile] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the UI: what was saved (and renamed), what was refused and why."""
        if not self.saved and not self.rejected:
            return "No files uploaded."
        parts: list[str] = []
        if self.saved:
            names = ", ".join(
                f"{s.name} (renamed from {s.renamed_from})" if s.renamed_from else s.name for s in self.saved
            )
            parts.append(f"Saved {len(self.saved)} file{'s' if len(self.saved) != 1 else ''}: {names}")
        if self.rejected:
            reasons = "; ".join(f"{r.name} ({r.reason})" for r in self.rejected)
            parts.append(f"Rejected {len(self.rejected)}: {reasons}")
        return ". ".join(parts) + "."


def _supported_list() -> str:
    return ", ".join(SUPPORTED)


def _clean_char(ch: str) -> str:
    if ch.isspace():
        return " "
    if ch in _SAFE_PUNCTUATION or unicodedata.category(ch)[0] in "LMN":
        return ch
    return "_"


def _fit(stem: str, tail: str) -> str:
    """stem + tail, the stem cut so the whole stays within the character and byte limits."""
    room = MAX_NAME_CHARS - len(tail)
    stem = stem[:room]
    budget = _MAX_NAME_BYTES - len(tail.encode())
    while len(stem.encode()) > budget:
        stem = stem[:-1]
    return stem.rstrip(" ") + tail


def _split(name: str) -> tuple[str, str]:
    stem, _, ext = name.rpartition(".")
    return stem, "." + ext


def _basename(name: str) -> str:
    return _SEPARATORS.split(name)[-1]


def safe_filename(name: str) -> str:
    """The base name a user-supplied file name may be stored under, or UploadRejected.

    Rules, in order: NUL and other control characters are refused; the name is NFC-normalised
    and cut to its last path component ("/" or "\\"); characters other than letters, marks and
    digits of any script, space and - _ . ( ) , become "_"; whitespace collapses to one space;
    leading and trailing dots and spaces go (no hidden files; "." and ".." leave nothing);
    the extension must be supported (compared lower case, kept as given); Windows device names
    (CON, NUL, COM1, ... before the first dot) are refused; the result is at most 120 characters
    (and 240 UTF-8 bytes), cut from the stem so the extension survives.
    """
    if "\x00" in name:
        raise UploadRejected("file name contains a NUL byte")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise UploadRejected("file name contains control characters")
    base = _basename(unicodedata.normalize("NFC", name))
    cleaned = re.sub(r" +", " ", "".join(_clean_char(ch) for ch in base)).strip(" .")
    if not cleaned:
        raise UploadRejected("no usable file name")
    if "." not in cleaned:
        if base.lstrip(" ").startswith("."):  # ".txt": a hidden file, or an extension alone
            raise UploadRejected(f"needs a name and an extension, e.g. notes.txt; supported types: {_supported_list()}")
        raise UploadRejected(f"no file extension; supported types: {_supported_list()}")
    stem, suffix = _split(cleaned)
    if suffix.lower() not in SUPPORTED:
        raise UploadRejected(f"unsupported file type {suffix}; supported types: {_supported_list()}")
    stem = stem.rstrip(" ")
    if not stem:
        raise UploadRejected("no usable file name")
    device = stem.split(".")[0].rstrip(" ").upper()
    if device in _RESERVED:
        raise UploadRejected(f"{device} is a reserved device name on Windows")
    return _fit(stem, suffix)


def _escape_name(name: str) -> str:
    """The name as given, safe to show: control characters spelled out, length capped."""
    shown = "".join(ch if unicodedata.category(ch) != "Cc" else f"\\x{ord(ch):02x}" for ch in name)
    return shown if len(shown) <= 200 else shown[:199] + "\u2026"


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f}"


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _open_source(source: Path) -> int:
    """A read descriptor on a regular file; O_NONBLOCK so a FIFO at that path cannot hang us."""
    try:
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise UploadRejected(f"cannot read the upload: {_why(exc)}") from exc
    try:
        st = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise UploadRejected(f"cannot read the upload: {_why(exc)}") from exc
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UploadRejected("the upload is not a regular file")
    return fd


def _new_temp(root: Path) -> tuple[int, Path]:
    """A fresh dot-file in root (skipped by ingestion), created exclusively: never an existing path."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        path = root / f".upload-{secrets.token_hex(8)}.part"
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
        except OSError as exc:
            raise UploadRejected(f"cannot write to the documents folder: {_why(exc)}") from exc
    raise UploadRejected("cannot write to the documents folder: no free temporary name")


def _copy_to_temp(source: Path, root: Path, max_bytes: int) -> Path:
    """Copy the upload into a temporary file in root, enforcing the size limit while copying."""
    src_fd = _open_source(source)
    with open(src_fd, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        if size > max_bytes:
            raise UploadRejected(f"too large: {_mb(size)} MB over the {_mb(max_bytes)} MB limit")
        if size == 0:
            raise UploadRejected("empty file")
        out_fd, tmp = _new_temp(root)
        try:
            copied = 0
            with open(out_fd, "wb") as out:
                while True:
                    try:
                        chunk = src.read(_CHUNK)
                    except OSError as exc:
                        raise UploadRejected(f"cannot read the upload: {_why(exc)}") from exc
                    if not chunk:
                        break
                    copied += len(chunk)
                    if copied > max_bytes:  # it grew after fstat
                        raise UploadRejected(f"too large: over the {_mb(max_bytes)} MB limit")
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise UploadRejected(f"cannot write to the documents folder: {_why(exc)}") from exc
                try:
                    out.flush()
                    os.fsync(out.fileno())
                except OSError as exc:
                    raise UploadRejected(f"cannot write to the documents folder: {_why(exc)}") from exc
            if copied == 0:
                raise UploadRejected("empty file")
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    return tmp


def _link_or_copy(tmp: Path, target: Path) -> None:
    """Make `target` hold tmp's bytes; FileExistsError if anything (a symlink too) is there.

    os.link never replaces nor follows an existing target; where hard links are not supported,
    an O_CREAT|O_EXCL|O_NOFOLLOW open gives the same guarantee.
    """
    try:
        os.link(tmp, target)
        return
    except FileExistsError:
        raise
    except OSError as exc:
        log.debug("hard link into %s failed (%s); copying instead", target.parent, _why(exc))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(target, flags, 0o666)
    try:
        with open(fd, "wb") as out, open(tmp, "rb") as src:
            shutil.copyfileobj(src, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        raise


def _check_inside(target: Path, root: Path) -> None:
    """Belt and braces: what now sits at target is a regular file directly inside root."""
    st = os.lstat(target)
    resolved = target.resolve()
    if not stat.S_ISREG(st.st_mode) or not resolved.is_relative_to(root) or resolved.parent != root:
        log.error("upload target %s is not a regular file inside %s after writing", target, root)
        raise UploadRejected("could not be stored safely")


def _place(tmp: Path, root: Path, name: str) -> str:
    """Give tmp's bytes the name, or "name (2).ext", "name (3).ext", ...: the first one free."""
    stem, suffix = _split(name)
    for number in range(1, _MAX_COPIES + 1):
        candidate = name if number == 1 else _fit(stem, f" ({number}){suffix}")
        target = root / candidate
        if os.path.lexists(target):  # lexists: a dangling symlink counts as taken
            continue
        try:
            _link_or_copy(tmp, target)
        except FileExistsError:  # it appeared meanwhile
            continue
        except OSError as exc:
            raise UploadRejected(f"cannot write to the documents folder: {_why(exc)}") from exc
        _check_inside(target, root)
        return candidate
    raise UploadRejected(f"too many files named {name}")


def _save_one(original: str, source: Path, root: Path, max_bytes: int) -> SavedFile:
    name = safe_filename(original)
    tmp = _copy_to_temp(source, root, max_bytes)
    try:
        stored = _place(tmp, root, name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    given = _basename(original)
    same = stored == unicodedata.normalize("NFC", given)  # an NFD name (macOS) stored as NFC is not a rename
    return SavedFile(name=stored, path=root / stored, renamed_from=None if same else given)


def save_uploads(uploads: Sequence[tuple[str, Path]], docs_dir: Path, max_bytes: int) -> UploadResult:
    """Store each (name as the user gave it, temporary file) in docs_dir; never overwrite.

    Each file is saved or rejected on its own: one bad upload never stops the batch. A name
    already taken (on disk or earlier in the batch) is saved as "name (2).ext" and reported.
    Raises ConfigError only when docs_dir itself cannot be created.
    """
    try:
        docs_dir.mkdir(parents=True, exist_ok=True)
        root = docs_dir.resolve(strict=True)
    except OSError as exc:
        raise ConfigError(f"documents folder {docs_dir} cannot be created: {_why(exc)}") from exc
    result = UploadResult()
    for original, source in uploads:
        try:
            saved = _save_one(original, Path(source), root, max_bytes)
        except UploadRejected as exc:
            shown = _escape_name(original)
            log.warning("upload %r rejected: %s", shown, exc.reason)
            result.rejected.append(RejectedFile(name=shown, reason=exc.reason))
        else:
            log.info("upload saved as %s (given as %r)", saved.path, saved.renamed_from or saved.name)
            result.saved.append(saved)
    return result
