"""Who may see what in the web app, in Debian's Chromium: two users logged in at once each see only
their collections in the picker, their answers and their conversations; a collection named
explicitly that is not theirs is refused by the server, whatever the page shows; failed logins
are throttled per user; sessions end. The app runs in this process (Gradio's own server on a free
port) over the access tests' three collections, embedding with the hash double."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client
from playwright.sync_api import Browser, Page, expect

from qa.answering.engine import Engine
from qa.web.auth import ExpiringTokens
from qa.web.launch import launch
from qa.web.page import build

from .doubles import HashEmbeddings
from .load import free_port
from .test_access import FERRY_QUESTION, LIGHTHOUSE_QUESTION, root, settings  # noqa: F401  (root: a fixture)
from .test_app_browser import CHROMIUM, NOT_FOUND, ask, bot_messages, browser, documents_tab, log_in, trigger  # noqa: F401

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian's Chromium at {CHROMIUM}")
PASSWORDS = {"alice": "wonderland", "bob": "builder", "carol": "secret"}


class Clock:
    """The sessions' clock, moved by the test instead of waited for."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def web(root: Path, hash_embeddings: HashEmbeddings) -> Iterator[tuple[str, Any, Clock]]:  # noqa: F811
    chosen = settings(root, port=free_port(), max_failed_logins=3)
    engine = Engine(chosen, embeddings=hash_embeddings)
    demo, app = build(chosen, engine)
    url = launch(demo, app, chosen)
    clock = Clock()
    tokens = demo.server_app.tokens
    assert isinstance(tokens, ExpiringTokens) and tokens.ttl_s == chosen.session_hours * 3600
    tokens._clock = clock
    try:
        yield url, app, clock
    finally:
        demo.close()
        app.engines.close()


@pytest.fixture
def pages(browser: Browser) -> Iterator[dict[str, Page]]:  # noqa: F811
    """A browser context (its own cookies) per user."""
    contexts = {user: browser.new_context(viewport={"width": 1280, "height": 900}) for user in ("alice", "bob")}
    for context in contexts.values():
        context.set_default_timeout(30_000)
    yield {user: context.new_page() for user, context in contexts.items()}
    for context in contexts.values():
        context.close()


def choices(page: Page) -> list[str]:
    page.locator("#collection input").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    names = [text.replace("✓", "").strip() for text in options.all_inner_texts()]
    options.first.click()  # closes the list, the only choice still chosen
    return names


def test_two_users_see_only_their_own_collections_answers_and_conversations(
    web: tuple[str, Any, Clock], pages: dict[str, Page]
) -> None:
    url = web[0]
    for user, page in pages.items():
        log_in(page, url, user, PASSWORDS[user])
        page.wait_for_selector("#question textarea")
    alice, bob = pages["alice"], pages["bob"]
    expect(alice.locator("#collection input")).to_have_value("alpha")
    expect(bob.locator("#collection input")).to_have_value("beta")
    assert choices(alice) == ["alpha"] and choices(bob) == ["beta"]

    expect(ask(alice, LIGHTHOUSE_QUESTION)).to_contain_text("Mara Veltin")
    expect(alice.locator("#sources")).to_contain_text("in alpha")
    alice.locator("#new-conversation").click()  # not a follow-up: a question of its own
    expect(bot_messages(alice)).to_have_count(0)
    theirs = ask(alice, FERRY_QUESTION)  # only in bob's collection
    expect(theirs).to_contain_text(NOT_FOUND)
    expect(theirs).not_to_contain_text("Ana Ruiz")
    expect(ask(bob, FERRY_QUESTION)).to_contain_text("Ana Ruiz")
    expect(bob.locator("#sources")).to_contain_text("in beta")
    bob.locator("#new-conversation").click()
    expect(bot_messages(bob)).to_have_count(0)
    expect(ask(bob, LIGHTHOUSE_QUESTION)).to_contain_text(NOT_FOUND)

    # each one's saved conversation is listed for them only
    expect(alice.locator("#conversations")).to_contain_text(LIGHTHOUSE_QUESTION)
    expect(alice.locator("#conversations")).to_contain_text(FERRY_QUESTION)
    expect(bob.locator("#conversations")).to_contain_text(FERRY_QUESTION)
    bob.reload()
    bob.wait_for_selector("#question textarea")
    expect(bob.locator("#conversations")).to_contain_text(FERRY_QUESTION)
    expect(bob.locator("#conversations")).not_to_contain_text("(alpha)")  # alice's are not listed
    assert alice.locator("#conversations label").count() == bob.locator("#conversations label").count() == 2
    expect(bot_messages(bob)).to_have_count(0)


