"""A real, misbehaving-on-request LLM HTTP server for tests.

Tests of the chat backends need a live socket (not mocks) so that the real clients
(openai / langchain-openai, ollama / langchain-ollama) exercise their own HTTP, SSE and
NDJSON parsing, timeouts and error mapping. The server speaks:

* the OpenAI API: ``GET /v1/models``, ``POST /v1/chat/completions`` (JSON or SSE);
* Ollama's native API: ``POST /api/chat`` (JSON or NDJSON), ``GET /api/tags``,
  ``POST /api/show``, ``GET /api/version``.

Usage::

    with LLMServer() as server:
        server.reply = "Paris is the capital."      # or callable(request_json) -> str
        server.mode = "cut_stream"                   # see MODES
        server.mix = {"ok": 3, "http_500": 1}        # or: each request draws a mode
        ChatOpenAI(base_url=server.openai_base_url, ...)
        ChatOllama(base_url=server.url, ...)
        server.chat_requests                         # what the client sent, attempt count
        server.stalls_completed                      # stalls ("slow" modes) that ran their course

Streaming bodies use ``Transfer-Encoding: chunked`` like the real services, so an abrupt
close (``cut_stream``) is a transport error for the client, while ``truncated_stream``
ends the HTTP body cleanly but leaves out the protocol's end marker (``[DONE]`` /
``finish_reason`` for OpenAI, ``"done": true`` for Ollama).
"""

from __future__ import annotations

import json
import random
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | Callable[[dict[str, Any]], str]

#: Behaviours selectable through ``LLMServer.mode``.
MODES = frozenset(
    {
        "ok",  # normal answer
        "http_500",  # error status with an error JSON body
        "http_401",
        "http_429",
        "slow",  # wait delay_s before sending anything (not even headers)
        "slow_stream",  # stream: first chunk at once, then delay_s before every further chunk
        "drop",  # read the request, close the connection without any response
        "cut_stream",  # stream: a few valid chunks, then close without ending the HTTP body
        "truncated_stream",  # stream: a few valid chunks, clean HTTP end, but no end marker
        "malformed_stream",  # stream: a few valid chunks, then a line that is not JSON
        "malformed_json",  # 200 with a body that is not JSON (streaming requests too)
    }
)

_CHAT_PATHS = ("/v1/chat/completions", "/api/chat")
_BROKEN_STREAMS = frozenset({"cut_stream", "truncated_stream", "malformed_stream"})

_OLLAMA_DETAILS = {
    "format": "gguf",
    "family": "test",
    "families": ["test"],
    "parameter_size": "1B",
    "quantization_level": "Q4_0",
}

_ERRORS: dict[int, tuple[str, str, str | None]] = {
    # status -> (message, OpenAI error type, OpenAI error code), like the real API sends
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
}


def split_reply(text: str) -> list[str]:
    """Words with their following whitespace, so a streaming client sees several deltas
    that join back to exactly ``text``."""
    return re.findall(r"\S+\s*|\s+", text)


class _Aborted(Exception):
    """The server is closing: a sleeping handler stops and drops its connection."""


class _ReplyError(Exception):
    """The test's reply callable failed; answered as a 500 so the test sees why."""


