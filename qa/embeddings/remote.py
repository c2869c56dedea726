"""Embedding on an OpenAI-compatible `/v1/embeddings` server (Text Embeddings Inference, vLLM,
Infinity, Ollama, a llama.cpp server): how a corpus one machine cannot embed is embedded on a
GPU fleet. Requests are batched and several are in flight at once; the vectors are normalised
here (not every server does), and a server that answers with the wrong count or dimension is an
error, never a silently mixed index."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from ..errors import EmbeddingError
from .base import Embedder

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

#: `dtype` of server vectors: the server decides their number format.
SERVER = "server"


def base_url(url: str) -> str:
    """The OpenAI base URL (…/v1) for what users type: a host, its /v1, or the full endpoint."""
    url = url.rstrip("/")
    if url.endswith("/embeddings"):
        url = url[: -len("/embeddings")]
    return url if url.endswith("/v1") else url + "/v1"


def host_of(url: str) -> str:
    """host[:port] of `url`, without credentials: what `qa stats` names as the backend."""
    parts = urlsplit(url if "//" in url else "http://" + url)
    return parts.netloc.rsplit("@", 1)[-1] or url


class RemoteEmbeddings(Embedder):
    """Vectors from an OpenAI-compatible embedding server."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RemoteEmbeddings:
        assert settings.embeddings_url
        key = settings.embeddings_api_key.get_secret_value() if settings.embeddings_api_key else None
        return cls(
            settings.embeddings_url,
            settings.embeddings_model or settings.embedding_model,
            api_key=key,
            batch_size=settings.embeddings_batch_size,
            concurrency=settings.embeddings_concurrency,
            timeout_s=settings.embeddings_timeout_s,
        )

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None = None,
        batch_size: int = 64,
        concurrency: int = 4,
        timeout_s: float = 60.0,
    ) -> None:
        from .local import canonical_name

        self.url = base_url(url)
        self.model = model
        # The packaged model's aliases record one name, so a server of the same model makes
        # vectors the local model can query (and the other way round).
        self._name = canonical_name(model)
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.api_key = api_key
        self.calls = 0
        self._dimension: int | None = None
        self._lock = threading.Lock()
        self._client: Any = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def dtype(self) -> str:
        return SERVER

    @property
    def backend(self) -> str:
        return host_of(self.url)

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self.embed_array(["dimension"])
        assert self._dimension is not None
        return self._dimension

    def _openai(self) -> Any:
        with self._lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(
                    base_url=self.url, api_key=self.api_key or "none", timeout=self.timeout_s, max_retries=2
                )
            return self._client

    def embed_array(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        batches = [texts[start : start + self.batch_size] for start in range(0, len(texts), self.batch_size)]
        if len(batches) == 1:
            parts = [self._request(batches[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(batches))) as pool:
                parts = list(pool.map(self._request, batches))
        self.calls += len(texts)
        return np.concatenate(parts)

    def _request(self, batch: list[str]) -> np.ndarray:
        import openai

        try:
            response = self._openai().embeddings.create(model=self.model, input=batch, encoding_format="float")
        except openai.APIStatusError as exc:
            raise EmbeddingError(
                f"the embedding server {self.url} answered {exc.status_code}: {_message(exc)} (QA_EMBEDDINGS_URL)"
            ) from exc
        except openai.APITimeoutError as exc:
            raise EmbeddingError(
                f"the embedding server {self.url} did not answer within {self.timeout_s:g} s (QA_EMBEDDINGS_TIMEOUT_S)"
            ) from exc
        except openai.APIConnectionError as exc:
            raise EmbeddingError(f"the embedding server {self.url} is unreachable: {exc.__cause__ or exc}") from exc
        except (openai.OpenAIError, ValueError, TypeError) as exc:  # a body that is not an embeddings reply
            raise EmbeddingError(f"the embedding server {self.url} sent a reply that is not embeddings: {exc}") from exc
        rows = sorted(getattr(response, "data", None) or [], key=lambda item: item.index)
        if not rows and batch:
            raise EmbeddingError(
                f"the embedding server {self.url} sent a reply that is not embeddings: {response!r:.200}"
            )
        if len(rows) != len(batch):
            raise EmbeddingError(f"the embedding server {self.url} returned {len(rows)} vectors for {len(batch)} texts")
        try:
            vectors = np.asarray([row.embedding for row in rows], dtype=np.float32)
        except (ValueError, TypeError) as exc:
            raise EmbeddingError(f"the embedding server {self.url} sent vectors of different lengths") from exc
        self._check_dimension(vectors.shape[1] if vectors.ndim == 2 else 0)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if not np.all(np.isfinite(vectors)) or np.any(norms == 0):
            raise EmbeddingError(f"the embedding server {self.url} sent empty or non-finite vectors")
        return vectors / norms

    def _check_dimension(self, dimension: int) -> None:
        with self._lock:
            if self._dimension is None:
                self._dimension = dimension
        if dimension != self._dimension or dimension == 0:
            raise EmbeddingError(
                f"the embedding server {self.url} sent vectors of dimension {dimension}, "
                f"earlier ones had {self._dimension}"
            )


def _message(exc: Any) -> str:
    """The server's own error text, if it sent one in OpenAI's shape."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return str(getattr(exc, "message", exc))
