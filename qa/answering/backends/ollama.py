"""Answers from a local Ollama server through its native API (langchain-ollama).

ChatOllama lets raw httpx / json errors escape and accepts a stream without `"done": true` as a
complete answer; `ChatBackend` maps the former and checks done_reason for the latter. The
timeout goes to the httpx client (client_kwargs), where ollama.Client passes it on.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ...config import Settings
from ...errors import ConfigError
from ..prompting import HISTORY_TOKENS
from .chat_model import ChatBackend

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

#: Rules, question (twice) and message framing around the passages and history, in tokens.
PROMPT_OVERHEAD_TOKENS = 600


def context_window(settings: Settings) -> int:
    """num_ctx that holds the whole prompt and the answer. Ollama's default window (2048-4096
    tokens) is smaller than a full prompt, and Ollama silently drops the start of a prompt that
    does not fit: the rules in the system message would be the first to go."""
    needed = settings.context_tokens + HISTORY_TOKENS + PROMPT_OVERHEAD_TOKENS + settings.max_answer_tokens
    return max(2048, 1024 * math.ceil(needed / 1024))


class OllamaBackend(ChatBackend):
    """Backend protocol over langchain_ollama.ChatOllama."""

    name = "ollama"
    end_key = "done_reason"
    server = "Ollama server"
    unreachable_hint = "; is `ollama serve` running? (QA_OLLAMA_URL)"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        try:
            import langchain_ollama  # noqa: F401 - fail now, with the fix, not on the first question
        except ImportError as exc:
            raise ConfigError(
                "the ollama backend needs langchain-ollama: pip install langchain-ollama (or QA_BACKEND=extractive)"
            ) from exc

    @property
    def url(self) -> str:
        return self.settings.ollama_url

    def _build(self) -> BaseChatModel:
        from langchain_ollama import ChatOllama

        settings = self.settings
        return ChatOllama(
            base_url=settings.ollama_url,
            model=settings.ollama_model,
            temperature=settings.temperature,
            num_predict=settings.max_answer_tokens,
            num_ctx=context_window(settings),
            client_kwargs={"timeout": settings.llm_timeout_s},
        )

    def _close_model(self, model: BaseChatModel) -> None:
        client = getattr(model, "_client", None)  # the ollama.Client holding the connection pool
        close = getattr(client, "close", None)
        if close is not None:
            close()

    def _condense_kwargs(self) -> dict[str, Any]:
        return {"stream": False}  # one JSON answer: the read timeout then bounds the whole call

    def _describe_client_error(self, exc: Exception) -> str | None:
        import ollama

        if isinstance(exc, ollama.ResponseError):
            status, detail = exc.status_code, exc.error
            model = self.settings.ollama_model
            if status in (401, 403):
                return f"the server rejected the request (HTTP {status}): {detail}; check QA_OLLAMA_URL"
            if status == 404:
                return f"model {model!r} not found (HTTP 404): {detail}; run `ollama pull {model}`"
            if status == 429:
                return f"rate limited (HTTP 429): {detail}"
            if status >= 500:
                return f"server error (HTTP {status}): {detail}"
            if status < 0:  # an error line inside a 200 stream
                return f"the server reported an error: {detail}"
            return f"the server refused the request (HTTP {status}): {detail}"
        if isinstance(exc, ConnectionError) and "Failed to connect to Ollama" in str(exc):
            # ollama.Client turns httpx.ConnectError into this, dropping the cause
            return f"cannot reach the {self.server} at {self.url} (connection failed){self.unreachable_hint}"
        return None
