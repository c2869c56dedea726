"""The web app end to end: `python app.py` in a subprocess, driven by Playwright in Debian's
Chromium and by gradio_client.

Covered: a streamed, cited answer with its sources panel; not-found answers; follow-up questions;
clearing the conversation; uploads (including a hostile HTML file whose markup must never run);
answering while the index is rebuilt; removing a document; login (admin and non-admin) and the
API behind it. Each app gets its own documents and index folders under tmp and a free port.

The tests in this module share their apps, started together in the background (two at a time)
when the first is needed: the app on the real model (answers), one whose documents change (upload
adds documents that remove uses; remove uploads its document again when run alone), one behind a
login, one answering with a scripted LLM, one watching its folder, one to restart.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx
import pytest
import watchfiles
from gradio_client import Client
from gradio_client.exceptions import AuthenticationError
from playwright.sync_api import Browser, Dialog, Locator, Page, expect, sync_playwright

from qa import read_state
from qa.web.conversations import LOCAL_USER, Conversations

from .conftest import ROOT, SEED_FILE, TORCH_THREADS, hash_model_env
from .llm_server import LLMServer
from .load import AppFailed, AppProcess, app_process

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
ANSWER_TIMEOUT_MS = 60_000
JOB_TIMEOUT_MS = 150_000

NOT_FOUND = "I could not find this in the documents."
BANKS = "Which two Chinese banks restricted financing?"
LIGHTHOUSE = "The Zorblat lighthouse was painted violet by Mara Veltin in 1987."
LIGHTHOUSE_QUESTION = "Who painted the Zorblat lighthouse violet?"
AUTH = "alice:wonderland:admin,bob:builder"

HARBOUR_TEXT = "Harbour ferry news\n\nThe harbour ferry company named Ana Ruiz as its new captain on Tuesday.\n"
XSS_LITERAL = "<img src=x onerror=window.__xss=3>"
EVIL_HTML = """<!doctype html>
<html><head><title>Quokka festival news</title><script>window.__xss=0</script></head>
<body>
<h1>Quokka festival news</h1>
<p>The quokka festival starts on Friday in Perth.</p>
<script>window.__xss=1</script>
<img src=x onerror="window.__xss=2">
<p>Attendees said &lt;img src=x onerror=window.__xss=3&gt; was printed on the festival tickets.</p>
</body></html>
"""

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian's Chromium at {CHROMIUM}")


# --- the app in a subprocess ------------------------------------------------------------------


RunningApp = AppProcess


def start_app(folder: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> Iterator[RunningApp]:
    docs = folder / "docs"
    docs.mkdir(parents=True)
    shutil.copy(SEED_FILE, docs / SEED_FILE.name)
    try:
        with app_process(docs, folder / "index", folder / "app.log", env, args) as app:
            print(
                f"\n{app.url}: page ready {app.ready_s:.1f} s after the process started"
                f" (auth={'QA_AUTH' in (env or {})})"
            )
            yield app
    except AppFailed as exc:
        pytest.fail(str(exc))


class Launch:
    """One app started in a thread of its own: `running()` waits for its page, `stop()` ends it."""

    def __init__(self, pool: ThreadPoolExecutor, folder: Path, env: dict[str, str] | None, args: tuple[str, ...]):
        self._app = start_app(folder, env, args)
        self._started = pool.submit(next, self._app)

    def running(self) -> RunningApp:
        return self._started.result()

    def stop(self) -> None:
        wait([self._started])  # a start under way ends first (ready, failed, or past its deadline)
        self._app.close()  # the process is terminated and waited for


#: the fixtures that are an app of their own, in the order the tests first need them
APP_FIXTURES = ("app", "llm_app", "docs_app", "auth_app", "watching_app", "first_conversations_app")


@pytest.fixture(scope="module")
def launches(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Launch]]:
    """Every app the selected tests of this module use, all started at once the first time one is
    needed, so that the others start while the first tests run instead of each in turn."""
    wanted = {
        name
        for item in request.session.items
        if item.module is request.module
        for name in getattr(item, "fixturenames", ())
        if name in APP_FIXTURES
    }
    setups: dict[str, tuple[dict[str, str] | None, tuple[str, ...]]] = {
        # The real model, on the test process's torch threads (the pages and the other apps share
        # the cores with it).
        "app": ({"QA_EMBEDDING_THREADS": str(TORCH_THREADS)}, ()),
        # Saving, ingesting, removing and keeping collections apart do not depend on the embedding
        # model (the answers they lead to are found by their words): the hash double, whose ingest
        # child loads no torch.
        "docs_app": (hash_model_env(), ()),
        # Who may see and change what does not depend on the embedding model: the hash double.
        "auth_app": ({**hash_model_env(), "QA_AUTH": AUTH}, ()),
        # What is indexed does not depend on the model: the hash double.
        "watching_app": (hash_model_env(), ("--watch",)),
        # What is kept does not depend on the model: the hash double.
        "first_conversations_app": (hash_model_env(), ()),
    }
    if "llm_app" in wanted:
        # How flagged sentences are shown does not depend on the embedding model: the hash double.
        llm: LLMServer = request.getfixturevalue("llm")
        env = {**hash_model_env(), "QA_BACKEND": "openai", "QA_OPENAI_BASE_URL": llm.openai_base_url}
        setups["llm_app"] = ({**env, "QA_OPENAI_MODEL": "test"}, ())
    with ThreadPoolExecutor(max_workers=2) as pool:  # two at a time: start-up is CPU-bound
        started = {
            name: Launch(pool, tmp_path_factory.mktemp(name.replace("_", "-")), *setups[name])
            for name in APP_FIXTURES
            if name in wanted
        }
        try:
            yield started
        finally:
            for launch in started.values():
                launch.stop()


@pytest.fixture(scope="module")
def app(launches: dict[str, Launch]) -> RunningApp:
    """The app on the seed article, answering with the real model."""
    return launches["app"].running()


@pytest.fixture(scope="module")
def docs_app(launches: dict[str, Launch]) -> RunningApp:
    """The app whose documents the tests change: upload adds documents that remove uses."""
    return launches["docs_app"].running()


@pytest.fixture(scope="module")
def auth_app(launches: dict[str, Launch]) -> RunningApp:
    """The app behind a login (QA_AUTH)."""
    return launches["auth_app"].running()


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with LLMServer() as running:
        yield running


@pytest.fixture(scope="module")
def llm_app(launches: dict[str, Launch], llm: LLMServer) -> RunningApp:
    """The app answering with an OpenAI-compatible server the test scripts."""
    return launches["llm_app"].running()


@pytest.fixture
def first_conversations_app(launches: dict[str, Launch]) -> Launch:
    """An app of its own on a fresh index, for a test that stops it and starts another on it."""
    return launches["first_conversations_app"]


# --- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def dialogs() -> list[str]:
    """Every alert/confirm/prompt a page opened (none may: the only script is Gradio's)."""
    return []


@pytest.fixture
def page(browser: Browser, dialogs: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    errors: list[str] = []
    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not dialogs, f"the page opened dialogs: {dialogs}"
    assert not errors, f"uncaught errors in the page: {errors}"


# --- helpers ----------------------------------------------------------------------------------


def normalise(text: str) -> str:
    return " ".join(text.split())


def open_chat(page: Page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")  # Gradio keeps a connection open: networkidle never comes
    page.wait_for_selector("#question textarea")


def bot_messages(page: Page) -> Locator:
    return page.locator('#chat [data-testid="bot"]')


def ask(page: Page, question: str) -> Locator:
    """Ask in the chat; the last bot message once the final answer (cited or not found) shows."""
    before = bot_messages(page).count()
    page.locator("#question textarea").fill(question)
    page.locator("#send").click()
    messages = bot_messages(page)
    expect(messages).to_have_count(before + 1, timeout=ANSWER_TIMEOUT_MS)
    last = messages.nth(before)
    final = last.locator("a.cite").or_(last.get_by_text(NOT_FOUND)).first
    expect(final).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    return last


def documents_tab(page: Page) -> Locator:
    return page.get_by_role("tab", name="Documents")


def chat_tab(page: Page) -> Locator:
    return page.get_by_role("tab", name="Chat")


def upload(page: Page, paths: list[Path]) -> Locator:
    """Upload files in the Documents tab and wait for the ingest job; the job status."""
    documents_tab(page).click()
    page.locator("#upload input[type=file]").set_input_files([str(path) for path in paths])
    for path in paths:  # uploaded to the server once the component links to its copy there
        expect(page.locator(f'#upload a[href$="/{path.name}"]')).to_be_attached()
    page.locator("#add-documents").click()
    job = page.locator("#job-status")
    expect(job).to_contain_text(f"{len(paths)} added", timeout=JOB_TIMEOUT_MS)
    return job


def assert_not_executed(page: Page) -> None:
    assert page.evaluate("() => window.__xss") is None, "markup from a document ran in the page"


RECORD_BOT_STATES = """() => {
  window.__botStates = [];
  const chat = document.querySelector('#chat');
  new MutationObserver(() => {
    const bots = chat.querySelectorAll('[data-testid="bot"]');
    if (!bots.length) return;
    const last = bots[bots.length - 1];
    const state = {text: last.textContent, cites: last.querySelectorAll('a.cite').length};
    const previous = window.__botStates[window.__botStates.length - 1];
    if (!previous || previous.text !== state.text || previous.cites !== state.cites) window.__botStates.push(state);
  }).observe(chat, {subtree: true, childList: true, characterData: true});
}"""


# --- chat -------------------------------------------------------------------------------------


def test_cited_answer_streams_with_sources_panel(app: RunningApp, page: Page) -> None:
    open_chat(page, app.url)
    page.evaluate(RECORD_BOT_STATES)
    last = ask(page, BANKS)

    expect(last).to_contain_text("ICBC")
    expect(last.locator(".short-answer strong")).to_contain_text("ICBC")  # the answer first, in bold
    first_marker = last.locator("a.cite", has_text="[1]").first
    expect(first_marker).to_have_attribute("href", "#src-1-1")
    states = page.evaluate("() => window.__botStates")
    assert states[0]["cites"] == 0, f"the answer should show a pending state before the final one: {states[:3]}"
    assert states[-1]["cites"] > 0 and "ICBC" in states[-1]["text"]

    # The sources panel: one block per citation, the cited sentence highlighted, quoted verbatim.
    expect(page.locator("#sources #src-1-1")).to_be_visible()
    quotes = page.locator("#sources mark.quote")
    expect(quotes.first).to_be_visible()
    seed = normalise(SEED_FILE.read_text(encoding="utf-8"))
    for quote in quotes.all_text_contents():
        assert quote.strip() and normalise(quote) in seed, f"quote not in the seed article: {quote!r}"
    expect(page.locator("#sources .source-file").first).to_have_text(SEED_FILE.name)
    targets = set(last.locator("a.cite").evaluate_all("links => links.map(link => link.getAttribute('href'))"))
    for target in targets:  # every marker points at a passage in the panel
        expect(page.locator(f"#sources {target}")).to_have_count(1)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "cited-answer.png"))  # the answer and its sources, as a reader sees them

    # Following a marker jumps to its passage and leaves the app working (same tab, no reload).
    first_marker.click()
    expect(page).to_have_url(re.compile(r"#src-1-1$"))
    expect(page.locator("#src-1-1")).to_be_in_viewport()
    assert len(page.context.pages) == 1
    expect(page.locator("#question textarea")).to_be_editable()
    expect(bot_messages(page)).to_have_count(1)


def test_flagged_sentences_are_marked_where_they_stand(llm_app: RunningApp, llm: LLMServer, page: Page) -> None:
    """An LLM answer with a supported, a contradicted and an invented sentence, all citing [1]:
    only the first keeps its marker; the contradicted one is struck through with the passage's
    words beside it, the invented one marked as not in the documents."""

    def reply(request: dict[str, Any]) -> str:
        prompt = "\n".join(str(message.get("content")) for message in request["messages"])
        n = next(
            match.group(1)
            for match in re.finditer(r'<passage n="(\d+)"[^>]*>(.*?)</passage>', prompt, re.S)
            if "largest bank by assets" in match.group(2)
        )
        return (
            f"ICBC is the world's largest bank by assets [{n}]. ICBC is the world's smallest bank by assets [{n}]. "
            f"The Eiffel Tower was completed in Paris in 1889 [{n}]."
        )

    llm.reply = reply
    open_chat(page, llm_app.url)
    last = ask(page, "Which is the world's largest bank by assets?")
    contradicted = last.locator(".claim-contradicted")
    expect(contradicted).to_have_text("ICBC is the world's smallest bank by assets")
    expect(last.locator(".verdict-contradicted")).to_contain_text("largest")
    expect(last.locator(".claim-unsupported")).to_have_text("The Eiffel Tower was completed in Paris in 1889")
    expect(last.locator(".verdict-unsupported")).to_contain_text("not in the documents")
    assert contradicted.evaluate("node => getComputedStyle(node).textDecorationLine") == "line-through"
    # each flagged sentence says why in its tooltip: the reason shown beside it, in plain words
    # (the sanitiser keeps the attribute, and the apostrophes of the quoted words read as such)
    shown = last.locator(".verdict-unsupported").inner_text()
    reason = shown[shown.index("(") + 1 : shown.rindex(")")]
    expect(last.locator(".claim-unsupported")).to_have_attribute(
        "title", f"Not found in the passages searched: {reason}."
    )
    contradiction = last.locator(".verdict-contradicted").inner_text().split(": ", 1)[1]
    expect(contradicted).to_have_attribute("title", f"Contradicted by source 1: {contradiction}.")
    assert "'" in contradiction  # the passage's words, quoted
    expect(last.locator(".verdict-all-supported")).to_have_count(0)
    expect(last.locator("a.cite", has_text="[1]").first).to_be_visible()
    text = last.inner_text()
    assert "[unsupported]" not in text and "contradicted by source" not in text
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "flagged-answer.png"))


