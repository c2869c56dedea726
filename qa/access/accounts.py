"""Who may log in (QA_AUTH), who manages documents (QA_ADMINS, ":admin"), and which collections
each user may see (the file's `group` and `grant` lines).

QA_AUTH is either inline entries separated by commas, or the path of a file with one entry per
line (blank lines and lines starting with # ignored). A user entry, in both forms:

    user:password[:admin]

The user name ends at the first ":" and holds no whitespace; a trailing ":admin" marks an admin;
everything between is the password, so a password may contain ":" (but not end in ":admin", and
inline not contain ","). A password written "sha256:<64 hex digits>" is the SHA-256 of the real
password (so the file need not hold it in clear; unsalted, so still keep the file private).

The file form may also say who sees which collections:

    group finance: alice, bob          a group and its members (users of this file)
    grant finance: reports, budget     collections for a group or a user ("*": every one)
    grant carol: default

Without any `grant` line every user sees every collection (as before collections had owners).
With one, a user sees only the collections granted to them or to a group they are in, and those
they created in the app (their owner); admins are no exception: grant them "*".

QA_ADMINS is a comma-separated list of user names. Admins are those it names plus those marked
":admin"; when neither names anyone, every user is an admin, so a single-user setup can manage
its documents. An admin manages the documents of the collections they see.

Errors name the line (or inline entry) number and never echo a password.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config import COLLECTION_NAME
from ..errors import ConfigError

log = logging.getLogger(__name__)

HASH_PREFIX = "sha256:"
EVERY_COLLECTION = "*"
_ADMIN_MARK = ":admin"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_COLLECTION = re.compile(COLLECTION_NAME)
_DIRECTIVE = re.compile(r"^(group|grant)\s+([^\s:]+)\s*:(.*)$")
# Compared against when the user is unknown, so that answer takes as long as a wrong password.
_DUMMY_DIGEST = hashlib.sha256(b"qa-auth-unknown-user").digest()
# Values that are clearly meant as a file path: a missing file must not be read as "user:password".
_PATH_LIKE = re.compile(r"^(?:/|\./|\.\./|~|[A-Za-z]:[\\/])")


def hash_password(password: str) -> str:
    """The "sha256:<hex>" form of a password, to write into QA_AUTH instead of the password."""
    return HASH_PREFIX + hashlib.sha256(password.encode()).hexdigest()


def _expected_digest(stored: str) -> bytes:
    if stored.startswith(HASH_PREFIX):
        return bytes.fromhex(stored[len(HASH_PREFIX) :])
    return hashlib.sha256(stored.encode()).digest()


@dataclass(frozen=True)
class Users:
    """The accounts allowed to log in and what each may see. `check` fits Gradio's `auth=`."""

    passwords: dict[str, str]  # user -> password, or "sha256:<hex>" of it
    admins: frozenset[str]
    #: user -> the collections granted to them or their groups ("*": every one); empty: no grants
    grants: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def restricted(self) -> bool:
        """Whether the file grants collections (else every user sees every collection)."""
        return bool(self.grants)

    def check(self, username: str, password: str) -> bool:
        """True when the password is right, in time independent of where it differs.

        Both sides are compared as SHA-256 digests with hmac.compare_digest, so not even the
        password's length shows; an unknown user is compared against a dummy digest too.
        """
        text = password if isinstance(password, str) else ""
        given = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        stored = self.passwords.get(username) if isinstance(username, str) and isinstance(password, str) else None
        if stored is None:
            hmac.compare_digest(given, _DUMMY_DIGEST)
            return False
        return hmac.compare_digest(given, _expected_digest(stored))

    def is_admin(self, username: str | None) -> bool:
        """Whether this logged-in user may add and remove documents."""
        return username is not None and username in self.admins

    def may_see(self, username: str | None, collection: str, owner: str | None = None) -> bool:
        """Whether `username` may ask, search, list and read collection `collection` (whose
        creator was `owner`). Nobody logged in sees nothing."""
        if username is None or username not in self.passwords:
            return False
        if not self.restricted or owner == username:
            return True
        granted = self.grants.get(username, frozenset())
        return EVERY_COLLECTION in granted or collection in granted

    def __repr__(self) -> str:  # keep passwords out of logs and tracebacks
        return f"Users(users={sorted(self.passwords)}, admins={sorted(self.admins)}, grants={len(self.grants)})"


def _parse_entry(entry: str, where: str) -> tuple[str, str, bool]:
    """(user, password, marked admin) of one "user:password[:admin]" entry."""
    if ":" not in entry:
        raise ConfigError(f"QA_AUTH {where}: expected user:password (or the path of an existing file)")
    user, _, password = entry.partition(":")
    user = user.strip()
    admin = password.endswith(_ADMIN_MARK)
    if admin:
        password = password[: -len(_ADMIN_MARK)]
    password = password.strip()
    if not user:
        raise ConfigError(f"QA_AUTH {where}: empty user name")
    if any(char.isspace() for char in user):
        raise ConfigError(f"QA_AUTH {where}: a user name holds no spaces ({user!r})")
    if not password:
        raise ConfigError(f"QA_AUTH {where}: empty password for user {user!r}")
    if password.startswith(HASH_PREFIX) and not _HEX64.fullmatch(password[len(HASH_PREFIX) :]):
        raise ConfigError(f"QA_AUTH {where}: a sha256: password must be 64 hex digits (user {user!r})")
    return user, password, admin


