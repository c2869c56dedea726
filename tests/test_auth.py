"""Login users from QA_AUTH / QA_ADMINS: both formats, admins, hashes, and errors that keep secrets."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from qa.access.accounts import Users, hash_password, load_users
from qa.errors import ConfigError


def test_no_auth_means_no_login() -> None:
    assert load_users(None) is None
    assert load_users("") is None
    assert load_users("   ") is None


def test_admins_without_auth_is_an_error() -> None:
    with pytest.raises(ConfigError, match="QA_AUTH is not"):
        load_users(None, "alice")


def test_inline_single_user_is_admin() -> None:
    users = load_users("alice:s3cret")
    assert users is not None
    assert users.check("alice", "s3cret")
    assert not users.check("alice", "wrong")
    assert not users.check("alice", "")
    assert not users.check("bob", "s3cret")
    assert users.is_admin("alice")
    assert not users.is_admin(None) and not users.is_admin("bob")


def test_inline_several_users_all_admins_by_default() -> None:
    users = load_users(" alice : pw1 , bob:pw:with:colons ,")
    assert users is not None
    assert set(users.passwords) == {"alice", "bob"}
    assert users.check("alice", "pw1")
    assert users.check("bob", "pw:with:colons")
    assert users.admins == frozenset({"alice", "bob"})


def test_qa_admins_restricts_admins() -> None:
    users = load_users("alice:pw1,bob:pw2,carol:pw3", "bob, carol")
    assert users is not None
    assert users.admins == frozenset({"bob", "carol"})
    assert not users.is_admin("alice")


def test_unknown_admin_name_raises() -> None:
    with pytest.raises(ConfigError, match="mallory"):
        load_users("alice:pw1", "alice,mallory")


def test_file_format_with_comments_and_admin_marks(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    path.write_text(
        "# team accounts\n\nalice:pw1:admin\n  bob:pa:ss:word  \n   # indented comment\ncarol:pw3\n", encoding="utf-8"
    )
    users = load_users(str(path))
    assert users is not None
    assert set(users.passwords) == {"alice", "bob", "carol"}
    assert users.check("alice", "pw1") and not users.check("alice", "pw1:admin")
    assert users.check("bob", "pa:ss:word")
    assert users.admins == frozenset({"alice"})


def test_admin_marks_and_qa_admins_combine(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    path.write_text("alice:pw1:admin\nbob:pw2\ncarol:pw3\n", encoding="utf-8")
    users = load_users(str(path), "carol")
    assert users is not None and users.admins == frozenset({"alice", "carol"})


def test_inline_admin_mark_too() -> None:
    users = load_users("alice:pw1:admin,bob:pw2")
    assert users is not None and users.admins == frozenset({"alice"})
    assert users.check("alice", "pw1")


def test_sha256_hashed_passwords(tmp_path: Path) -> None:
    digest = hashlib.sha256("correct horse".encode()).hexdigest()
    assert hash_password("correct horse") == f"sha256:{digest}"
    path = tmp_path / "users"
    umlaut = hash_password("p\u00e4ss")
    path.write_text(f"alice:sha256:{digest.upper()}:admin\nbob:{umlaut}\n", encoding="utf-8")
    users = load_users(str(path))
    assert users is not None
    assert users.check("alice", "correct horse")
    assert not users.check("alice", f"sha256:{digest}")  # the hash itself is not the password
    assert not users.check("alice", "correct horse ")
    assert users.check("bob", "p\u00e4ss")
    assert users.admins == frozenset({"alice"})


def test_bad_sha256_hash_is_rejected() -> None:
    with pytest.raises(ConfigError, match="64 hex digits"):
        load_users("alice:sha256:abc123")


def test_non_string_credentials_never_pass() -> None:
    users = Users(passwords={"alice": "None"}, admins=frozenset({"alice"}))
    assert not users.check("alice", None)  # type: ignore[arg-type]
    assert not users.check(None, "None")  # type: ignore[arg-type]


def test_repr_hides_passwords() -> None:
    users = load_users("alice:topsecret")
    assert "topsecret" not in repr(users) and "alice" in repr(users)


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("alice:pw1\nhunter2-no-colon\n", "line 2"),
        ("alice:pw1\n\n# c\n:hunter2\n", "line 4"),
        ("alice:\n", "line 1"),
        ("alice:hunter2x\nbob::admin\n", "line 2"),
        ("alice:hunter2\nalice:other\n", "line 2"),
        # groups and grants (tests/test_access.py has what they grant)
        ("alice:pw1\ngrant zoe: alpha\n", "line 2: grant names 'zoe', neither a user nor a group"),
        ("alice:pw1\ngroup team: alice, zoe\n", "line 2: group 'team' names 'zoe', who is not a user"),
        ("alice:pw1\ngroup alice: alice\n", "line 2: 'alice' is a user name and cannot also be a group"),
        ("alice:pw1\ngrant alice: Bad Name\n", "line 2: 'Bad Name' is not a collection name"),
        ("alice:pw1\ngrant alice:\n", "line 2: grant 'alice' names no collection"),
        ("alice:pw1\ngroup t: alice\ngroup t: alice\n", "line 3: group 't' already defined at line 2"),
        ("al ice:pw1\n", "line 1: a user name holds no spaces"),
    ],
)
def test_malformed_file_lines_name_the_line_not_the_password(tmp_path: Path, content: str, where: str) -> None:
    path = tmp_path / "users.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_users(str(path))
    message = str(caught.value)
    assert where in message
    for secret in ("hunter2", "pw1", "other"):
        assert secret not in message


@pytest.mark.parametrize("value", ["hunter2", "alice:pw1,hunter2", ":hunter2", "alice:pw,bob:"])
def test_malformed_inline_entries_raise_without_the_password(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_users(value)
    assert "hunter2" not in str(caught.value) and "pw1" not in str(caught.value)
    assert "entry" in str(caught.value)


def test_file_without_users_raises(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    path.write_text("# nobody yet\n\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no users"):
        load_users(str(path))


def test_unreadable_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    path.write_bytes(b"alice:\xff\xfe\xfa\n")  # not UTF-8
    with pytest.raises(ConfigError, match="cannot be read"):
        load_users(str(path))


def test_missing_file_path_or_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_users(str(tmp_path / "missing-users.txt"))
    with pytest.raises(ConfigError, match="not a file"):
        load_users(str(tmp_path))