def test_an_answer_whose_every_sentence_is_supported_says_so(llm_app: RunningApp, llm: LLMServer, page: Page) -> None:
    """Two sentences the passages say word for word: both keep their markers, none is flagged,
    and one quiet line under the answer says so."""
    sentences = (
        "ICBC is the world's largest bank by assets, while Bank of China is the country's largest commercial "
        "bank for currency trading.",
        "US sanctions could potentially deprive them of access to the dollar.",
    )

    def reply(request: dict[str, Any]) -> str:
        prompt = "\n".join(str(message.get("content")) for message in request["messages"])
        passages = re.findall(r'<passage n="(\d+)"[^>]*>(.*?)</passage>', prompt, re.S)
        cited = [next(n for n, text in passages if normalise(sentence) in normalise(text)) for sentence in sentences]
        return " ".join(f"{sentence[:-1]} [{n}]." for sentence, n in zip(sentences, cited, strict=True))

    llm.reply = reply
    open_chat(page, llm_app.url)
    last = ask(page, "Which is the world's largest bank by assets, and what could sanctions do to it?")
    line = last.locator(".verdict-all-supported")
    expect(line).to_have_text(re.compile(r"^All 2 sentences are supported by the cited passages?\.$"))
    expect(last.locator(".claim-unsupported, .claim-contradicted, .verdict-unsupported")).to_have_count(0)
    expect(last.locator("a.cite").first).to_be_visible()
    assert line.evaluate("node => parseFloat(getComputedStyle(node).fontSize)") < last.locator("a.cite").first.evaluate(
        "node => parseFloat(getComputedStyle(node.parentElement).fontSize)"
    )  # quiet: smaller than the answer
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "supported-answer.png"))


