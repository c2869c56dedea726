"""Vectors of the retrieved passages' sentences for the answer step and the citation check: read
from the index, where ingest stored them (`store.sentences`), so a question costs one query
embedding; a sentence the index lacks (an index built before sentence vectors) is embedded once
and kept in this process."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from ..embeddings import Embedder

#: Sentences embedded here kept per process (about 1.5 KB each).
CACHED = 20_000


class Vectors(Protocol):
    """What the answer step needs to score sentences: unit vectors, one row per text."""

    def embed_array(self, texts: list[str]) -> np.ndarray: ...


class SentenceVectors:
    """`Vectors` of passage sentences: stored ones first, the model for the rest."""

    def __init__(self, embeddings: Embedder, stored: Callable[[Sequence[str]], dict[str, np.ndarray]] | None) -> None:
        self.embeddings = embeddings
        self._stored = stored
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.embedded = 0  # sentences the model ran on here (tests and benchmarks read it)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.embeddings.dimension), dtype=np.float32)
        found = self._stored(texts) if self._stored is not None else {}
        with self._lock:
            for text in texts:
                if text not in found and text in self._cache:
                    found[text] = self._cache[text]
                    self._cache.move_to_end(text)
        missing = list(dict.fromkeys(text for text in texts if text not in found))
        if missing:
            fresh = self.embeddings.embed_array(missing)
            self.embedded += len(missing)
            with self._lock:
                for text, vector in zip(missing, fresh, strict=True):
                    found[text] = vector
                    self._cache[text] = vector
                while len(self._cache) > CACHED:
                    self._cache.popitem(last=False)
        return np.stack([found[text] for text in texts]).astype(np.float32, copy=False)
