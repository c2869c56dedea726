"""One answer engine per collection, opened on first use and sharing one embedding model, for the
servers that answer from any collection (the app, the OpenAI-compatible API, MCP).

With `users` (QA_AUTH), a call names the user it is for (a str; "" for nobody logged in), and a
collection that user may not see is refused exactly as a missing one is (`NoSuchCollection`):
listing, asking, searching and reading documents all pass through `names`/`settings_of`/`get`
here, and the store applies the same rule. A call for user None, or any call without `users`, is
the machine's own user's (the command line, stdio MCP, the server's own key): every collection."""

from __future__ import annotations

import threading

from ..access.accounts import Users
from ..config import Settings
from ..embeddings.base import Embedder
from ..errors import NoSuchCollection
from ..store import collections
from ..store.collections import Visible
from .engine import Engine


class EnginePool:
    """Engines by collection name. `settings` names the index root and the collection a call
    that names none gets."""

    def __init__(self, settings: Settings, embeddings: Embedder | None = None, users: Users | None = None) -> None:
        self.settings = settings
        self.default = settings.collection
        self.users = users
        self._embeddings = embeddings
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def visible_to(self, user: str | None) -> Visible:
        """The store's test of which collections `user` may see (None: every one)."""
        users = self.users
        if users is None or user is None:
            return None
        return lambda name, owner: users.may_see(user, name, owner)

    def names(self, user: str | None = None) -> list[str]:
        """The collections `user` may see."""
        return collections.names(self.settings, self.visible_to(user))

    def default_for(self, user: str | None = None) -> str | None:
        """The collection a call for `user` that names none goes to: the server's own if they may
        see it, else the first they may (None: they see none)."""
        visible = self.names(user)
        return self.default if self.default in visible else (visible[0] if visible else None)

    def settings_of(self, name: str | None, user: str | None = None) -> Settings:
        """The settings of collection `name` (the default one when None), for `user`."""
        return collections.settings_for(self.settings, self._chosen(name, user), self.visible_to(user))

    def _chosen(self, name: str | None, user: str | None) -> str:
        if name:
            return name
        chosen = self.default_for(user) if self.users is not None else self.default
        if chosen is None:
            raise NoSuchCollection("no collection is shared with you: ask an administrator for access")
        return chosen

    def check(self, name: str | None, user: str | None = None) -> str:
        """The collection a call for `user` naming `name` goes to; NoSuchCollection when it does
        not exist or `user` may not see it (the same words for both)."""
        name = self._chosen(name, user)
        visible = self.visible_to(user)
        if not collections.exists(self.settings, name) or (
            visible is not None and not visible(name, collections.owner(self.settings, name))
        ):
            raise NoSuchCollection(f"no collection {name!r}")
        return name

    def get(self, name: str | None = None, user: str | None = None) -> Engine:
        """The engine of collection `name` for `user`; a collection deleted since is closed and
        refused, one `user` may not see is refused the same way."""
        name = self._chosen(name, user)
        try:
            self.check(name, user)
        except NoSuchCollection:
            if not collections.exists(self.settings, name):  # deleted: its open engine goes too
                with self._lock:
                    gone = self._engines.pop(name, None)
                if gone is not None:
                    gone.close()
            raise
        with self._lock:
            engine = self._engines.get(name)
            if engine is None:
                engine = Engine(self.settings_of(name), embeddings=self._embeddings)
                self._embeddings = self._embeddings or engine.embeddings
                self._engines[name] = engine
            return engine

    def adopt(self, engine: Engine) -> None:
        """Use `engine`, already open, for its own collection."""
        with self._lock:
            self._engines[engine.settings.collection] = engine

    def close(self) -> None:
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.close()