def test_off_topic_question_is_not_found(app: RunningApp, page: Page) -> None:
    open_chat(page, app.url)
    last = ask(page, "What is the tallest mountain on Venus?")
    expect(last).to_contain_text(NOT_FOUND)
    expect(last.locator("a.cite")).to_have_count(0)
    sources = page.locator("#sources")
    expect(sources).to_contain_text("No passage in the documents answers this question.")
    expect(sources.locator(".source")).to_have_count(0)


def test_follow_up_question_uses_the_conversation(app: RunningApp, page: Page) -> None:
    open_chat(page, app.url)
    expect(ask(page, BANKS)).to_contain_text("ICBC")
    follow_up = ask(page, "Why did they do that?")
    expect(follow_up).to_contain_text(re.compile("sanction", re.IGNORECASE))
    expect(follow_up.locator("a.cite").first).to_have_attribute("href", re.compile(r"^#src-2-\d+$"))
    expect(page.locator("#sources #src-2-1")).to_be_visible()
    expect(page.locator("#sources #src-1-1")).to_have_count(0)  # the panel shows the latest answer


def test_clear_empties_the_conversation(app: RunningApp, page: Page) -> None:
    open_chat(page, app.url)
    ask(page, BANKS)
    page.locator("#clear").click()
    expect(page.locator('#chat [data-testid="user"]')).to_have_count(0)
    expect(bot_messages(page)).to_have_count(0)
    expect(page.locator("#sources")).to_contain_text("Sources of the answer appear here.")
    # The conversation starts over: no follow-up context, answers numbered from 1 again.
    again = ask(page, BANKS)
    expect(again.locator("a.cite").first).to_have_attribute("href", re.compile(r"^#src-1-\d+$"))
    expect(bot_messages(page)).to_have_count(1)


