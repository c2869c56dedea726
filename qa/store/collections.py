"""Collections: separate bodies of documents, each with its own documents folder and index (its
own generations, write lock, crash safety and check), under one index root.

    ROOT/                        the `default` collection's index (today's layout, unchanged)
    ROOT/collections/NAME/       collection.json (name, documents folder, created)
    ROOT/collections/NAME/index  NAME's index, exactly what ROOT is for `default`
    ROOT/documents/NAME/         NAME's documents folder, unless it was created with another

A collection exists once created (`qa collections create`, or the first `ingest --collection`).
Rename and delete take the collection's write lock, so no ingest is half-way through; each is
one directory rename, so a crash leaves either the old or the new state. A reader that has the
index open when it is deleted finishes its question (its open files stay readable); the next one
gets "no collection".
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import (
    COLLECTION_FILE,
    COLLECTIONS_DIR,
    DEFAULT_COLLECTION,
    Settings,
    default_docs_dir,
    load_settings,
)
from ..errors import ConfigError, IndexBusy, NoSuchCollection
from .lock import WriteLock
from .overview import overview

_TRASH_PREFIX = ".deleted-"


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    documents: int
    chunks: int
    docs_dir: str
    index_dir: str

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "documents": self.documents,
            "chunks": self.chunks,
            "docs_dir": self.docs_dir,
            "index_dir": self.index_dir,
        }


def collections_home(settings: Settings) -> Path:
    return settings.index_root / COLLECTIONS_DIR


def collection_home(settings: Settings, name: str) -> Path:
    return collections_home(settings) / name


#: may the caller see collection NAME (created by OWNER, or None)? None: the caller sees every one
Visible = Callable[[str, str | None], bool] | None


def names(settings: Settings, visible: Visible = None) -> list[str]:
    """Every collection there is that the caller may see: `default`, then the named ones in order."""
    home = collections_home(settings)
    named = (
        sorted(
            path.name
            for path in home.iterdir()
            if path.is_dir() and not path.name.startswith(".") and (path / COLLECTION_FILE).is_file()
        )
        if home.is_dir()
        else []
    )
    every = [DEFAULT_COLLECTION, *named]
    return every if visible is None else [name for name in every if visible(name, owner(settings, name))]


def owner(settings: Settings, name: str) -> str | None:
    """The user who created collection `name` in the app (None: made from the command line)."""
    if name == DEFAULT_COLLECTION:
        return None
    try:
        record = json.loads((collection_home(settings, name) / COLLECTION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    made_by = record.get("owner") if isinstance(record, dict) else None
    return made_by if isinstance(made_by, str) else None


def exists(settings: Settings, name: str) -> bool:
    return name == DEFAULT_COLLECTION or (collection_home(settings, name) / COLLECTION_FILE).is_file()


def settings_for(settings: Settings, name: str, visible: Visible = None) -> Settings:
    """The same settings, pointed at collection `name` (which must exist, and which the caller
    must be allowed to see: one that is not is refused with the same words as a missing one, so
    its name does not tell it exists)."""
    if not exists(settings, name) or (visible is not None and not visible(name, owner(settings, name))):
        raise NoSuchCollection(
            f"no collection {name!r}: `qa collections` lists them, `qa collections create` makes one"
        )
    overrides = settings.revealed()
    overrides.update(collection=name)
    if name != DEFAULT_COLLECTION or settings.collection != DEFAULT_COLLECTION:
        overrides.pop("docs_dir", None)  # the collection's own folder
    return load_settings(**overrides)


def describe(settings: Settings) -> CollectionInfo:
    current = overview(settings)
    return CollectionInfo(
        name=settings.collection,
        documents=len(current.documents),
        chunks=current.chunks,
        docs_dir=str(settings.docs_dir),
        index_dir=str(settings.index_dir),
    )


def list_collections(settings: Settings, visible: Visible = None) -> list[CollectionInfo]:
    return [describe(settings_for(settings, name)) for name in names(settings, visible)]


def ensure(settings: Settings) -> None:
    """Make settings' collection if it does not exist yet (what the first ingest into it does)."""
    if settings.collection == DEFAULT_COLLECTION or exists(settings, settings.collection):
        return
    create(settings, settings.collection, docs_dir=None)


def create(settings: Settings, name: str, docs_dir: Path | None = None, made_by: str | None = None) -> Settings:
    """A new, empty collection; its documents folder is `docs_dir` or its own documents/;
    `made_by`: the app user who created it, its owner (who sees it whatever QA_AUTH grants)."""
    load_settings(**{**settings.revealed(), "collection": name})  # validates the name
    if exists(settings, name):
        raise ConfigError(f"collection {name!r} exists already")
    home = collection_home(settings, name)
    folder = Path(os.path.abspath(docs_dir)) if docs_dir is not None else default_docs_dir(settings.index_root, name)
    staging = collections_home(settings) / f".new-{name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "index").mkdir(parents=True)
    record = {"name": name, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if docs_dir is not None:  # its own folder is not recorded: the index root may move
        record["docs_dir"] = str(folder)
    if made_by is not None:
        record["owner"] = made_by
    (staging / COLLECTION_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    try:
        os.rename(staging, home)  # one step: the collection appears whole or not at all
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ConfigError(f"cannot create collection {name!r} in {home.parent}: {exc.strerror or exc}") from exc
    folder.mkdir(parents=True, exist_ok=True)
    return settings_for(settings, name)


def rename(settings: Settings, old: str, new: str) -> None:
    if DEFAULT_COLLECTION in (old, new):
        raise ConfigError("the default collection cannot be renamed (its index is the index folder itself)")
    target = settings_for(settings, old)
    load_settings(**{**settings.revealed(), "collection": new})  # validates the new name
    if exists(settings, new):
        raise ConfigError(f"collection {new!r} exists already")
    home = collection_home(settings, old)
    with WriteLock(target.index_dir, timeout_s=0):
        record_path = home / COLLECTION_FILE
        record = json.loads(record_path.read_text(encoding="utf-8"))
        record["name"] = new
        tmp = home / f".{COLLECTION_FILE}.tmp"
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, record_path)
        os.rename(home, collection_home(settings, new))  # the collection is renamed here, whole
    own = default_docs_dir(settings.index_root, old)
    if not record.get("docs_dir") and own.is_dir():  # its own documents folder follows its name
        os.rename(own, default_docs_dir(settings.index_root, new))


def delete(settings: Settings, name: str, remove_documents: bool = False) -> None:
    """Remove a collection's index (and its documents folder, if asked and it is its own)."""
    if name == DEFAULT_COLLECTION:
        raise ConfigError("the default collection cannot be deleted; `ingest --rebuild` empties it")
    target = settings_for(settings, name)
    home = collection_home(settings, name)
    trash = collections_home(settings) / f"{_TRASH_PREFIX}{name}-{time.time_ns()}"
    try:
        with WriteLock(target.index_dir, timeout_s=0):
            os.rename(home, trash)  # gone for every new reader at once
    except IndexBusy as exc:
        raise IndexBusy(f"collection {name!r} is being ingested; try again when it is done") from exc
    if remove_documents:
        shutil.rmtree(target.docs_dir, ignore_errors=True)
    shutil.rmtree(trash, ignore_errors=True)
    for leftover in collections_home(settings).glob(_TRASH_PREFIX + "*"):  # an earlier delete cut short
        shutil.rmtree(leftover, ignore_errors=True)