def test_a_collection_named_explicitly_is_refused_by_the_server(web: tuple[str, Any, Clock]) -> None:
    url = web[0]
    bob = Client(url, auth=("bob", PASSWORDS["bob"]), verbose=False)
    own = bob.predict(FERRY_QUESTION, [], "beta", api_name="/ask")
    assert "Ana Ruiz" in own["text"] and {c["collection"] for c in own["citations"]} == {"beta"}
    for name in ("alpha", "default", "no-such"):
        with pytest.raises(Exception, match=f"no collection '{name}'"):
            bob.predict(LIGHTHOUSE_QUESTION, [], name, api_name="/ask")
    # the page each user gets is built with no collection of anyone's in it
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as http:
        assert http.post("login", data={"username": "bob", "password": PASSWORDS["bob"]}).status_code == 200
        config = http.get("config").text
    assert "alpha" not in config and "Veltin" not in config


def test_failed_logins_are_throttled_and_sessions_end(web: tuple[str, Any, Clock], caplog) -> None:
    url, _, clock = web
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as http, caplog.at_level(logging.INFO):
        wrong = [http.post("login", data={"username": "carol", "password": f"guess{n}"}) for n in range(3)]
        assert [response.status_code for response in wrong] == [400, 400, 400]
        refused = http.post("login", data={"username": "carol", "password": PASSWORDS["carol"]})
        assert refused.status_code == 429 and "Too many failed logins: try again in 15 minutes." in refused.text
        assert int(refused.headers["retry-after"]) > 0
        assert "login: 3 failed attempts in 15 min for user:carol" in caplog.text
        assert "login refused for 'carol'" in caplog.text

        assert http.post("login", data={"username": "alice", "password": PASSWORDS["alice"]}).status_code == 200
        assert http.get("gradio_api/user").json() == "alice"
        assert http.get("config").status_code == 200
        clock.now += 11 * 3600
        assert http.get("gradio_api/user").json() == "alice"
        clock.now += 2 * 3600  # past the 12 hours a session lasts
        assert http.get("gradio_api/user").json() is None
        assert http.get("config").status_code == 401
        assert "session of alice expired after 12.0 h" in caplog.text


def test_an_admin_creates_renames_and_deletes_a_collection_only_they_see(
    web: tuple[str, Any, Clock],
    pages: dict[str, Page],
    root: Path,  # noqa: F811
) -> None:
    url, app, _ = web
    alice = pages["alice"]
    log_in(alice, url, "alice", PASSWORDS["alice"])
    alice.wait_for_selector("#question textarea")
    documents_tab(alice).click()
    alice.locator("#new-collection textarea").fill("gamma")
    alice.locator("#create-collection").click()
    expect(alice.locator("#job-status")).to_contain_text("Created collection gamma")
    expect(alice.locator("#collection input")).to_have_value("gamma")
    # its creator owns it: nobody else is granted it
    assert app.engines.names("alice") == ["alpha", "gamma"] and app.engines.names("bob") == ["beta"]
    assert "gamma" not in app.engines.names("carol")
    refused = trigger(url, "bob", PASSWORDS["bob"], "delete-collection", ["gamma", True, False])
    assert refused["success"] is False and "Only administrators" in refused["output"]["error"]
    theirs = trigger(url, "alice", PASSWORDS["alice"], "delete-collection", ["beta", True, False])
    assert theirs["success"] is False and theirs["output"]["error"].startswith("no collection 'beta'")
    assert (root / "collections" / "beta").is_dir()  # an admin manages only what they may see

    alice.locator("#rename-collection-name textarea").fill("delta")
    alice.locator("#rename-collection").click()
    expect(alice.locator("#job-status")).to_contain_text("Renamed collection gamma to delta")
    expect(alice.locator("#collection input")).to_have_value("delta")
    assert app.engines.names("alice") == ["alpha", "delta"]

    alice.locator("#delete-collection").click()  # not confirmed yet: nothing happens to it
    expect(alice.locator(".toast-body").filter(has_text="Yes, delete this collection")).to_be_visible()
    assert (root / "collections" / "delta").is_dir()
    alice.locator("#confirm-delete input").check()
    alice.locator("#delete-collection").click()
    expect(alice.locator("#job-status")).to_contain_text("Deleted collection delta")
    expect(alice.locator("#collection input")).to_have_value("alpha")
    assert not (root / "collections" / "delta").exists() and app.engines.names("alice") == ["alpha"]
