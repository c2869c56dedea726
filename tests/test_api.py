"""The OpenAI-compatible API (qa/api.py, `python -m qa serve`) driven by real clients: the official
`openai` SDK and langchain-openai's ChatOpenAI, against a real uvicorn server on 127.0.0.1 serving
an index of the seed article."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import uvicorn
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

import qa
from qa.answering.engine import Engine
from qa.answering.prompting import NOT_FOUND_TEXT
from qa.config import Settings
from qa.embeddings import SentenceEmbeddings
from qa.openai_api import content as message_content
from qa.openai_api import create_app, text_pieces

from .conftest import ROOT, SEED_FILE, copy_index, hash_model_env, seed_index_in
from .doubles import HashEmbeddings
from .llm_server import LLMServer

QUESTION = "Which two Chinese banks restricted financing?"
OFF_TOPIC = "What is the tallest mountain on Venus?"
KEY = "test-key-7f3a"
CITATION_FIELDS = {
    "n",
    "source",
    "title",
    "page",
    "chunk_id",
    "quote",
    "start",
    "end",
    "score",
    "passage",
    "date",
    "location",
    "collection",
}


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on a socket bound before the thread starts, so
    clients can connect at once (the kernel queues them until uvicorn accepts)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def seed_settings(tmp_path_factory: pytest.TempPathFactory, real_seed_index: Path) -> Settings:
    """The seed article indexed with the real model (this module's `embeddings`): a copy of the session's."""
    return qa.load_settings(index_dir=copy_index(real_seed_index, tmp_path_factory.mktemp("api")))


@pytest.fixture(scope="module")
def engine(seed_settings: Settings, embeddings: SentenceEmbeddings) -> Engine:
    return Engine(seed_settings, embeddings)


@pytest.fixture(scope="module")
def url(seed_settings: Settings, engine: Engine) -> Iterator[str]:
    with running(create_app(seed_settings, engine)) as base:
        yield base


@pytest.fixture(scope="module")
def auth_url(seed_settings: Settings, engine: Engine) -> Iterator[str]:
    settings = seed_settings.model_copy(update={"api_key": SecretStr(KEY)})
    with running(create_app(settings, engine)) as base:
        yield base


@pytest.fixture(scope="module")
def expected(engine: Engine) -> qa.Answer:
    """The answer the engine gives in-process; the API must deliver exactly this."""
    answer = engine.answer(QUESTION)
    assert answer.citations and "ICBC" in answer.text
    return answer


def client(base: str, key: str = "unused", **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, **options)


def check_citations(citations: list[dict[str, Any]], content: str) -> None:
    """Citation objects as `qa ask --json` has them, numbered 1..n, each used in the text, each
    quote a real sentence of its passage in the seed file."""
    assert citations
    for number, citation in enumerate(citations, 1):
        assert set(citation) == CITATION_FIELDS
        assert citation["n"] == number and f"[{number}]" in content
        assert citation["quote"] in citation["passage"]
        assert citation["passage"][citation["start"] : citation["end"]] == citation["quote"]
        assert Path(citation["source"]).name == SEED_FILE.name
        assert citation["passage"] in SEED_FILE.read_text(encoding="utf-8")


def test_models(url: str) -> None:
    models = client(url).models.list()
    assert [model.id for model in models.data] == ["default"]  # the collections
    assert client(url).models.retrieve("qa").id == "qa"  # the server's own collection, by its old name
    assert client(url).models.retrieve("default").id == "default"
    with pytest.raises(openai.NotFoundError) as missing:
        client(url).models.retrieve("gpt-4o")
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError) as unknown:  # a question to a collection that is not there
        client(url).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    assert unknown.value.code == "model_not_found" and unknown.value.body["param"] == "model"


def test_cited_answer(url: str, expected: qa.Answer) -> None:
    completion = client(url).chat.completions.create(model="qa", messages=[{"role": "user", "content": QUESTION}])
    content = completion.choices[0].message.content
    # the short answer first, on a line of its own, then the checked answer
    assert expected.short and "Bank of China" in expected.short
    assert content == f"{expected.short}\n\n{expected.text}" and completion.choices[0].finish_reason == "stop"
    assert completion.object == "chat.completion" and completion.choices[0].message.role == "assistant"
    extra = completion.model_extra or {}
    assert extra["citations"] == expected.to_json()["citations"]
    check_citations(extra["citations"], content)
    assert "ICBC" in " ".join(c["quote"] for c in extra["citations"])
    assert extra["answer"]["not_found"] is False and extra["answer"]["fallback"] is False
    assert extra["answer"]["text"] == expected.text and extra["answer"]["short"] == expected.short
    assert extra["answer"]["backend"] == "extractive"
    assert extra["answer"]["claims"] == expected.to_json()["claims"] and extra["answer"]["claims"]


def test_streamed_answer_equals_the_checked_answer(url: str, expected: qa.Answer) -> None:
    stream = client(url).chat.completions.create(
        model="qa", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert content == message_content(expected) and content.startswith(f"{expected.short}\n\n")
    assert len(chunks) > 10  # word by word, not one lump
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and not last.choices[0].delta.content
    assert (last.model_extra or {})["citations"] == expected.to_json()["citations"]
    check_citations(last.model_extra["citations"], content)
    assert all("citations" not in (chunk.model_extra or {}) for chunk in chunks[:-1])
    assert len({chunk.id for chunk in chunks}) == 1


def test_sse_wire_format(url: str) -> None:
    body = {"model": "qa", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]"
    final = json.loads(events[-2][len("data: ") :])
    assert final["object"] == "chat.completion.chunk" and final["citations"] and final["answer"]["not_found"] is False


def test_off_topic_is_not_found(url: str) -> None:
    messages = [{"role": "user", "content": OFF_TOPIC}]
    completion = client(url).chat.completions.create(model="qa", messages=messages)
    assert completion.choices[0].message.content == NOT_FOUND_TEXT
    assert completion.model_extra["citations"] == [] and completion.model_extra["answer"]["not_found"] is True
    chunks = list(client(url).chat.completions.create(model="qa", messages=messages, stream=True))
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == NOT_FOUND_TEXT
    assert chunks[-1].model_extra["citations"] == [] and chunks[-1].model_extra["answer"]["not_found"] is True


def test_earlier_messages_are_the_history(url: str, engine: Engine) -> None:
    follow_up = "Why did they do that?"
    messages = [
        {"role": "system", "content": "Answer in French."},  # ignored: the prompt is ours
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "ICBC and Bank of China [1]."},
        {"role": "user", "content": [{"type": "text", "text": follow_up}]},  # content as parts
    ]
    completion = client(url).chat.completions.create(model="default", messages=messages)
    meta = completion.model_extra["answer"]
    assert meta["question"] == follow_up and meta["standalone_question"] != follow_up
    assert "banks" in meta["standalone_question"]
    direct = engine.answer(follow_up, [{"role": "user", "content": QUESTION}, messages[2]])
    assert completion.choices[0].message.content == message_content(direct) and completion.model_extra["citations"]
    alone = client(url).chat.completions.create(model="qa", messages=[{"role": "user", "content": follow_up}])
    assert alone.model_extra["answer"]["standalone_question"] == follow_up


def test_chat_openai(url: str, expected: qa.Answer) -> None:
    llm = ChatOpenAI(base_url=url + "/v1", api_key="unused", model="qa", max_retries=0)
    reply = llm.invoke(QUESTION)
    assert isinstance(reply, AIMessage) and reply.content == message_content(expected)
    assert re.findall(r"\[(\d+)\]", reply.content)  # the markers reach the LangChain user
    streamed = "".join(str(chunk.content) for chunk in llm.stream(QUESTION))
    assert streamed == message_content(expected)
    conversation = [
        SystemMessage("You are helpful."),
        HumanMessage(QUESTION),
        AIMessage(expected.text),
        HumanMessage(OFF_TOPIC),
    ]
    assert llm.invoke(conversation).content == NOT_FOUND_TEXT


def test_api_key_is_required_on_every_route(auth_url: str) -> None:
    with pytest.raises(openai.AuthenticationError) as no_key:
        client(auth_url, key="wrong").chat.completions.create(
            model="qa", messages=[{"role": "user", "content": QUESTION}]
        )
    assert no_key.value.status_code == 401 and no_key.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        client(auth_url, key=KEY + "x").models.list()
    with pytest.raises(openai.AuthenticationError):
        ChatOpenAI(base_url=auth_url + "/v1", api_key="wrong", model="qa", max_retries=0).invoke(QUESTION)
    for method, path in (("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("GET", "/no/such/route")):
        response = httpx.request(method, auth_url + path, json={})
        assert response.status_code == 401, path
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert response.headers["www-authenticate"] == "Bearer"
    basic = httpx.get(auth_url + "/v1/models", headers={"Authorization": f"Basic {KEY}"})
    assert basic.status_code == 401
    completion = client(auth_url, key=KEY).chat.completions.create(
        model="qa", messages=[{"role": "user", "content": QUESTION}]
    )
    assert completion.model_extra["citations"]
    assert httpx.get(auth_url + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "param", "says"),
    [
        ("{not json", None, "not valid JSON"),
        ("[1, 2]", None, "JSON object"),
        ("", None, "JSON object"),
        ({"model": "qa"}, "messages", "Field required"),
        ({"model": "qa", "messages": []}, "messages", "at least 1"),
        (
            {"messages": [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "Hi"}]},
            "messages",
            "last message",
        ),
        ({"messages": [{"role": "user", "content": "   "}]}, "messages", "no text"),
        ({"messages": [{"role": "wizard", "content": QUESTION}]}, "messages.0.role", "Input should be"),
        ({"messages": [{"role": "user", "content": QUESTION}], "n": 2}, "n", "less than or equal to 1"),
    ],
)
def test_bad_requests_get_openai_errors(url: str, body: Any, param: str | None, says: str) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    response = httpx.post(
        url + "/v1/chat/completions", content=content, headers={"Content-Type": "application/json"}, timeout=60
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param and says in error["message"]


def test_bad_requests_through_the_sdk(url: str) -> None:
    with pytest.raises(openai.BadRequestError) as empty:
        client(url).chat.completions.create(model="qa", messages=[])
    assert empty.value.status_code == 400 and empty.value.param == "messages"
    missing = httpx.get(url + "/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "Invalid URL (GET /v1/nothing)"
    wrong_method = httpx.delete(url + "/v1/models")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["type"] == "invalid_request_error"


def test_engine_failure_is_a_500(url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> qa.Answer:
        raise qa.IndexStoreError("reading the index failed: disk on fire")

    monkeypatch.setattr(engine, "answer", broken)
    with pytest.raises(openai.InternalServerError) as raised:
        client(url).chat.completions.create(model="qa", messages=[{"role": "user", "content": QUESTION}], stream=True)
    assert raised.value.status_code == 500
    body = raised.value.body
    assert isinstance(body, dict) and body["type"] == "server_error" and "disk on fire" in body["message"]

    def crash(*args: Any, **kwargs: Any) -> qa.Answer:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(engine, "answer", crash)
    response = httpx.post(url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}]})
    assert response.status_code == 500 and "secret internals" not in response.text
    assert response.json()["error"]["type"] == "server_error"


def _passage_numbered(request: dict[str, Any], needle: str) -> int:
    prompt = "\n".join(str(message.get("content")) for message in request["messages"])
    for match in re.finditer(r'<passage n="(\d+)"[^>]*>(.*?)</passage>', prompt, re.S):
        if needle in match.group(2):
            return int(match.group(1))
    raise AssertionError(f"no passage with {needle!r} in the prompt")


def test_llm_backend_streams_the_checked_text(seed_settings: Settings, embeddings: SentenceEmbeddings) -> None:
    """The LLM's raw text cites a passage that does not exist and numbers by prompt order; the
    client receives the checked text, whose markers are the citations' numbers, streaming or not."""
    with LLMServer() as llm:

        def reply(request: dict[str, Any]) -> str:
            n = _passage_numbered(request, "ICBC")
            return f"ICBC and Bank of China are restricting purchases of Russian commodities [{n}]. They are big [9]."

        llm.reply = reply
        settings = seed_settings.model_copy(
            update={
                "backend": "openai",
                "openai_base_url": llm.openai_base_url,
                "openai_model": "test",
                "llm_timeout_s": 5.0,
            }
        )
        with running(create_app(settings, Engine(settings, embeddings))) as base:
            messages = [{"role": "user", "content": QUESTION}]
            completion = client(base).chat.completions.create(model="qa", messages=messages)
            content = completion.choices[0].message.content or ""
            assert "[9]" not in content and content.startswith("ICBC and Bank of China") and "[1]" in content
            check_citations(completion.model_extra["citations"], content)
            assert completion.model_extra["answer"]["backend"] == "openai"
            chunks = list(client(base).chat.completions.create(model="qa", messages=messages, stream=True))
            assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == content
            assert chunks[-1].model_extra["citations"] == completion.model_extra["citations"]

            llm.mode = "http_500"  # the LLM fails: the extractive answer, marked, and no stream error
            chunks = list(client(base).chat.completions.create(model="qa", messages=messages, stream=True))
            meta = chunks[-1].model_extra["answer"]
            assert meta["fallback"] is True and meta["error"].startswith("openai: ")
            assert "ICBC" in "".join(chunk.choices[0].delta.content or "" for chunk in chunks)


def test_text_pieces_rebuild_the_text() -> None:
    for text in ("One [1]. Two\n\nthree [2].", "  lead and trail  ", "", NOT_FOUND_TEXT):
        assert "".join(text_pieces(text)) == text
    assert text_pieces("a b\nc") == ["a ", "b\n", "c"]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("QA_")}
    return {**env, "QA_CONFIG": str(ROOT / "no-such-qa.toml"), **extra}


