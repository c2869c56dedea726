"""Bearer-key checking for the HTTP servers (the OpenAI-compatible API, MCP over HTTP): one key,
`QA_API_KEY`, sent as `Authorization: Bearer <key>`, and the rule that a server reachable from
other machines must have one."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send


class BearerAuth:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <key>`, else the
    response `unauthorized()` makes (a 401 with `WWW-Authenticate: Bearer`).

    Both sides are compared as SHA-256 digests with hmac.compare_digest, so the time taken does
    not depend on where (or whether, by length) the given key differs."""

    def __init__(self, app: ASGIApp, key: str, unauthorized: Callable[[], Response]) -> None:
        self.app = app
        self._digest = hashlib.sha256(key.encode()).digest()
        self._unauthorized = unauthorized

    def authorized(self, scope: Scope) -> bool:
        scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
        given = hashlib.sha256(token.strip().encode("utf-8", "surrogatepass")).digest()
        matches = hmac.compare_digest(given, self._digest)
        return matches and scheme.lower() == "bearer"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.authorized(scope):
            await self._unauthorized()(scope, receive, send)
            return
        await self.app(scope, receive, send)


def is_loopback(host: str) -> bool:
    """Does binding `host` keep the server to this machine?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