def test_chat_trash_button_forgets_the_conversation(app: RunningApp, page: Page) -> None:
    open_chat(page, app.url)
    ask(page, BANKS)
    page.locator('#chat button[aria-label="Clear"]').click()
    expect(bot_messages(page)).to_have_count(0)
    expect(page.locator("#sources")).to_contain_text("Sources of the answer appear here.", timeout=5_000)


def test_api_ask_returns_the_answer_json(app: RunningApp) -> None:
    client = Client(app.url, verbose=False)
    result = client.predict(BANKS, api_name="/ask")
    assert isinstance(result, dict)
    assert {"text", "citations", "not_found", "fallback"} <= result.keys()
    assert result["not_found"] is False and result["fallback"] is False
    assert "ICBC" in result["text"] and "[1]" in result["text"]
    seed = normalise(SEED_FILE.read_text(encoding="utf-8"))
    assert [citation["n"] for citation in result["citations"]] == list(range(1, len(result["citations"]) + 1))
    for citation in result["citations"]:
        assert {"n", "source", "quote", "passage", "start", "end", "score"} <= citation.keys()
        assert citation["source"] == SEED_FILE.name
        assert normalise(citation["quote"]) in seed
        assert citation["passage"][citation["start"] : citation["end"]] == citation["quote"]
    assert result["claims"] and all(claim["verdict"] == "supported" for claim in result["claims"])
    assert {"text", "verdict", "citations", "reason", "quote"} <= result["claims"][0].keys()

    off_topic = client.predict("What is the tallest mountain on Venus?", api_name="/ask")
    assert off_topic["not_found"] is True and off_topic["text"] == NOT_FOUND and off_topic["citations"] == []


# --- documents --------------------------------------------------------------------------------