def test_python_m_qa_serve(tmp_path: Path, hash_embeddings: HashEmbeddings) -> None:
    """The real command: binds 127.0.0.1 (port 0 = any free one), takes QA_API_KEY, answers. That
    it serves the cited answer does not depend on the model: the hash double embeds, in the index
    and in the server (which then loads no torch)."""
    index = seed_index_in(tmp_path, hash_embeddings)
    command = [sys.executable, "-m", "qa", "serve", "--index", str(index), "--port", "0"]
    env = _clean_env(QA_API_KEY=KEY, **hash_model_env())
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:  # until uvicorn says where it listens (EOF if it died)
            seen.append(line)
            found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
            if found:
                break
        else:
            pytest.fail("serve exited before listening:\n" + "".join(seen))
        base = found.group(1)
        assert httpx.get(base + "/v1/models").status_code == 401
        completion = client(base, key=KEY).chat.completions.create(
            model="qa", messages=[{"role": "user", "content": QUESTION}]
        )
        check_citations(completion.model_extra["citations"], completion.choices[0].message.content or "")
    finally:
        process.terminate()
        rest, _ = process.communicate(timeout=30)
    assert "Finished server process" in rest  # a clean shutdown (uvicorn then re-raises SIGTERM)


def test_serve_without_an_index_fails_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qa", "serve", "--index", str(tmp_path / "none")],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: no index in {tmp_path / 'none'}; build it with: python ingest.py [PATH ...]"
    ]
