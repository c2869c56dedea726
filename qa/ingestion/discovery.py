"""Which files an ingest run covers: walk the given paths recursively, following symlinks
without ever looping (and, when confined, never to a place outside the folder given), and say
why anything given could not be used."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..types import Skipped
from .loaders import is_supported

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoundFile:
    path: Path  # absolute, as reached (symlinks not resolved)
    root: Path  # the folder or file the user named, absolute
    source: str  # path relative to the root's folder, with / separators


@dataclass
class Discovery:
    files: list[FoundFile]
    roots: list[Path]  # roots walked completely: files recorded under them but absent are gone
    skipped: list[Skipped]


def _outside(path: Path, real_root: Path) -> bool:
    """Does `path`, symlinks resolved, lie outside `real_root`?"""
    try:
        return not path.resolve().is_relative_to(real_root)
    except (OSError, RuntimeError):  # loops are reported where the file is read
        return False


def _walk(root: Path, skipped: list[Skipped], unlistable: list[str], confined: bool) -> Iterator[FoundFile]:
    def on_error(error: OSError) -> None:
        unlistable.append(str(error.filename))
        skipped.append(Skipped(str(error.filename), f"cannot list folder: {error.strerror}"))

    visited: set[tuple[int, int]] = set()
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=on_error):
        current = Path(dirpath)
        if confined and _outside(current, real_root):
            skipped.append(Skipped(str(current), f"symlink to a folder outside {root} (not followed)"))
            dirnames[:] = []
            continue
        try:
            st = current.stat()
        except OSError as exc:
            unlistable.append(str(current))
            skipped.append(Skipped(str(current), f"cannot read folder: {exc.strerror}"))
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in visited:
            skipped.append(Skipped(str(current), "symlink loop: folder already visited"))
            dirnames[:] = []
            continue
        visited.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = current / name
            if not is_supported(path):
                continue
            if confined and _outside(path, real_root):
                skipped.append(
                    Skipped(path.relative_to(root).as_posix(), f"symlink to a file outside {root} (not followed)")
                )
                continue
            yield FoundFile(path=path, root=root, source=path.relative_to(root).as_posix())


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None  # reported with its reason when the file is read
    return (st.st_dev, st.st_ino)


def discover(paths: list[Path], confined: bool = False) -> Discovery:
    """Expand files and folders into the supported files below them, in a stable order.

    A file reached twice (overlapping folders, a symlink to a sibling) is kept once, so its
    chunks are never stored twice. A folder with a part that cannot be listed is not a complete
    root: nothing under it is treated as deleted. `confined`: symlinks that lead outside a
    folder given are reported and not followed.
    """
    found = Discovery(files=[], roots=[], skipped=[])
    seen: set[tuple[int, int]] = set()

    def add(item: FoundFile) -> None:
        identity = _identity(item.path)
        if identity is not None:
            if identity in seen:
                log.debug("%s: already included through another path", item.path)
                return
            seen.add(identity)
        found.files.append(item)

    for given in paths:
        root = Path(os.path.abspath(given))
        try:
            is_dir = root.is_dir()
            exists = root.exists() or root.is_symlink()
        except OSError as exc:  # e.g. ELOOP on a self-referencing link
            found.skipped.append(Skipped(str(given), f"cannot access: {exc.strerror or exc}"))
            continue
        if not exists:
            found.skipped.append(Skipped(str(given), "no such file or directory"))
            continue
        if is_dir:
            unlistable: list[str] = []
            for item in _walk(root, found.skipped, unlistable, confined):
                add(item)
            if unlistable:
                log.warning("%s: parts could not be listed; no file under it is treated as deleted", given)
                continue
        elif not root.exists():
            found.skipped.append(Skipped(str(given), "broken symlink or symlink loop"))
            continue
        elif not is_supported(root):
            found.skipped.append(Skipped(str(given), f"unsupported file type {root.suffix or '(none)'}"))
            continue
        else:
            add(FoundFile(path=root, root=root, source=root.name))
        found.roots.append(root)
    return found