def test_upload_makes_documents_answerable_and_markup_stays_text(
    docs_app: RunningApp, page: Page, dialogs: list[str], tmp_path: Path
) -> None:
    harbour, evil = tmp_path / "harbour.txt", tmp_path / "evil.html"
    harbour.write_text(HARBOUR_TEXT, encoding="utf-8")
    evil.write_text(EVIL_HTML, encoding="utf-8")
    open_chat(page, docs_app.url)

    job = upload(page, [harbour, evil])
    expect(job).to_contain_text("Saved 2 files")
    listing = page.locator("#documents")
    for name in ("harbour.txt", "evil.html", SEED_FILE.name):
        expect(listing).to_contain_text(name)
    assert (docs_app.docs / "harbour.txt").read_text(encoding="utf-8") == HARBOUR_TEXT
    expect(page.locator("#status")).to_contain_text("3 documents")

    chat_tab(page).click()
    captain = ask(page, "Who did the harbour ferry company name as captain?")
    expect(captain).to_contain_text("Ana Ruiz")
    expect(page.locator("#sources")).to_contain_text("harbour.txt")

    festival = ask(page, "When does the quokka festival start?")
    expect(festival).to_contain_text("Friday")
    expect(page.locator("#sources")).to_contain_text("evil.html")
    assert_not_executed(page)

    tickets = ask(page, "What did attendees say was printed on the festival tickets?")
    expect(tickets.locator("a.cite").first).to_be_visible()
    sources = page.locator("#sources")
    expect(sources).to_contain_text("evil.html")
    assert XSS_LITERAL in sources.inner_text(), "the document's markup should show as text in the sources"
    assert XSS_LITERAL in tickets.inner_text(), "the document's markup should show as text in the answer"
    expect(page.locator("#chat img[src=x], #sources img[src=x], #sources script, #chat script")).to_have_count(0)
    assert_not_executed(page)
    assert dialogs == []


def test_answers_keep_coming_while_the_index_is_rebuilt(app: RunningApp, page: Page) -> None:
    open_chat(page, app.url)
    before = read_state(app.index)
    assert before is not None
    documents_tab(page).click()
    job = page.locator("#job-status")
    page.locator("#rebuild").click()
    # Gradio shows the job's progress in the status component while the child process works.
    expect(job.locator(".progress-text, .progress-level, .eta-bar").first).to_be_attached(timeout=JOB_TIMEOUT_MS)

    chat_tab(page).click()
    expect(ask(page, BANKS)).to_contain_text("ICBC")
    during = read_state(app.index)
    assert during is not None and during.generation == before.generation, "the rebuild finished before the answer"

    documents_tab(page).click()
    expect(job).to_contain_text("Rebuilt", timeout=JOB_TIMEOUT_MS)
    after = read_state(app.index)
    assert after is not None and after.generation != before.generation
    rows = page.locator("#documents tbody tr")
    expect(rows.first).to_be_visible()
    count = rows.count()
    expect(page.locator("#status")).to_contain_text(f"{count} document{'s' if count != 1 else ''} ")
    chat_tab(page).click()
    expect(ask(page, BANKS)).to_contain_text("ICBC")  # and from the new generation too


def test_remove_takes_a_document_out_of_the_index(docs_app: RunningApp, page: Page, tmp_path: Path) -> None:
    open_chat(page, docs_app.url)
    listing = page.locator("#documents")
    documents_tab(page).click()
    expect(listing).to_contain_text(SEED_FILE.name)
    if "harbour.txt" not in listing.inner_text():  # run on its own: upload the document first
        harbour = tmp_path / "harbour.txt"
        harbour.write_text(HARBOUR_TEXT, encoding="utf-8")
        upload(page, [harbour])
        expect(listing).to_contain_text("harbour.txt")

    choice = page.locator("#remove-choice input")
    choice.click()
    page.get_by_role("option", name="harbour.txt", exact=True).click()
    expect(choice).to_have_value("harbour.txt")
    page.locator("#remove").click()
    job = page.locator("#job-status")
    expect(job).to_contain_text("Removed harbour.txt", timeout=JOB_TIMEOUT_MS)
    expect(job).to_contain_text("1 removed", timeout=JOB_TIMEOUT_MS)
    expect(listing).not_to_contain_text("harbour.txt")
    expect(listing).to_contain_text(SEED_FILE.name)

    assert not (docs_app.docs / "harbour.txt").exists()
    kept = list((docs_app.docs / ".removed").glob("*-harbour.txt"))
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8") == HARBOUR_TEXT

    chat_tab(page).click()
    ask(page, "Who did the harbour ferry company name as captain?")
    expect(page.locator("#sources")).not_to_contain_text("harbour.txt")


# --- login ------------------------------------------------------------------------------------


def test_collections_keep_their_documents_apart(docs_app: RunningApp, page: Page, tmp_path: Path) -> None:
    note = tmp_path / "lighthouse.txt"
    note.write_text(f"Lighthouse log\n\n{LIGHTHOUSE}\n", encoding="utf-8")
    open_chat(page, docs_app.url)
    documents_tab(page).click()
    page.locator("#new-collection textarea").fill("lighthouses")
    page.locator("#create-collection").click()
    expect(page.locator("#job-status")).to_contain_text("Created collection lighthouses")
    expect(page.locator("#collection input")).to_have_value("lighthouses")
    expect(page.locator("#documents")).not_to_contain_text(SEED_FILE.name)  # a new collection is empty
    upload(page, [note])
    assert (docs_app.index / "documents" / "lighthouses" / "lighthouse.txt").is_file()
    assert not (docs_app.docs / "lighthouse.txt").exists()

    chat_tab(page).click()
    found = ask(page, LIGHTHOUSE_QUESTION)
    expect(found).to_contain_text("Mara Veltin")
    expect(page.locator("#sources")).to_contain_text("in lighthouses")
    page.locator("#collection input").click()
    page.get_by_role("option", name="default", exact=True).click()
    expect(bot_messages(page)).to_have_count(0)  # another collection, another conversation
    elsewhere = ask(page, LIGHTHOUSE_QUESTION)  # the answer is only in the other collection
    expect(elsewhere).to_contain_text(NOT_FOUND)
    expect(elsewhere).not_to_contain_text("Veltin")
    banks = ask(page, BANKS)
    expect(banks.locator("a.cite").first).to_be_visible()
    expect(page.locator("#sources")).to_contain_text("in default")


