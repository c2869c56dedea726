"""API keys that stand for users (QA_API_KEYS), for the HTTP servers (OpenAI-compatible API, MCP).

The file holds one key per line, then the user it stands for, separated by a comma or spaces:

    # key, user
    3f9c...e1, alice
    sha256:<64 hex digits>, bob        the SHA-256 of the key, so the file need not hold it

Blank lines and lines starting with # are ignored. A request with a key sees what its user may
see (their QA_AUTH grants). A key is at least 16 characters: a shorter one could be guessed.
Errors name the line and never echo a key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from .accounts import HASH_PREFIX, Users

MIN_KEY_CHARS = 16
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_LINE = re.compile(r"^(\S+?)\s*[,\s]\s*(\S+)$")


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class ApiKeys:
    """Key digests and the user each stands for. `user_of` compares in constant time per key."""

    users: dict[bytes, str]  # sha256(key) -> user

    def user_of(self, key: str) -> str | None:
        """The user `key` stands for, or None for a wrong key."""
        given = digest(key)
        found = None
        for known, user in self.users.items():  # every key compared: the time does not tell which
            if hmac.compare_digest(given, known):
                found = user
        return found

    def __repr__(self) -> str:  # keys stay out of logs and tracebacks
        return f"ApiKeys(users={sorted(set(self.users.values()))})"


def load_api_keys(path: Path | None, users: Users | None) -> ApiKeys | None:
    """The keys of file `path` (None: no such file configured). With login users (`users`), every
    key's user must be one of them, so its grants apply; raises ConfigError naming the line."""
    if path is None:
        return None
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"QA_API_KEYS file {path} cannot be read: {reason}") from exc
    found: dict[bytes, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ConfigError(f"QA_API_KEYS line {number}: expected 'key, user'")
        key, user = match.group(1).rstrip(","), match.group(2)
        if key.startswith(HASH_PREFIX):
            if not _HEX64.fullmatch(key[len(HASH_PREFIX) :]):
                raise ConfigError(f"QA_API_KEYS line {number}: a sha256: key must be 64 hex digits")
            known = bytes.fromhex(key[len(HASH_PREFIX) :])
        elif len(key) < MIN_KEY_CHARS:
            raise ConfigError(f"QA_API_KEYS line {number}: a key has at least {MIN_KEY_CHARS} characters")
        else:
            known = digest(key)
        if known in found:
            raise ConfigError(f"QA_API_KEYS line {number}: this key is listed already")
        if users is not None and user not in users.passwords:
            raise ConfigError(f"QA_API_KEYS line {number}: user {user!r} is not a QA_AUTH user")
        found[known] = user
    if not found:
        raise ConfigError(f"QA_API_KEYS file {path} holds no keys")
    return ApiKeys(users=found)