class _HTTPServer(ThreadingHTTPServer):
    """Tracks open connections so ``close()`` can cut idle keep-alive ones at once."""

    daemon_threads = True  # close() never waits for a handler thread

    def __init__(self, owner: LLMServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up on a misbehaving server is expected; real bugs still print."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, chunked streaming, like the real services
    server: _HTTPServer
    timeout = 60  # an idle keep-alive connection does not pin a thread forever

    # -- plumbing -----------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        # small SSE/NDJSON writes must not wait on Nagle + delayed ACK (~40 ms each)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass  # the peer (or close()) already tore the socket down

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence per-request logging on stderr."""

    @property
    def owner(self) -> LLMServer:
        return self.server.owner

    def _wait(self, seconds: float) -> None:
        """Sleep that ``LLMServer.close()`` interrupts; one that runs its course is counted."""
        if self.owner._stop.wait(seconds):
            raise _Aborted
        self.owner._stall_completed()

    def _send_json(self, status: int, body: Any) -> None:
        self._send_bytes(status, json.dumps(body).encode(), "application/json")

    def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        """One HTTP chunk, flushed so the client sees it now."""
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _hang_up(self) -> None:
        """Close after whatever was written: no terminating chunk, no further requests."""
        self.close_connection = True
        self.wfile.flush()

    def _read_json(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            parsed = json.loads(raw)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else {"_body": parsed}

    # -- dispatch -----------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch(None)

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch(self._read_json())

    def _dispatch(self, body: dict[str, Any] | None) -> None:
        self.mode = self.owner.pick_mode()  # this request's behaviour (random when ``mix`` is set)
        path = self.path.split("?", 1)[0]
        self.owner._record(path, {k.lower(): v for k, v in self.headers.items()}, body)
        routes: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
            ("GET", "/v1/models"): self._openai_models,
            ("POST", "/v1/chat/completions"): self._openai_chat,
            ("POST", "/api/chat"): self._ollama_chat,
            ("GET", "/api/tags"): self._ollama_tags,
            ("POST", "/api/show"): self._ollama_show,
            ("GET", "/api/version"): self._ollama_version,
        }
        route = routes.get((self.command, path))
        try:
            if route is None:
                self._send_json(
                    404,
                    {
                        "error": {
                            "message": f"no route {self.command} {path}",
                            "type": "invalid_request_error",
                            "code": None,
                        }
                    },
                )
                return
            route(body or {})
        except _ReplyError as error:
            message = f"reply callable failed: {error.__cause__!r}"
            self._send_json(500, {"error": {"message": message, "type": "server_error", "code": None}})
        except (_Aborted, OSError):
            # close() interrupted a wait, or the client hung up mid-response
            self.close_connection = True

    # -- shared misbehaviour --------------------------------------------------------------

    def _misbehave_before_response(self, ollama: bool) -> bool:
        """Modes that act before any byte of the answer; True when the response is done."""
        mode = self.mode
        if mode == "drop":
            self._hang_up()
            return True
        if mode.startswith("http_"):
            status = int(mode.removeprefix("http_"))
            message, kind, code = _ERRORS[status]
            if ollama:
                self._send_json(status, {"error": message})
            else:
                self._send_json(status, {"error": {"message": message, "type": kind, "code": code}})
            return True
        if mode == "slow":
            self._wait(self.owner.delay_s)
        if mode == "malformed_json":
            self._send_bytes(200, b"{not json at all", "application/json")
            return True
        return False

    def _send_whole(self, body: dict[str, Any]) -> None:
        """Non-streaming answer; stream-only modes degrade to their nearest one-shot form."""
        mode = self.mode
        if mode == "slow_stream":
            self._wait(self.owner.delay_s)
        if mode == "malformed_stream":
            self._send_bytes(200, b"{not json at all", "application/json")
            return
        data = json.dumps(body).encode()
        if mode in ("cut_stream", "truncated_stream"):
            # announce the full length, send half, hang up: a truncated body
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self._hang_up()
            return
        self._send_bytes(200, data, "application/json")

    def _stream(self, head: list[bytes], body: list[bytes], tail: list[bytes], content_type: str) -> None:
        """Send ``head`` + ``body`` + ``tail`` as flushed HTTP chunks, applying the modes.

        ``body`` holds the content events; the *_stream modes misbehave after
        ``owner.cut_after`` of them (or after all of them, for a short reply), and
        "slow_stream" sends ``head`` and the first content event at once, then stalls
        before every further event.
        """
        owner = self.owner
        mode = self.mode
        self._start_chunked(content_type)
        for event in head:
            self._chunk(event)
        for index, event in enumerate(body):
            if index == owner.cut_after and mode in _BROKEN_STREAMS:
                break
            if index >= 1 and mode == "slow_stream":
                self._wait(owner.delay_s)
            self._chunk(event)
        if mode == "cut_stream":
            self._hang_up()
            return
        if mode == "truncated_stream":
            self._end_chunked()
            return
        if mode == "malformed_stream":
            self._chunk(b"data: {not json\n\n" if content_type == "text/event-stream" else b"{not json\n")
            self._end_chunked()
            return
        for event in tail:
            if mode == "slow_stream":
                self._wait(owner.delay_s)
            self._chunk(event)
        self._end_chunked()

    # -- OpenAI -------------------------------------------------------------------------

    def _openai_models(self, _body: dict[str, Any]) -> None:
        models = [{"id": name, "object": "model", "created": 0, "owned_by": "tests"} for name in self.owner.models]
        self._send_json(200, {"object": "list", "data": models})

    def _openai_chat(self, body: dict[str, Any]) -> None:
        if self._misbehave_before_response(ollama=False):
            return
        owner = self.owner
        text = owner._reply_for(body)
        pieces = split_reply(text)
        model = str(body.get("model") or "test")
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        usage = {
            "prompt_tokens": _prompt_tokens(body),
            "completion_tokens": len(pieces),
            "total_tokens": _prompt_tokens(body) + len(pieces),
        }
        if not body.get("stream"):
            self._send_whole(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text, "refusal": None},
                            "logprobs": None,
                            "finish_reason": owner.finish_reason,
                        }
                    ],
                    "usage": usage,
                    "system_fingerprint": None,
                }
            )
            return

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": choices,
                **extra,
            }
            return b"data: " + json.dumps(payload).encode() + b"\n\n"

        def choice(delta: dict[str, Any], finish_reason: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        tail = [chunk(choice({}, owner.finish_reason))]
        if include_usage:
            tail.append(chunk([], usage=usage))
        tail.append(b"data: [DONE]\n\n")
        self._stream(
            [chunk(choice({"role": "assistant", "content": ""}))],
            [chunk(choice({"content": piece})) for piece in pieces],
            tail,
            "text/event-stream",
        )

    # -- Ollama -------------------------------------------------------------------------

    def _ollama_tags(self, _body: dict[str, Any]) -> None:
        models = []
        for name in self.owner.models:
            tagged = name if ":" in name else f"{name}:latest"
            models.append(
                {
                    "name": tagged,
                    "model": tagged,
                    "modified_at": _now(),
                    "size": 1,
                    "digest": "0" * 64,
                    "details": _OLLAMA_DETAILS,
                }
            )
        self._send_json(200, {"models": models})

    def _ollama_show(self, _body: dict[str, Any]) -> None:
        self._send_json(
            200,
            {
                "modelfile": "FROM test",
                "parameters": "",
                "template": "{{ .Prompt }}",
                "details": _OLLAMA_DETAILS,
                "model_info": {},
                "capabilities": ["completion"],
                "modified_at": _now(),
            },
        )

    def _ollama_version(self, _body: dict[str, Any]) -> None:
        self._send_json(200, {"version": "0.0.0-test"})

    def _ollama_chat(self, body: dict[str, Any]) -> None:
        if self._misbehave_before_response(ollama=True):
            return
        text = self.owner._reply_for(body)
        pieces = split_reply(text)
        model = str(body.get("model") or "test")
        final = {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": self.owner.finish_reason,
            "total_duration": 1_000_000,
            "load_duration": 1_000,
            "prompt_eval_count": _prompt_tokens(body),
            "prompt_eval_duration": 1_000,
            "eval_count": len(pieces),
            "eval_duration": 1_000,
        }
        if not body.get("stream", True):  # Ollama streams unless told not to
            self._send_whole({**final, "message": {"role": "assistant", "content": text}})
            return

        def line(payload: dict[str, Any]) -> bytes:
            return json.dumps(payload).encode() + b"\n"

        body_lines = [
            line(
                {
                    "model": model,
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": piece},
                    "done": False,
                }
            )
            for piece in pieces
        ]
        self._stream([], body_lines, [line(final)], "application/x-ndjson")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _prompt_tokens(body: dict[str, Any]) -> int:
    """A rough word count of the prompt, enough for plausible usage numbers."""
    words = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            words += len(content.split())
    return words


class LLMServer:
    """A live OpenAI- and Ollama-compatible chat server on 127.0.0.1 with a free port.

    Attributes tests set between requests:
        reply: the assistant text, or ``callable(request_json) -> str``.
        mode: one of ``MODES`` (validated on assignment).
        delay_s: stall length for "slow" and "slow_stream" (interrupted by ``close()``).
        cut_after: content chunks sent before the *_stream modes misbehave.
        models: model names listed by /v1/models and /api/tags (chat accepts any name).
    """

    def __init__(
        self,
        reply: Reply = "Hello from the test server.",
        mode: str = "ok",
        delay_s: float = 30.0,
        cut_after: int = 2,
    ) -> None:
        self.reply: Reply = reply
        self.mode = mode
        self.delay_s = delay_s
        self.cut_after = cut_after
        self.models: list[str] = ["test"]
        #: Why the answer ended, as the server reports it ("length": cut at the token limit).
        self.finish_reason = "stop"
        self.mix: dict[str, float] | None = None  # mode -> weight: each request draws its own mode
        self._random = random.Random(5)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._stalls_completed = 0
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="llm-test-server",
            daemon=True,
        )
        self._thread.start()

    # -- configuration --------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"unknown mode {value!r}; expected one of {sorted(MODES)}")
        self._mode = value

    def pick_mode(self) -> str:
        """``mode``, or a mode drawn from ``mix`` (seeded, so a run is reproducible)."""
        if not self.mix:
            return self._mode
        with self._lock:
            return self._random.choices(list(self.mix), weights=list(self.mix.values()))[0]

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for Ollama clients (ChatOllama ``base_url``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """Base URL for OpenAI clients (``base_url``)."""
        return self.url + "/v1"

    # -- what was received ------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of every request in arrival order.

        Each is {"path", "headers" (names lower-cased), "json" (parsed body or None),
        "received_s" (``time.monotonic()`` once the whole request was read)}.
        """
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Only the chat calls: their count is the number of attempts a client made."""
        return [r for r in self.requests if r["path"] in _CHAT_PATHS]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def stalls_completed(self) -> int:
        """How many stalls (``delay_s`` of "slow" / "slow_stream") ran their whole length: a
        client that gives up at its timeout leaves the server's stall unfinished."""
        with self._lock:
            return self._stalls_completed

    def _record(self, path: str, headers: dict[str, str], body: dict[str, Any] | None) -> None:
        with self._lock:
            self._requests.append({"path": path, "headers": headers, "json": body, "received_s": time.monotonic()})

    def _stall_completed(self) -> None:
        with self._lock:
            self._stalls_completed += 1

    def _reply_for(self, body: dict[str, Any]) -> str:
        reply = self.reply
        if not callable(reply):
            return reply
        try:
            return reply(body)
        except Exception as error:  # any test bug: reported to the client, not swallowed
            raise _ReplyError from error

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop serving now: wake sleeping handlers and cut open connections."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._httpd.shutdown()
        with self._httpd.connections_lock:
            open_connections = list(self._httpd.connections)
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its handler
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LLMServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