def log_in(page: Page, url: str, user: str, password: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()


def trigger(url: str, user: str, password: str, elem_id: str, data: list[Any]) -> dict[str, Any]:
    """Fire the click handler of the button `elem_id` the way the page does (queue/join), logged
    in as `user`, whatever the page shows that user; the queue's final message."""
    with httpx.Client(base_url=url, trust_env=False, timeout=60) as http:
        login = http.post("login", data={"username": user, "password": password})
        assert login.status_code == 200, login.text
        config = http.get("config").json()
        button = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
        event = next(d["id"] for d in config["dependencies"] if [button, "click"] in [list(t) for t in d["targets"]])
        session = uuid.uuid4().hex
        body = {"data": data, "fn_index": event, "session_hash": session, "event_data": None, "trigger_id": button}
        joined = http.post("gradio_api/queue/join", json=body)
        assert joined.status_code == 200, joined.text
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line.removeprefix("data:"))
                    if message.get("msg") == "process_completed":
                        return dict(message)
    raise AssertionError(f"no result for {elem_id}")


def test_login_refuses_a_wrong_password_and_lets_a_user_ask(auth_app: RunningApp, page: Page) -> None:
    page.goto(auth_app.url, wait_until="domcontentloaded")
    expect(page.locator("input[type=password]")).to_be_visible()
    expect(page.locator("#question")).to_have_count(0)

    log_in(page, auth_app.url, "bob", "not-his-password")
    expect(page.get_by_text("Incorrect Credentials")).to_be_visible()
    expect(page.locator("#question")).to_have_count(0)

    log_in(page, auth_app.url, "bob", "builder")
    page.wait_for_selector("#question textarea")
    expect(chat_tab(page)).to_be_visible()
    expect(ask(page, BANKS)).to_contain_text("ICBC")
    expect(page.locator("#sources #src-1-1")).to_be_visible()


def test_admin_sees_the_documents_tab(auth_app: RunningApp, page: Page) -> None:
    log_in(page, auth_app.url, "alice", "wonderland")
    page.wait_for_selector("#question textarea")
    documents_tab(page).click()
    expect(page.locator("#rebuild")).to_be_visible()
    expect(page.locator("#add-documents")).to_be_visible()
    expect(page.locator("#documents")).to_contain_text(SEED_FILE.name)


def test_non_admin_does_not_see_the_documents_tab(auth_app: RunningApp, page: Page) -> None:
    log_in(page, auth_app.url, "bob", "builder")
    page.wait_for_selector("#question textarea")
    expect(ask(page, BANKS)).to_contain_text("ICBC")  # the page has loaded and refreshed by now
    expect(documents_tab(page)).to_be_hidden(timeout=5_000)


def test_server_refuses_document_changes_from_a_non_admin(auth_app: RunningApp) -> None:
    before = read_state(auth_app.index)
    changes = (("add-documents", [None, "default"]), ("rebuild", ["default"]), ("remove", [None, "default"]))
    for elem_id, data in changes:
        result = trigger(auth_app.url, "bob", "builder", elem_id, data)
        assert result["success"] is False, result
        assert result["output"]["error"] == "Only administrators can change the documents.", result
    assert (auth_app.docs / SEED_FILE.name).exists()
    after = read_state(auth_app.index)
    assert before is not None and after is not None and after.generation == before.generation
    # An admin gets past the check (and on to the next one: no document chosen).
    result = trigger(auth_app.url, "alice", "wonderland", "remove", [None, "default"])
    assert result["success"] is False and result["output"]["error"] == "Choose a document to remove.", result


def test_api_requires_login(auth_app: RunningApp) -> None:
    with httpx.Client(base_url=auth_app.url, trust_env=False, timeout=30) as http:
        for method, route in (("POST", "gradio_api/call/ask"), ("GET", "gradio_api/info"), ("GET", "config")):
            response = http.request(method, route, json={"data": [BANKS]} if method == "POST" else None)
            assert response.status_code == 401, f"{method} {route}: {response.status_code} {response.text}"

    with pytest.raises(AuthenticationError):
        Client(auth_app.url, verbose=False)
    with pytest.raises(ValueError, match="Could not login"):
        Client(auth_app.url, auth=("bob", "wrong"), verbose=False)

    result = Client(auth_app.url, auth=("bob", "builder"), verbose=False).predict(BANKS, api_name="/ask")
    assert isinstance(result, dict) and result["not_found"] is False and result["fallback"] is False
    assert result["citations"] and all(citation["source"] == SEED_FILE.name for citation in result["citations"])
    assert "ICBC" in result["text"]


