"""The app's login, hardened around Gradio's: failed logins throttled per user and per address
(`LoginGuard`, an ASGI middleware in front of Gradio's POST /login), and sessions that expire
(`ExpiringTokens`, Gradio's token table with an age limit)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..access.throttle import Throttle

log = logging.getLogger(__name__)
_MAX_FORM_BYTES = 64 * 1024


class ExpiringTokens(dict[str, str]):
    """Gradio's `app.tokens` (session token -> user name) where a token older than `ttl_s` is gone:
    the next request with it is not logged in, and the page asks for the password again."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.ttl_s = ttl_s
        self._clock = clock
        self._born: dict[str, float] = {}

    def __setitem__(self, token: str, user: str) -> None:
        self._born[token] = self._clock()
        super().__setitem__(token, user)

    def __delitem__(self, token: str) -> None:
        self._born.pop(token, None)
        super().__delitem__(token)

    def _alive(self, token: object) -> bool:
        if not isinstance(token, str) or not super().__contains__(token):
            return False
        if self._clock() - self._born.get(token, 0.0) <= self.ttl_s:
            return True
        log.info("session of %s expired after %.1f h", super().__getitem__(token), self.ttl_s / 3600)
        del self[token]
        return False

    def __contains__(self, token: object) -> bool:
        return self._alive(token)

    def get(self, token: Any, default: Any = None) -> Any:  # Gradio reads the table with .get
        return super().__getitem__(token) if self._alive(token) else default


class LoginGuard:
    """ASGI middleware: a POST to /login by a user, or from an address, that failed too often
    lately is answered 429 with the minutes to wait, without trying the password; every other
    login goes to Gradio, and its answer (200 right, 400 wrong) is counted."""

    def __init__(self, app: ASGIApp, throttle: Throttle) -> None:
        self.app = app
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != "/login":
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > _MAX_FORM_BYTES:
                await _json(send, 413, {"detail": "Login form too large."})
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        form = parse_qs(b"".join(m.get("body", b"") for m in messages).decode("utf-8", "replace"))
        user = (form.get("username") or [""])[0].strip() or None
        client = scope.get("client")
        address = client[0] if client else None
        wait = self.throttle.retry_after(user, address)
        if wait > 0:
            log.warning("login refused for %r from %s: too many failed logins (wait %d s)", user, address, wait)
            minutes = max(1, round(wait / 60))
            detail = f"Too many failed logins: try again in {minutes} minute{'s' if minutes != 1 else ''}."
            await _json(send, 429, {"detail": detail}, {"retry-after": str(wait)})
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, replay, watch)
        if status and status[0] == 200:
            self.throttle.succeeded(user)
        elif status and status[0] in (400, 401):
            log.info("failed login for %r from %s", user, address)
            self.throttle.failed(user, address)


async def _json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
