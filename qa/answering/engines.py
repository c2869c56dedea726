"""One answer engine per collection, opened on first use and sharing one embedding model, for the
servers that answer from any collection (the OpenAI-compatible API, MCP)."""

from __future__ import annotations

import threading

from ..config import Settings
from ..embeddings.base import Embedder
from ..errors import ConfigError
from ..store import collections
from .engine import Engine


class EnginePool:
    """Engines by collection name. `settings` names the index root and the collection a call
    that names none gets."""

    def __init__(self, settings: Settings, embeddings: Embedder | None = None) -> None:
        self.settings = settings
        self.default = settings.collection
        self._embeddings = embeddings
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return collections.names(self.settings)

    def settings_of(self, name: str | None) -> Settings:
        """The settings of collection `name` (the default one when None); ConfigError if none."""
        return collections.settings_for(self.settings, name or self.default)

    def get(self, name: str | None = None) -> Engine:
        """The engine of collection `name`; a collection deleted since is closed and refused."""
        name = name or self.default
        if not collections.exists(self.settings, name):
            with self._lock:
                gone = self._engines.pop(name, None)
            if gone is not None:
                gone.close()
            raise ConfigError(f"no collection {name!r}")
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