# Routes that answer without login: the login page itself and the static files it needs.
PUBLIC_ROUTES = {
    "/",
    "/login",
    "/login/",
    "/logout",
    "/favicon.ico",
    "/theme.css",
    "/robots.txt",
    "/manifest.json",
    "/pwa_icon",
    "/pwa_icon/{size}",
    "/static/{path:path}",
    "/assets/{path:path}",
    "/svelte/{path:path}",
    "/gradio_api/theme.css",
    "/gradio_api/login_check",
    "/gradio_api/login_check/",
    "/gradio_api/app_id",
    "/gradio_api/app_id/",
    "/gradio_api/startup-events",
    # Gradio's generic route schema, "who am I" (null without login), the page shell, keep-alive:
    # public, but they carry nothing of the app (checked below)
    "/openapi.json",
    "/gradio_api/user",
    "/gradio_api/user/",
    "/gradio_api/token",
    "/gradio_api/token/",
    "/gradio_api/runs",
    "/gradio_api/runs/",
    "/gradio_api/heartbeat/{session_hash}",
}


def gradio_routes() -> list[tuple[str, str]]:
    """Every (method, path) Gradio's server defines, read from its own route table."""
    import gradio as gr
    from gradio.routes import App

    with gr.Blocks() as blocks:
        gr.Markdown("routes")
    found: list[tuple[str, str]] = []

    def walk(routes: list[Any], prefix: str = "") -> None:
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:
                walk(included.routes, prefix + (route.include_context.prefix or ""))
            elif hasattr(route, "methods"):
                found.extend(
                    (method, prefix + route.path) for method in sorted(route.methods or []) if method != "HEAD"
                )

    walk(App.create_app(blocks).routes)
    return found


def test_every_gradio_route_requires_login(auth_app: RunningApp) -> None:
    """Not just the page: every API, file, queue, upload and monitoring route of Gradio's server
    refuses a client without a session, except the login page and its static files."""
    routes = gradio_routes()
    assert len(routes) > 50 and ("POST", "/gradio_api/upload") in routes  # the table was read
    opened: list[str] = []
    with httpx.Client(base_url=auth_app.url, trust_env=False, timeout=30, follow_redirects=False) as http:
        for method, path in routes:
            if path in PUBLIC_ROUTES:
                continue
            url = re.sub(r"\{api_name\}", "ask", path)
            url = re.sub(r"\{path_or_url:path\}", str(auth_app.docs / SEED_FILE.name), url)
            url = re.sub(r"\{[^}]+\}", "x", url)
            body = {"data": [BANKS]} if method == "POST" else None
            with http.stream(method, url, json=body) as response:  # event streams: headers only
                if 200 <= response.status_code < 300 or response.status_code in (301, 302, 307, 308):
                    opened.append(f"{method} {path} -> {response.status_code}")
        assert opened == [], "routes that answer without login:\n" + "\n".join(opened)
        for path in sorted(PUBLIC_ROUTES - {"/gradio_api/heartbeat/{session_hash}", "/logout"}):
            if "{" in path or path.startswith("/login"):
                continue
            text = http.get(path).text
            assert SEED_FILE.name not in text and "ICBC" not in text and "alice" not in text, path


def test_api_offers_only_ask(auth_app: RunningApp) -> None:
    client = Client(auth_app.url, auth=("bob", "builder"), verbose=False)
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(endpoints) == {"/ask"}


# --- the documents folder kept in sync (--watch) ----------------------------------------------


@pytest.fixture(scope="module")
def watching_app(launches: dict[str, Launch]) -> RunningApp:
    """`python app.py --watch`."""
    return launches["watching_app"].running()


def test_watch_keeps_the_index_in_step_with_the_folder(watching_app: RunningApp, page: Page) -> None:
    open_chat(page, watching_app.url)
    status = page.locator("#status")
    expect(status).to_contain_text("watching the documents folder")
    (watching_app.docs / "harbour.txt").write_text(HARBOUR_TEXT, encoding="utf-8")
    # the status line follows the sync (Playwright waits on the page, not on a clock)
    expect(status).to_contain_text("1 added", timeout=JOB_TIMEOUT_MS)
    expect(status).to_contain_text("2 documents")
    answer = Client(watching_app.url, verbose=False).predict(
        "Who is the new captain of the harbour ferry?", api_name="/ask"
    )
    assert "Ana Ruiz" in answer["text"] and answer["citations"][0]["source"] == "harbour.txt"
    (watching_app.docs / "harbour.txt").unlink()
    expect(status).to_contain_text("1 removed", timeout=JOB_TIMEOUT_MS)
    expect(status).to_contain_text("1 document ")


