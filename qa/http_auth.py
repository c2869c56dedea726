"""Bearer-key checking for the HTTP servers (the OpenAI-compatible API, MCP over HTTP): the
server's own key `QA_API_KEY` and the users' keys of `QA_API_KEYS`, sent as
`Authorization: Bearer <key>`; wrong keys throttled per address; and the rule that a server
reachable from other machines must have a key."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .access.accounts import Users, load_users
from .access.keys import ApiKeys, load_api_keys
from .access.throttle import WINDOW_S, Throttle
from .config import Settings
from .errors import ConfigError

log = logging.getLogger(__name__)


USER_SCOPE_KEY = "qa.user"  # the ASGI scope entry where KeyAuth leaves the caller's user


def request_user(scope: Scope) -> str | None:
    """The user a request's key stands for; None: the server's own key, or no key needed (the
    machine's owner, who sees every collection)."""
    return scope.get(USER_SCOPE_KEY)


class KeyAuth:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <key>`, either the
    server's own `key` (QA_API_KEY: its owner, who sees every collection) or one of `keys`
    (QA_API_KEYS: it stands for its user, left in the scope for `request_user`). Else the answer
    is `unauthorized()` (a 401 with `WWW-Authenticate: Bearer`); an address that sent wrong keys
    too often lately gets `too_many(seconds)` (a 429) without its key being tried.

    Keys are compared as SHA-256 digests with hmac.compare_digest, so the time taken does not
    depend on where (or whether, by length) the given key differs."""

    def __init__(
        self,
        app: ASGIApp,
        key: str | None,
        unauthorized: Callable[[], Response],
        keys: ApiKeys | None = None,
        throttle: Throttle | None = None,
        too_many: Callable[[int], Response] | None = None,
    ) -> None:
        self.app = app
        self._digest = hashlib.sha256(key.encode()).digest() if key is not None else None
        self._keys = keys
        self._unauthorized = unauthorized
        self._throttle = throttle
        self._too_many = too_many

    def caller(self, scope: Scope) -> tuple[bool, str | None]:
        """(whether the key is right, the user it stands for)."""
        scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
        token = token.strip()
        bearer = scheme.lower() == "bearer"
        given = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        own = self._digest is not None and hmac.compare_digest(given, self._digest)
        user = self._keys.user_of(token) if self._keys is not None else None
        return bearer and (own or user is not None), None if own else user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else None
        if self._throttle is not None and self._too_many is not None:
            wait = self._throttle.retry_after(None, address)
            if wait > 0:
                await self._too_many(wait)(scope, receive, send)
                return
        right, user = self.caller(scope)
        if not right:
            if self._throttle is not None:
                log.info("wrong API key from %s", address)
                self._throttle.failed(None, address)
            await self._unauthorized()(scope, receive, send)
            return
        scope[USER_SCOPE_KEY] = user
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class ServerAccess:
    """Who may call an HTTP server: its own key, the users' keys, and (only when keys stand for
    users) the QA_AUTH users whose grants the engines then apply."""

    key: str | None
    keys: ApiKeys | None
    users: Users | None
    max_failures: int

    @property
    def needs_key(self) -> bool:
        return self.key is not None or self.keys is not None

    def guard_options(
        self, unauthorized: Callable[[], Response], too_many: Callable[[int], Response]
    ) -> dict[str, Any]:
        """KeyAuth's options (but the app) for this server."""
        throttle = Throttle(self.max_failures, WINDOW_S, "API key")
        return {
            "key": self.key,
            "unauthorized": unauthorized,
            "keys": self.keys,
            "throttle": throttle,
            "too_many": too_many,
        }


def server_access(settings: Settings) -> ServerAccess:
    """QA_API_KEY, QA_API_KEYS and (with the latter) QA_AUTH, read and checked."""
    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    if key is not None and not key.strip():
        raise ConfigError("QA_API_KEY is empty: set a key, or unset it to serve without one")
    users = None
    if settings.api_keys is not None:
        users = load_users(settings.auth.get_secret_value() if settings.auth else None, settings.admins)
    keys = load_api_keys(settings.api_keys, users)
    return ServerAccess(key=key, keys=keys, users=users, max_failures=settings.max_failed_logins)


def is_loopback(host: str) -> bool:
    """Does binding `host` keep the server to this machine?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
