"""What the LLM backends share: prompt building, the streaming loop with its end-of-stream and
total-time checks, and the translation of transport failures into BackendError.

The client libraries accept a stream that ends cleanly without its end marker as a short answer,
and their timeouts are per read, so a server that trickles a token every few seconds would never
time out; both are checked here. Each failure becomes one BackendError naming the backend and the
cause, so the engine can fall back and tell the user why.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ...config import Settings
from ...errors import BackendError, ConfigError, QAError
from ...types import Message
from ..prompting import ChatMessages, answer_messages, clean_condensed, condense_messages, fit_passages
from .base import GenerationRequest

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

logger = logging.getLogger(__name__)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it was raised from: langchain wraps openai errors, which wrap httpx ones."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _httpx_errors(name: str) -> tuple[type[BaseException], ...]:
    """`name` exception classes of every httpx flavour in use: ollama uses httpx, openai its fork
    httpx2. Only already imported modules are looked at; an error from one means it is loaded."""
    found = []
    for module_name in ("httpx", "httpx2"):
        module = sys.modules.get(module_name)
        error = getattr(module, name, None) if module is not None else None
        if isinstance(error, type) and issubclass(error, BaseException):
            found.append(error)
    return tuple(found)


def describe_transport_error(exc: BaseException, server: str, url: str, timeout_s: float, hint: str = "") -> str | None:
    """A message for a network, timeout or parse failure anywhere in `exc`'s chain, else None."""
    timeouts = (TimeoutError, *_httpx_errors("TimeoutException"))
    refused = (ConnectionRefusedError, *_httpx_errors("ConnectError"))
    broken = (ConnectionError, *_httpx_errors("RemoteProtocolError"), *_httpx_errors("NetworkError"))
    for cause in _causes(exc):
        if isinstance(cause, timeouts):
            return f"no answer within {timeout_s:g} s (timed out: {type(cause).__name__})"
        if isinstance(cause, refused):
            return f"cannot reach the {server} at {url} ({cause or type(cause).__name__}){hint}"
        if isinstance(cause, broken):
            return (
                f"the {server} at {url} closed the connection before the answer was complete "
                f"({cause or type(cause).__name__})"
            )
        if isinstance(cause, json.JSONDecodeError):
            return f"malformed response from the {server} (not JSON: {cause})"
    return None


def message_text(message: BaseMessage) -> str:
    """The text of a message or chunk (content may be a list of blocks)."""
    content = message.content
    if isinstance(content, str):
        return content
    return message.text