def _entries(auth: str) -> tuple[list[tuple[str, str]], str]:
    """(where, entry) pairs from the file QA_AUTH names, or from the inline value; and its source."""
    path = Path(auth).expanduser()
    if os.path.isfile(path):
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConfigError(f"QA_AUTH file {path} cannot be read: {reason}") from exc
        entries = [
            (f"line {number}", line.strip())
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
        return entries, f"file {path}"
    if os.path.exists(path):
        raise ConfigError(f"QA_AUTH names {path}, which is not a file")
    if _PATH_LIKE.match(auth.strip()):
        raise ConfigError(f"QA_AUTH file {path} does not exist")
    parts = [part.strip() for part in auth.split(",")]
    return [(f"entry {number}", part) for number, part in enumerate(parts, start=1) if part], "inline value"


@dataclass
class _Directives:
    """The file's `group` and `grant` lines, checked against its users once all are read."""

    groups: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # group -> (where, members)
    grants: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (where, who, collections)

    def add(self, kind: str, name: str, rest: str, where: str) -> None:
        items = [item.strip() for item in rest.split(",") if item.strip()]
        if kind == "group":
            if name in self.groups:
                raise ConfigError(f"QA_AUTH {where}: group {name!r} already defined at {self.groups[name][0]}")
            self.groups[name] = (where, items)
            return
        for item in items:
            if item != EVERY_COLLECTION and not _COLLECTION.match(item):
                raise ConfigError(f"QA_AUTH {where}: {item!r} is not a collection name")
        if not items:
            raise ConfigError(f"QA_AUTH {where}: grant {name!r} names no collection")
        self.grants.append((where, name, items))

    def resolve(self, users: set[str]) -> dict[str, frozenset[str]]:
        """user -> granted collections, through their groups."""
        members: dict[str, set[str]] = {}
        for group, (where, names) in self.groups.items():
            if group in users:
                raise ConfigError(f"QA_AUTH {where}: {group!r} is a user name and cannot also be a group")
            for name in names:
                if name not in users:
                    raise ConfigError(f"QA_AUTH {where}: group {group!r} names {name!r}, who is not a user")
            members[group] = set(names)
        granted: dict[str, set[str]] = {}
        for where, who, items in self.grants:
            if who in users:
                receivers = {who}
            elif who in members:
                receivers = members[who]
            else:
                raise ConfigError(f"QA_AUTH {where}: grant names {who!r}, neither a user nor a group")
            for user in receivers:
                granted.setdefault(user, set()).update(items)
        if self.grants:  # a user granted nothing is listed too: restricted means restricted
            for user in users:
                granted.setdefault(user, set())
        return {user: frozenset(items) for user, items in granted.items()}


def load_users(auth: str | None, admins: str | None = None) -> Users | None:
    """The users QA_AUTH (`auth`) and QA_ADMINS (`admins`) describe; None when login is off.

    Raises ConfigError on a malformed entry, a user or group listed twice, a grant to nobody, an
    unreadable file, an admin name that is not a user, or QA_ADMINS set without QA_AUTH (it
    would protect nothing).
    """
    admin_names = [name.strip() for name in (admins or "").split(",") if name.strip()]
    if auth is None or not auth.strip():
        if admin_names:
            raise ConfigError("QA_ADMINS is set but QA_AUTH is not: without login there are no users to restrict")
        return None
    entries, source = _entries(auth)
    passwords: dict[str, str] = {}
    seen_at: dict[str, str] = {}
    marked: set[str] = set()
    directives = _Directives()
    for where, entry in entries:
        directive = _DIRECTIVE.match(entry)
        if directive is not None:
            if source == "inline value":
                raise ConfigError(f"QA_AUTH {where}: groups and grants go in a QA_AUTH file, one per line")
            directives.add(directive.group(1), directive.group(2), directive.group(3), where)
            continue
        user, password, admin = _parse_entry(entry, where)
        if user in passwords:
            raise ConfigError(f"QA_AUTH {where}: user {user!r} already defined at {seen_at[user]}")
        passwords[user] = password
        seen_at[user] = where
        if admin:
            marked.add(user)
    if not passwords:
        raise ConfigError(f"QA_AUTH ({source}) defines no users")
    grants = directives.resolve(set(passwords))
    unknown = sorted(set(admin_names) - set(passwords))
    if unknown:
        raise ConfigError(f"QA_ADMINS names {', '.join(map(repr, unknown))}, not among the QA_AUTH users")
    chosen = marked | set(admin_names)
    users = Users(passwords=passwords, admins=frozenset(chosen or passwords), grants=grants)
    log.info(
        "login required: %d user(s) from the QA_AUTH %s, %s; %s",
        len(passwords),
        source,
        "all admins" if not chosen else f"admins: {', '.join(sorted(chosen))}",
        "collections as granted" if grants else "every user sees every collection",
    )
    return users
