"""Answers from any OpenAI-compatible chat server (OpenAI, vLLM, llama.cpp, LM Studio, Ollama's
/v1, ...) through langchain-openai.

No retries (max_retries=0): a failing server makes the engine fall back to the extractive answer
at once instead of hammering it; the end marker and total time are checked in `ChatBackend`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ...config import Settings
from ...errors import ConfigError
from .chat_model import ChatBackend

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

#: Sent when no key is configured: local servers want none, but the client insists on one.
PLACEHOLDER_API_KEY = "not-needed"
DEFAULT_URL = "https://api.openai.com/v1"


class OpenAIBackend(ChatBackend):
    """Backend protocol over langchain_openai.ChatOpenAI."""

    name = "openai"
    end_key = "finish_reason"
    server = "OpenAI-compatible server"
    unreachable_hint = "; is it running? (QA_OPENAI_BASE_URL / OPENAI_BASE_URL)"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        try:
            import langchain_openai  # noqa: F401 - fail now, with the fix, not on the first question
        except ImportError as exc:
            raise ConfigError(
                "the openai backend needs langchain-openai: pip install langchain-openai (or QA_BACKEND=extractive)"
            ) from exc
        self._base_url = settings.openai_base_url or os.environ.get("OPENAI_BASE_URL") or None

    @property
    def url(self) -> str:
        return self._base_url or DEFAULT_URL

    def _api_key(self) -> str:
        secret = self.settings.openai_api_key
        if secret is not None and secret.get_secret_value():
            return secret.get_secret_value()
        return os.environ.get("OPENAI_API_KEY") or PLACEHOLDER_API_KEY

    def _build(self) -> BaseChatModel:
        from langchain_openai import ChatOpenAI

        settings = self.settings
        return ChatOpenAI(
            base_url=self._base_url,
            api_key=self._api_key(),
            model=settings.openai_model,
            temperature=settings.temperature,
            timeout=settings.llm_timeout_s,
            max_retries=0,
            max_tokens=settings.max_answer_tokens,
        )

    def _close_model(self, model: BaseChatModel) -> None:
        """Nothing to close: langchain-openai shares one HTTP client per (base URL, timeout)
        across the process, so closing it would break every other ChatOpenAI using it."""

    def _describe_client_error(self, exc: Exception) -> str | None:
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return f"no answer within {self.settings.llm_timeout_s:g} s (timed out)"
        if isinstance(exc, openai.APIConnectionError):
            return None  # the httpx cause says whether it was refused, cut or malformed
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = exc.message
            if status in (401, 403):
                return (
                    f"the server rejected the API key (HTTP {status}); set OPENAI_API_KEY or QA_OPENAI_API_KEY"
                    f" ({detail})"
                )
            if status == 404:
                return (
                    f"not found (HTTP 404) at {self.url}: check the model name {self.settings.openai_model!r}"
                    f" (QA_OPENAI_MODEL) and the base URL ({detail})"
                )
            if status == 429:
                return f"rate limited (HTTP 429) ({detail})"
            if status >= 500:
                return f"server error (HTTP {status}) ({detail})"
            return f"the server refused the request (HTTP {status}) ({detail})"
        if isinstance(exc, openai.APIResponseValidationError):
            return f"malformed response from the {self.server} ({exc})"
        return None
