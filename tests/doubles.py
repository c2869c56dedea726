"""Test doubles that implement the real interfaces, for tests whose outcome does not depend on the
model: `HashEmbeddings` (what `qa.embeddings.SentenceEmbeddings` offers, from hashed keyword
terms: deterministic, instant, no torch), `HashModel` (the part of a SentenceTransformer the
project calls, for child processes: `install_hash_model`) and `ScriptedBackend` (the `Backend`
protocol, replying what the test queued). Where behaviour depends on the model (thresholds,
quality, offline), tests use the real one (the `embeddings` fixture).

Child processes (the CLI, the app's ingest child, crash runs) get the double when started with
`HASH_MODEL_ENV` (see conftest.hash_model_env): `tests/hash_model/sitecustomize.py` installs it
before the program runs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import numpy as np
from langchain_core.embeddings import Embeddings

from qa.answering.backends.base import GenerationRequest
from qa.errors import BackendError
from qa.text.terms import terms
from qa.types import Message

DIMENSION = 384
#: Child processes started with this variable set to "1" embed with the hash double.
HASH_MODEL_ENV = "HASH_MODEL_FOR_TESTS"
#: The not-found thresholds for the double, whose cosines run lower than MiniLM's (on-topic
#: questions over the test corpora 0.08-0.36, off-topic ones 0.02-0.12) and do not separate the two
#: alone: 0.2 of cosine, or half of the question's words in the passage.
HASH_MIN_RELEVANCE = "0.2"
HASH_MIN_COVERAGE = "0.5"
HASH_THRESHOLDS = {"min_relevance": float(HASH_MIN_RELEVANCE), "min_coverage": float(HASH_MIN_COVERAGE)}


class HashEmbeddings(Embeddings):
    """Unit vectors from the hashed terms of a text (and their pairs): texts sharing words are
    near, texts sharing none are orthogonal. Same name as the default model, so an index built
    with it opens with default settings."""

    name = "sentence-transformers/all-MiniLM-L6-v2"
    dimension = DIMENSION
    dtype = "float32"
    backend = "local"

    def __init__(self) -> None:
        self.calls = 0

    @staticmethod
    def _slot(feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % DIMENSION, 1.0 if value >> 63 else -1.0

    @classmethod
    def _vector(cls, text: str) -> np.ndarray:
        words = terms(text) or [text.strip().lower() or "\u2400"]
        features = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        vector = np.zeros(DIMENSION, dtype=np.float32)
        for feature in features:
            slot, sign = cls._slot(feature)
            vector[slot] += sign
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed_array(self, texts: list[str]) -> np.ndarray:
        self.calls += len(texts)
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        return np.stack([self._vector(text) for text in texts])

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class HashModel:
    """What `SentenceEmbeddings` calls on a SentenceTransformer, answered by `HashEmbeddings`."""

    def get_embedding_dimension(self) -> int:
        return DIMENSION

    def encode(self, texts: list[str], **options: object) -> np.ndarray:
        return HashEmbeddings().embed_array(list(texts))


def install_hash_model() -> None:
    """Make every SentenceEmbeddings of this process embed with the hash double (no torch)."""
    import qa.embeddings.local

    qa.embeddings.local._load = lambda location, threads, dtype: HashModel()  # type: ignore[assignment]
    qa.embeddings.local.resolve_dtype = lambda setting, *where: "float32"  # type: ignore[assignment]


class ScriptedBackend:
    """A `Backend` that streams the replies queued in `replies`, one per question, in the given
    pieces; an exception in the queue is raised instead (as a failing server would). `requests`
    holds what the engine asked, for assertions."""

    name = "scripted"

    def __init__(self, *replies: str | Sequence[str] | BaseException, condensed: str | None = None) -> None:
        self.replies: list[str | Sequence[str] | BaseException] = list(replies)
        self.condensed = condensed
        self.requests: list[GenerationRequest] = []

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        self.requests.append(request)
        if not self.replies:
            raise BackendError(f"{self.name}: no reply queued")
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        yield from [reply] if isinstance(reply, str) else reply

    def condense(self, question: str, history: Sequence[Message]) -> str:
        return self.condensed or question