class ChatBackend:
    """Backend protocol over a langchain chat model. Subclasses say how to build the model, what
    the end marker is called, and what their client's own exceptions mean."""

    name: str = "llm"
    #: response_metadata key the final chunk carries (finish_reason, done_reason)
    end_key: str = "finish_reason"
    #: what the server is called in messages
    server: str = "server"
    #: appended to "cannot reach ...": what to check
    unreachable_hint: str = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._model: BaseChatModel | None = None
        self._lock = threading.Lock()

    # -- to override -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _build(self) -> BaseChatModel:
        """The chat model; called once per backend, so connections are reused."""
        raise NotImplementedError

    def _describe_client_error(self, exc: Exception) -> str | None:
        """A message for an exception of the client library, or None when it is not one."""
        return None

    def _close_model(self, model: BaseChatModel) -> None:
        """Close the HTTP client under `model`."""

    def _condense_kwargs(self) -> dict[str, Any]:
        """Extra invoke() arguments that make the condense call non-streaming."""
        return {}

    # -- shared ------------------------------------------------------------------------------

    @property
    def model(self) -> BaseChatModel:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    try:
                        self._model = self._build()
                    except (ValueError, TypeError) as exc:  # pydantic validation of the settings
                        raise ConfigError(f"{self.name}: cannot create the client: {exc}") from exc
        return self._model

    def close(self) -> None:
        """Release the client's pooled connections (a settings change, tests); the backend
        stays usable and builds a new client on its next call."""
        with self._lock:
            model, self._model = self._model, None
        if model is not None:
            self._close_model(model)

    def _error(self, exc: Exception) -> BackendError:
        """One BackendError naming the backend and the cause of `exc`."""
        reason = self._describe_client_error(exc) or describe_transport_error(
            exc, self.server, self.url, self.settings.llm_timeout_s, self.unreachable_hint
        )
        if reason is None:
            if isinstance(exc, ValueError):
                reason = f"malformed response from the {self.server} ({exc})"
            else:
                logger.warning("%s: unexpected error from the client", self.name, exc_info=exc)
                reason = f"request failed: {type(exc).__name__}: {exc}"
        return BackendError(f"{self.name}: {reason}")

    def _incomplete(self) -> BackendError:
        return BackendError(
            f"{self.name}: the stream ended before the answer was complete (no {self.end_key} from the {self.server})"
        )

    def answer_prompt(self, request: GenerationRequest) -> ChatMessages:
        """The chat messages for `request`, with passages fitted to settings.context_tokens."""
        settings = self.settings
        passages = fit_passages(request.passages, settings.context_tokens, settings.tokenizer)
        if passages != list(request.passages):
            logger.info(
                "%s: %d of %d passages fit (the last one cut if needed) the %d-token context budget",
                self.name,
                len(passages),
                len(request.passages),
                settings.context_tokens,
            )
        return answer_messages(request.question, passages, request.history, encoding_name=settings.tokenizer)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Text deltas of the answer; BackendError on any failure, including a stream without
        its end marker, an empty answer, or one that runs past settings.llm_timeout_s in total.
        Text may have been yielded before the error: a caller that falls back discards it."""
        finish: list[str] = []
        yield from self.stream_messages(self.answer_prompt(request), finish)
        request.cut_off = finish == ["length"]

    def stream_messages(self, messages: ChatMessages, finish_out: list[str] | None = None) -> Iterator[str]:
        """Text deltas; the server's finish reason is appended to `finish_out` at the end."""
        timeout = self.settings.llm_timeout_s
        deadline = time.monotonic() + timeout
        finish: str | None = None
        produced = False
        chunks: Iterator[Any] | None = None
        try:
            chunks = self.model.stream(messages)
            for chunk in chunks:
                reason = chunk.response_metadata.get(self.end_key)
                if reason:
                    finish = str(reason)
                if finish is None and time.monotonic() > deadline:
                    raise BackendError(
                        f"{self.name}: no complete answer within {timeout:g} s (timed out while streaming)"
                    )
                text = message_text(chunk)
                if text:
                    produced = True
                    yield text
        except QAError:
            raise  # ours already: the total-time limit, or a ConfigError from building the client
        except Exception as exc:  # every client failure becomes a BackendError, cause chained
            raise self._error(exc) from exc
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # an abandoned stream releases its HTTP connection now, not at GC
        if finish is None:
            raise self._incomplete()
        if not produced:  # e.g. a reasoning model that spent max_answer_tokens thinking
            raise BackendError(f"{self.name}: the model returned an empty answer ({self.end_key}={finish})")
        if finish_out is not None:
            finish_out.append(finish)
        if finish == "length":
            logger.warning(
                "%s: the answer was cut at max_answer_tokens=%d (QA_MAX_ANSWER_TOKENS)",
                self.name,
                self.settings.max_answer_tokens,
            )

    def condense(self, question: str, history: Sequence[Message]) -> str:
        """`question` rewritten to stand alone by the model (one non-streaming call)."""
        messages = condense_messages(question, history, encoding_name=self.settings.tokenizer)
        try:
            reply = self.model.invoke(messages, **self._condense_kwargs())
        except QAError:
            raise
        except Exception as exc:  # every client failure becomes a BackendError, cause chained
            raise self._error(exc) from exc
        if not reply.response_metadata.get(self.end_key):
            raise self._incomplete()
        text = clean_condensed(message_text(reply))
        if not text:
            raise BackendError(f"{self.name}: the model returned an empty standalone question")
        return text