def test_conversations_are_kept_across_a_restart(first_conversations_app: Launch, page: Page, tmp_path: Path) -> None:
    """Saved with their citations, listed by first question, resumed in a restarted app, renamed,
    exported with their quotes, deleted."""
    first = first_conversations_app.running()
    docs, index = first.docs, first.index
    open_chat(page, first.url)
    answer = ask(page, BANKS)
    expect(answer.locator("a.cite").first).to_be_visible()
    expect(page.locator("#conversations")).to_contain_text(f"{BANKS} (default)")
    first_conversations_app.stop()
    assert (index / "conversations.sqlite").is_file()
    with app_process(docs, index, tmp_path / "second.log", hash_model_env()) as second:
        open_chat(page, second.url)
        expect(bot_messages(page)).to_have_count(0)
        page.locator("#conversations").get_by_text(BANKS).click()
        expect(bot_messages(page)).to_have_count(1)
        expect(bot_messages(page).first.locator("a.cite").first).to_be_visible()
        expect(page.locator("#sources mark.quote").first).to_be_visible()
        expect(page.locator("#sources")).to_contain_text(SEED_FILE.name)
        page.locator("#conversation-title textarea").fill("Banks and Russia")
        page.locator("#rename-conversation").click()
        expect(page.locator("#conversations")).to_contain_text("Banks and Russia (default)")
        page.locator("#export-conversation").click()
        link = page.locator("#exported a").first
        expect(link).to_be_attached()
        href = link.get_attribute("href") or ""
        exported = httpx.get(href if href.startswith("http") else second.url.rstrip("/") + href, trust_env=False)
        assert exported.text.startswith("# Banks and Russia") and f"## {BANKS}" in exported.text
        assert "\n> " in exported.text  # the cited quotes
        page.locator("#delete-conversation").click()
        expect(page.locator("#conversations")).not_to_contain_text("Banks and Russia")
        expect(bot_messages(page)).to_have_count(0)


def wait_for_turns(store: Conversations, key: str, count: int, folder: Path) -> bool:
    """Whether conversation `key` comes to hold `count` turns, woken by its store's file changes
    (False after a minute without one)."""

    def enough() -> bool:
        return len(store.get(key, LOCAL_USER).turns) >= count

    if enough():
        return True
    for changes in watchfiles.watch(folder, debounce=50, rust_timeout=ANSWER_TIMEOUT_MS, yield_on_timeout=True):
        if enough():
            return True
        if not changes:
            return False
    return False


def test_a_new_conversation_mid_answer_keeps_each_turn_where_it_was_asked(
    llm_app: RunningApp, llm: LLMServer, page: Page
) -> None:
    """New conversation clicked while the model has not yet answered: the chat is empty at once
    and the next question is answered in the new conversation; the late answer is kept in the
    conversation it was asked in (before, the old answer's last updates brought its chat back,
    and its turn was saved into a conversation the next question then joined)."""
    first, second = BANKS, "Which Chinese banks limited financing for Russian commodities?"
    third = "What share of Russian oil and gas is now sold to China?"
    writing, release = threading.Event(), threading.Event()

    def reply(request: dict[str, Any]) -> str:
        prompt = "\n".join(str(message.get("content")) for message in request["messages"])
        passage = re.search(r'<passage n="1"[^>]*>(.*?)</passage>', prompt, re.S)
        if passage is None:  # the follow-up rewritten to stand alone: it stands alone already
            return second
        if second in prompt:
            writing.set()
            release.wait(timeout=60)  # held until the user has left the conversation
        sentence = re.match(r"\s*(.+?[.?!])(?=\s|$)", passage.group(1), re.S)  # quoted: supported, cited
        return f"{sentence.group(1) if sentence else passage.group(1).strip()} [1]"

    llm.reply = reply
    store = Conversations(llm_app.index / "conversations.sqlite")
    open_chat(page, llm_app.url)
    expect(ask(page, first).locator("a.cite").first).to_be_visible()
    conversations = page.locator("#conversations")
    expect(conversations).to_contain_text(first)
    asked_in = next(item.id for item in store.list(LOCAL_USER) if item.title == first)
    page.locator("#question textarea").fill(second)
    page.locator("#send").click()
    assert writing.wait(timeout=ANSWER_TIMEOUT_MS / 1000), "the second question never reached the model"
    page.locator("#new-conversation").click()
    expect(bot_messages(page)).to_have_count(0)
    release.set()
    # the late answer lands in the conversation it was asked in
    assert wait_for_turns(store, asked_in, 2, llm_app.index), "the late answer was not kept"
    assert [question for question, _ in store.get(asked_in, LOCAL_USER).turns] == [first, second]
    answer = ask(page, third)
    expect(answer.locator("a.cite").first).to_be_visible()
    expect(conversations).to_contain_text(third)
    expect(page.locator('#chat [data-testid="user"]')).to_have_count(1)
    expect(page.locator("#chat")).not_to_contain_text(second)
    # resumed, the first conversation shows its two turns, and not the third question
    conversations.get_by_text(first).click()
    expect(bot_messages(page)).to_have_count(2)
    expect(page.locator("#chat")).to_contain_text(second)
    expect(page.locator("#chat")).not_to_contain_text(third)
