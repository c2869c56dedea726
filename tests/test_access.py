"""Who may see what: QA_AUTH grants collections per user and group, QA_API_KEYS keys stand for
users, and every interface (the engines and the store under them, the OpenAI-compatible API, MCP
over HTTP, the LangChain retriever) shows a user only the collections granted to them. A
forbidden collection reads exactly as a missing one. Failed keys are throttled per address.

Three collections under one root: `default` (the seed article), `alpha` (a lighthouse note, for
alice and carol's team) and `beta` (a ferry note, for bob). Which passage answers does not depend
on the model: the hash double embeds."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from qa import load_settings
from qa.access.accounts import load_users
from qa.access.keys import load_api_keys
from qa.access.throttle import Throttle
from qa.answering.engine import Engine
from qa.answering.engines import EnginePool
from qa.config import Settings
from qa.errors import ConfigError, NoSuchCollection
from qa.http_auth import server_access
from qa.ingestion.pipeline import ingest
from qa.langchain import QARetriever, chain
from qa.mcp_server import create_server, http_app
from qa.openai_api import create_app
from qa.store import collections
from qa.types import Answer
from qa.web.auth import ExpiringTokens

from .conftest import SEEDS
from .doubles import HASH_THRESHOLDS, HashEmbeddings
from .test_api import running

LIGHTHOUSE = "The Zorblat lighthouse was painted violet by Mara Veltin in 1987."
LIGHTHOUSE_QUESTION = "Who painted the Zorblat lighthouse violet?"
FERRY = "The harbour ferry company named Ana Ruiz as its new captain on Tuesday."
FERRY_QUESTION = "Whom did the harbour ferry company name as its new captain?"
BANKS = "Which two Chinese banks restricted financing?"

USERS_FILE = """\
# users
alice:wonderland:admin
bob:builder
carol:secret
dave:nothing-granted
# who sees what
group team: alice, carol
grant team: alpha
grant bob: beta
grant carol: default
"""
KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef", "carol": "carol-key-0123456789abc"}
OWN_KEY = "the-servers-own-key-0123456789"
GRANTED = {"alice": {"alpha"}, "bob": {"beta"}, "carol": {"default", "alpha"}}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, hash_embeddings: HashEmbeddings) -> Path:
    base = tmp_path_factory.mktemp("access")
    ingest([SEEDS], load_settings(index_dir=base / "index"), embeddings=hash_embeddings)
    for name, text in (("alpha", f"Lighthouse log\n\n{LIGHTHOUSE}\n"), ("beta", f"Ferry news\n\n{FERRY}\n")):
        notes = base / f"{name}-notes"
        notes.mkdir()
        (notes / f"{name}.txt").write_text(text, encoding="utf-8")
        named = load_settings(index_dir=base / "index", collection=name)
        collections.ensure(named)
        ingest([notes], named, embeddings=hash_embeddings)
    (base / "users.txt").write_text(USERS_FILE, encoding="utf-8")
    lines = [f"{key}, {user}" for user, key in KEYS.items() if user != "carol"]
    lines.append(f"sha256:{hashlib.sha256(KEYS['carol'].encode()).hexdigest()} carol")  # hashed, space-separated
    (base / "keys.txt").write_text("# key, user\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return base / "index"


def settings(root: Path, **extra: Any) -> Settings:
    return load_settings(
        index_dir=root,
        auth=str(root.parent / "users.txt"),
        api_keys=root.parent / "keys.txt",
        api_key=OWN_KEY,
        **HASH_THRESHOLDS,
        **extra,
    )


@pytest.fixture(scope="module")
def pool(root: Path, hash_embeddings: HashEmbeddings) -> Iterator[EnginePool]:
    chosen = settings(root)
    engines = EnginePool(chosen, embeddings=hash_embeddings, users=server_access(chosen).users)
    yield engines
    engines.close()


# --- the user file and the keys file ----------------------------------------------------------


def test_grants_go_to_users_and_through_groups(root: Path) -> None:
    users = load_users(str(root.parent / "users.txt"))
    assert users is not None and users.restricted
    seen = {user: {name for name in ("default", "alpha", "beta") if users.may_see(user, name)} for user in GRANTED}
    assert seen == GRANTED
    assert not any(users.may_see("dave", name) for name in ("default", "alpha", "beta"))
    assert users.may_see("dave", "gamma", owner="dave") and not users.may_see("bob", "gamma", owner="dave")
    for nobody in (None, "", "mallory"):  # nobody logged in, or a name that is no user
        assert not users.may_see(nobody, "alpha") and not users.may_see(nobody, "alpha", owner=nobody)
    assert users.is_admin("alice") and not users.is_admin("carol")


def test_without_grants_everyone_sees_everything_and_star_grants_all(tmp_path: Path) -> None:
    open_users = load_users("alice:wonderland,bob:builder")
    assert open_users is not None and not open_users.restricted and open_users.may_see("bob", "anything")
    path = tmp_path / "users.txt"
    path.write_text("root:toor:admin\nbob:builder\ngrant root: *\n", encoding="utf-8")
    users = load_users(str(path))
    assert users is not None and users.may_see("root", "anything") and not users.may_see("bob", "default")


def test_grants_need_the_file_form() -> None:
    with pytest.raises(ConfigError, match="groups and grants go in a QA_AUTH file"):
        load_users("alice:pw,grant alice: alpha")


def test_api_keys_stand_for_users_and_keep_their_secret(root: Path, tmp_path: Path) -> None:
    users = load_users(str(root.parent / "users.txt"))
    keys = load_api_keys(root.parent / "keys.txt", users)
    assert keys is not None
    assert {user: keys.user_of(key) for user, key in KEYS.items()} == {user: user for user in KEYS}
    assert keys.user_of("wrong-key-0123456789") is None and keys.user_of("") is None
    assert KEYS["alice"] not in repr(keys)
    bad = {
        "short, alice\n": "line 1: a key has at least 16 characters",
        "k-0123456789abcdefgh, zoe\n": "line 1: user 'zoe' is not a QA_AUTH user",
        "k-0123456789abcdefgh, alice\nk-0123456789abcdefgh bob\n": "line 2: this key is listed already",
        "sha256:abc, alice\n": "line 1: a sha256: key must be 64 hex digits",
        "just-one-field-0123456789\n": "line 1: expected 'key, user'",
        "# nothing\n": "holds no keys",
    }
    for number, (content, message) in enumerate(bad.items()):
        path = tmp_path / f"keys-{number}.txt"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ConfigError, match=message) as raised:
            load_api_keys(path, users)
        assert "0123456789abcdefgh" not in str(raised.value)


def test_failures_are_throttled_per_user_and_per_address(caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    throttle = Throttle(limit=3, window_s=60, what="login", clock=lambda: now[0])
    for _ in range(2):
        throttle.failed("bob", "10.0.0.7")
    assert throttle.retry_after("bob", "10.0.0.7") == 0
    with caplog.at_level(logging.WARNING, logger="qa.access.throttle"):
        throttle.failed("bob", "10.0.0.7")
    assert "login: 3 failed attempts in 1 min for user:bob" in caplog.text
    assert throttle.retry_after("bob", "10.0.0.8") == 60  # bob from anywhere
    assert throttle.retry_after("alice", "10.0.0.7") == 0  # the address has 4x the allowance
    for user in ("u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"):
        throttle.failed(user, "10.0.0.7")
    assert throttle.retry_after("alice", "10.0.0.7") > 0 and throttle.retry_after("alice", "10.0.0.9") == 0
    now[0] += 61
    assert throttle.retry_after("bob", "10.0.0.7") == 0  # the window has passed
    throttle.failed("carol", None)
    throttle.failed("carol", None)
    throttle.succeeded("carol")
    throttle.failed("carol", None)
    assert throttle.retry_after("carol", None) == 0  # a right password cleared the count


def test_sessions_expire() -> None:
    now = [0.0]
    tokens = ExpiringTokens(ttl_s=3600, clock=lambda: now[0])
    tokens["t1"] = "alice"
    now[0] = 1800
    tokens["t2"] = "bob"
    assert tokens.get("t1") == "alice" and "t1" in tokens
    now[0] = 3601
    assert tokens.get("t1") is None and "t1" not in tokens and tokens.get("t2") == "bob"
    now[0] = 5401
    assert tokens.get("t2") is None and not tokens


# --- the engines and the store -----------------------------------------------------------------


def test_the_engines_and_the_store_refuse_what_a_user_may_not_see(root: Path, pool: EnginePool) -> None:
    assert pool.names("alice") == ["alpha"] and pool.names("bob") == ["beta"]
    assert pool.names("carol") == ["default", "alpha"] and pool.names("dave") == [] and pool.names("") == []
    assert pool.names(None) == ["default", "alpha", "beta"]  # the machine's own user
    with pytest.raises(NoSuchCollection) as forbidden:
        pool.get("beta", "alice")
    with pytest.raises(NoSuchCollection) as missing:
        pool.get("gamma", "alice")
    assert str(forbidden.value).replace("beta", "gamma") == str(missing.value)  # the same words
    assert pool.get(None, "bob").settings.collection == "beta"  # a user's default: their first
    with pytest.raises(NoSuchCollection, match="no collection is shared with you"):
        pool.get(None, "dave")
    with pytest.raises(NoSuchCollection):
        pool.settings_of("default", "alice")
    visible = pool.visible_to("alice")
    with pytest.raises(NoSuchCollection):  # the store applies the same rule
        collections.settings_for(pool.settings, "beta", visible)
    assert [info.name for info in collections.list_collections(pool.settings, visible)] == ["alpha"]


def test_the_langchain_retriever_searches_as_its_user(root: Path, pool: EnginePool) -> None:
    alpha = load_settings(**{**settings(root).revealed(), "collection": "alpha"})
    where = alpha.index_dir

    def retriever(user: str) -> QARetriever:
        made = QARetriever(settings=alpha, user=user, k=2)
        made._engine = pool.get("alpha")  # the hash double's engine: what answers is not under test
        return made

    found = retriever("alice").invoke(LIGHTHOUSE_QUESTION)
    assert found and "Mara Veltin" in found[0].page_content
    assert alpha.index_dir == where == retriever("alice").resolved_settings().index_dir  # validated once
    with pytest.raises(NoSuchCollection):
        retriever("bob").invoke(LIGHTHOUSE_QUESTION)
    with pytest.raises(NoSuchCollection):
        chain(engine=pool.get("alpha"), user="bob").invoke(LIGHTHOUSE_QUESTION)
    assert "Mara Veltin" in chain(engine=pool.get("alpha"), user="carol").invoke(LIGHTHOUSE_QUESTION).text


# --- the OpenAI-compatible API -----------------------------------------------------------------


@pytest.fixture(scope="module")
def api(root: Path, hash_embeddings: HashEmbeddings) -> Iterator[str]:
    engine = Engine(settings(root), embeddings=hash_embeddings)
    try:
        with running(create_app(settings(root), engine)) as url:
            yield url
    finally:
        engine.close()


def chat(url: str, key: str, question: str, model: str = "qa") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": question}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def models(url: str, key: str) -> list[str]:
    listed = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert listed.status_code == 200, listed.text
    return [model["id"] for model in listed.json()["data"]]


def test_each_api_key_sees_only_its_users_collections(api: str) -> None:
    assert models(api, KEYS["alice"]) == ["alpha"] and models(api, KEYS["bob"]) == ["beta"]
    assert models(api, KEYS["carol"]) == ["default", "alpha"]
    assert models(api, OWN_KEY) == ["default", "alpha", "beta"]
    mine = chat(api, KEYS["alice"], LIGHTHOUSE_QUESTION)  # "qa": her first collection
    assert mine.status_code == 200 and "Mara Veltin" in mine.json()["choices"][0]["message"]["content"]
    assert {citation["collection"] for citation in mine.json()["citations"]} == {"alpha"}
    # the answer is only in bob's collection: alice gets "not found", nothing of his
    theirs = chat(api, KEYS["alice"], FERRY_QUESTION).json()
    assert theirs["answer"]["not_found"] and "Ana Ruiz" not in str(theirs)
    assert "Ana Ruiz" in chat(api, KEYS["bob"], FERRY_QUESTION).json()["choices"][0]["message"]["content"]


def test_a_forbidden_collection_is_a_404_like_a_missing_one(api: str) -> None:
    forbidden = chat(api, KEYS["alice"], FERRY_QUESTION, model="beta")
    missing = chat(api, KEYS["alice"], FERRY_QUESTION, model="gamma")
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.json()["error"]["code"] == "model_not_found"
    assert forbidden.json()["error"]["message"].replace("beta", "gamma") == missing.json()["error"]["message"]
    retrieved = httpx.get(f"{api}/v1/models/beta", headers={"Authorization": f"Bearer {KEYS['alice']}"})
    assert retrieved.status_code == 404
    assert chat(api, KEYS["bob"], FERRY_QUESTION, model="beta").status_code == 200


def test_wrong_keys_are_throttled_per_address(root: Path, hash_embeddings: HashEmbeddings, caplog) -> None:
    engine = Engine(settings(root), embeddings=hash_embeddings)
    try:
        with running(create_app(settings(root, max_failed_logins=2), engine)) as url:
            with caplog.at_level(logging.INFO):
                statuses = [chat(url, f"guess-{n}-0123456789abcdef", BANKS).status_code for n in range(8)]
                assert statuses == [401] * 8  # an address may fail 4 x 2 times in 15 minutes
                refused = chat(url, OWN_KEY, BANKS)  # even the right key waits now
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
            assert refused.json()["error"]["code"] == "rate_limit_exceeded"
            assert "API key: 8 failed attempts in 15 min for address:127.0.0.1" in caplog.text
    finally:
        engine.close()


# --- MCP over HTTP -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mcp_url(pool: EnginePool) -> Iterator[str]:
    with running(http_app(create_server(pool), server_access(pool.settings))) as url:
        yield f"{url}/mcp"


async def as_user(url: str, key: str, calls: Any) -> Any:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            return await calls(client)


async def test_mcp_shows_each_key_only_its_users_collections(mcp_url: str) -> None:
    async def look(client: Client) -> dict[str, Any]:
        listed = await client.call_tool("list_collections", {})
        resources = await client.list_resources()
        asked = await client.call_tool("ask", {"question": LIGHTHOUSE_QUESTION})
        forbidden = await client.call_tool("ask", {"question": FERRY_QUESTION, "collection": "beta"})
        searched = await client.call_tool("search", {"query": "ferry captain", "collection": "beta"})
        documents = await client.call_tool("list_documents", {"collection": "beta"})
        return {
            "collections": [c["name"] for c in listed.structured_content["collections"]],
            "resources": sorted(str(resource.uri) for resource in resources.resources),
            "asked": asked.structured_content,
            "errors": [(r.is_error, r.content[0].text) for r in (forbidden, searched, documents)],
        }

    alice, bob = await asyncio.gather(as_user(mcp_url, KEYS["alice"], look), as_user(mcp_url, KEYS["bob"], look))
    assert alice["collections"] == ["alpha"] and bob["collections"] == ["beta"]
    assert alice["resources"] == ["qa://document/alpha.txt?collection=alpha"]
    assert bob["resources"] == ["qa://document/beta.txt?collection=beta"]
    assert "Mara Veltin" in alice["asked"]["text"] and bob["asked"]["not_found"]
    assert all(error and "no collection 'beta'" in text for error, text in alice["errors"])
    assert not any(error for error, _ in bob["errors"])


async def test_mcp_resources_of_another_user_cannot_be_read(mcp_url: str) -> None:
    async def read(client: Client) -> str:
        try:
            result = await client.read_resource("qa://document/beta.txt?collection=beta")
        except MCPError as exc:
            return f"error: {exc}"
        return str(result.contents[0].text)

    assert FERRY in await as_user(mcp_url, KEYS["bob"], read)
    assert (await as_user(mcp_url, KEYS["alice"], read)).startswith("error: no collection 'beta'")


# --- under load ------------------------------------------------------------------------------


def test_twenty_sessions_across_three_collections_during_an_ingest(api: str, root: Path, hash_embeddings) -> None:
    """20 sessions at once, each a user asking in turn about every collection (theirs by name, by
    "qa", and the others' by name) while beta is re-ingested: no errors, and no answer cites a
    collection its asker may not see."""
    users = ["alice", "bob", "carol"]
    questions = [LIGHTHOUSE_QUESTION, FERRY_QUESTION, BANKS]
    stop = threading.Event()
    more = root.parent / "beta-notes"

    def reingest() -> int:
        rounds = 0
        beta = load_settings(index_dir=root, collection="beta")
        while not stop.is_set() or rounds == 0:
            (more / f"extra-{rounds}.txt").write_text(f"Ferry bulletin {rounds}\n\n{FERRY}\n", encoding="utf-8")
            ingest([more], beta, embeddings=hash_embeddings)
            rounds += 1
        return rounds

    cited_answers: list[str] = []  # the collections answers cited, one entry per answer citing any

    def session(number: int) -> list[str]:
        user = users[number % 3]
        problems = []
        for turn in range(6):
            model = ["qa", "default", "alpha", "beta"][(number + turn) % 4]
            response = chat(api, KEYS[user], questions[(number + turn) % 3], model=model)
            if model != "qa" and model not in GRANTED[user]:
                if response.status_code != 404:
                    problems.append(f"{user} got {response.status_code} from forbidden {model}")
                continue
            if response.status_code != 200:
                problems.append(f"{user} on {model}: {response.status_code} {response.text[:200]}")
                continue
            cited = {citation["collection"] for citation in response.json()["citations"]}
            if not cited <= GRANTED[user]:
                problems.append(f"LEAK: {user} on {model} cited {cited}")
            cited_answers.extend(sorted(cited)[:1])
        return problems

    with ThreadPoolExecutor(max_workers=21) as workers:
        ingesting = workers.submit(reingest)
        sessions = [workers.submit(session, number) for number in range(20)]
        problems = [problem for done in sessions for problem in done.result()]
        stop.set()
        rounds = ingesting.result()
    print(f"\n20 sessions, 120 requests, {len(cited_answers)} cited answers, {rounds} ingests of beta meanwhile")
    assert problems == [] and rounds >= 1
    assert {"default", "alpha", "beta"} <= set(cited_answers)  # every collection answered: the check is not empty


def test_a_collection_deleted_mid_answer_lets_the_answer_finish(
    root: Path, tmp_path: Path, hash_embeddings: HashEmbeddings
) -> None:
    work = tmp_path / "index"
    shutil.copytree(root, work)
    pool = EnginePool(load_settings(index_dir=work, **HASH_THRESHOLDS), embeddings=hash_embeddings)
    try:
        events = pool.get("alpha").stream(LIGHTHOUSE_QUESTION)
        first = next(events)  # the question is being answered: retrieval done, text coming
        collections.delete(pool.settings, "alpha")
        final = [event for event in [first, *events] if isinstance(event, Answer)]
        assert len(final) == 1 and "Mara Veltin" in final[0].text
        assert {citation.collection for citation in final[0].citations} == {"alpha"}
        with pytest.raises(NoSuchCollection):  # the next question is refused, clearly
            pool.get("alpha").answer(LIGHTHOUSE_QUESTION)
    finally:
        pool.close()
