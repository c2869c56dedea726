"""Answer backends: the LLM ones (one module each, chosen by `settings.backend`, built by
`get_backend`: two HTTP clients, and `local`, a small model run in this process) and the
extractive sentence picker, which the engine calls directly."""

from __future__ import annotations

from ...config import Settings
from ...errors import ConfigError
from .base import Backend, GenerationRequest


def get_backend(settings: Settings, name: str | None = None) -> Backend:
    """The backend named by `name` or settings.backend; each imports its client lazily."""
    match name or settings.backend:
        case "openai":
            from .openai_compatible import OpenAIBackend

            return OpenAIBackend(settings)
        case "ollama":
            from .ollama import OllamaBackend

            return OllamaBackend(settings)
        case "local":
            from .local_model import LocalBackend

            return LocalBackend(settings)
        case other:
            raise ConfigError(f"unknown backend {other!r} (QA_BACKEND): choose extractive, openai, ollama or local")


__all__ = ["Backend", "GenerationRequest", "get_backend"]
