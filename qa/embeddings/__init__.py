"""Embedding: a local sentence-transformers model in the number format measured fastest on this
CPU (`local`, `calibration`), or an OpenAI-compatible embedding server (`remote`). Every stage
takes an `Embedder`; `embedder(settings)` picks the one the settings name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import LOCAL, Embedder
from .local import SentenceEmbeddings, canonical_name, resolve_model
from .remote import RemoteEmbeddings

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["LOCAL", "Embedder", "RemoteEmbeddings", "SentenceEmbeddings", "canonical_name", "embedder", "resolve_model"]


def embedder(settings: Settings) -> Embedder:
    """The embedder of these settings: the server of QA_EMBEDDINGS_URL, else the local model."""
    if settings.embeddings_url:
        return RemoteEmbeddings.from_settings(settings)
    return SentenceEmbeddings.from_settings(settings)
