"""Self-test of the fake LLM server against the real clients.

Besides checking the server, these tests pin down what each client raises for each
failure, so backend code can rely on the table (and notice when an upgrade changes it).
Surprises they document: a stream that ends cleanly without its end marker is accepted
as a complete (but short) answer by openai, ChatOpenAI and ChatOllama alike; ChatOllama
lets raw httpx / json errors escape; malformed JSON is a bare json.JSONDecodeError.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI
from langchain_openai.chat_models.base import (
    OpenAIAPIError,
    OpenAIAuthenticationError,
    OpenAIConnectionError,
    OpenAIRateLimitError,
    OpenAITimeoutError,
)

from .llm_server import MODES, LLMServer, split_reply

REPLY = "The harbour council met on Tuesday and agreed to raise the budget."
TIMEOUT_S = 0.3  # client timeout for the slow modes; the server stalls far longer
MESSAGES = [{"role": "user", "content": "When did the council meet?"}]


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with LLMServer(reply=REPLY, delay_s=30) as running:
        yield running


def openai_client(server: LLMServer, max_retries: int = 0, timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.openai_base_url, api_key="x", max_retries=max_retries, timeout=timeout)


def chat_openai(server: LLMServer, timeout: float = 5.0) -> ChatOpenAI:
    return ChatOpenAI(base_url=server.openai_base_url, api_key="x", model="test", max_retries=0, timeout=timeout)


def chat_ollama(server: LLMServer, timeout: float = 5.0) -> ChatOllama:
    return ChatOllama(base_url=server.url, model="test", client_kwargs={"timeout": timeout})


def openai_stream(client: openai.OpenAI, **kwargs: Any) -> tuple[list[str], str | None]:
    """Content deltas and the last finish_reason seen."""
    deltas: list[str] = []
    finish_reason = None
    for chunk in client.chat.completions.create(model="test", messages=MESSAGES, stream=True, **kwargs):
        if chunk.choices:
            deltas.append(chunk.choices[0].delta.content or "")
            finish_reason = chunk.choices[0].finish_reason or finish_reason
    return deltas, finish_reason


def expected_prefix(cut_after: int) -> str:
    return "".join(split_reply(REPLY)[:cut_after])


# -- happy paths ----------------------------------------------------------------------------


def test_urls_and_mode_validation(server: LLMServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.openai_base_url == server.url + "/v1"
    assert "".join(split_reply("  two  words ")) == "  two  words "
    with pytest.raises(ValueError, match="unknown mode"):
        server.mode = "flaky"
    assert server.mode == "ok"
    assert {"ok", "drop", "cut_stream", "truncated_stream"} <= MODES


def test_openai_client_non_streaming_and_streaming(server: LLMServer) -> None:
    client = openai_client(server)
    completion = client.chat.completions.create(model="test", messages=MESSAGES)
    assert completion.choices[0].message.content == REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens > 1

    deltas, finish_reason = openai_stream(client)
    assert "".join(deltas) == REPLY
    assert len([d for d in deltas if d]) == len(split_reply(REPLY)) > 1
    assert finish_reason == "stop"

    usage_seen = []
    for chunk in client.chat.completions.create(
        model="test", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ):
        if not chunk.choices:
            usage_seen.append(chunk.usage)
    assert len(usage_seen) == 1 and usage_seen[0] is not None
    assert [m.id for m in client.models.list()] == ["test"]


def test_sse_wire_format(server: LLMServer) -> None:
    """Raw bytes: chunked SSE, one JSON chunk per event, usage then [DONE] last."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    body = {
        "model": "m",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    connection.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    assert response.getheader("Transfer-Encoding") == "chunked"
    events = response.read().decode().split("\n\n")
    connection.close()
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-2]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 1
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks[1:-2]) == REPLY


def test_chat_openai_invoke_and_stream(server: LLMServer) -> None:
    model = chat_openai(server)
    message = model.invoke("When did the council meet?")
    assert message.content == REPLY
    assert message.response_metadata["finish_reason"] == "stop"

    chunks = list(model.stream("When did the council meet?"))
    assert "".join(str(c.content) for c in chunks) == REPLY
    assert len([c for c in chunks if c.content]) > 1
    assert [c.response_metadata.get("finish_reason") for c in chunks].count("stop") == 1


def test_chat_ollama_invoke_and_stream(server: LLMServer) -> None:
    model = chat_ollama(server)
    message = model.invoke("When did the council meet?")
    assert message.content == REPLY
    assert message.response_metadata["done_reason"] == "stop"
    assert message.usage_metadata is not None and message.usage_metadata["output_tokens"] > 1

    chunks = list(model.stream("When did the council meet?"))
    assert "".join(str(c.content) for c in chunks) == REPLY
    assert len([c for c in chunks if c.content]) > 1
    assert [c.response_metadata.get("done_reason") for c in chunks].count("stop") == 1

    whole = model.invoke("When did the council meet?", stream=False)
    assert whole.content == REPLY
    assert server.chat_requests[-1]["json"]["stream"] is False
    # by default ChatOllama only ever calls /api/chat (it streams even for invoke)
    assert {r["path"] for r in server.requests} == {"/api/chat"}
    assert all(r["json"]["stream"] is True for r in server.chat_requests[:2])


def test_chat_ollama_validate_model_uses_tags(server: LLMServer) -> None:
    ChatOllama(base_url=server.url, model="test", validate_model_on_init=True)
    assert server.requests[-1]["path"] == "/api/tags"
    with pytest.raises(ValueError, match="not found"):
        ChatOllama(base_url=server.url, model="other", validate_model_on_init=True)


def test_requests_are_recorded_with_messages(server: LLMServer) -> None:
    messages = [SystemMessage("Answer from the context."), HumanMessage("Who met?")]
    chat_openai(server).invoke(messages)
    chat_ollama(server).invoke(messages)
    openai_request, ollama_request = server.chat_requests
    assert openai_request["path"] == "/v1/chat/completions"
    assert openai_request["headers"]["authorization"] == "Bearer x"
    assert openai_request["json"]["model"] == "test"
    assert openai_request["json"]["messages"] == [
        {"role": "system", "content": "Answer from the context."},
        {"role": "user", "content": "Who met?"},
    ]
    assert ollama_request["path"] == "/api/chat"
    assert [(m["role"], m["content"]) for m in ollama_request["json"]["messages"]] == [
        ("system", "Answer from the context."),
        ("user", "Who met?"),
    ]
    server.clear_requests()
    assert server.requests == []


def test_reply_callable_sees_the_request(server: LLMServer) -> None:
    server.reply = lambda request: "echo: " + request["messages"][-1]["content"]
    assert chat_openai(server).invoke("ping pong").content == "echo: ping pong"
    assert chat_ollama(server).invoke("ping pong").content == "echo: ping pong"

    def broken(request: dict[str, Any]) -> str:
        raise KeyError("passage")

    server.reply = broken
    with pytest.raises(openai.InternalServerError, match="reply callable failed: KeyError"):
        openai_client(server).chat.completions.create(model="test", messages=MESSAGES)


def test_slow_stream_with_short_delay_completes(server: LLMServer) -> None:
    server.mode = "slow_stream"
    server.delay_s = 0.002
    deltas, finish_reason = openai_stream(openai_client(server))
    assert "".join(deltas) == REPLY and finish_reason == "stop"
    assert "".join(str(c.content) for c in chat_ollama(server).stream("hi")) == REPLY


# -- failures: the openai client ------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("http_500", openai.InternalServerError),
        ("http_401", openai.AuthenticationError),
        ("http_429", openai.RateLimitError),
        ("drop", openai.APIConnectionError),
        (
            "cut_stream",
            openai.APIConnectionError,
        ),  # non-streaming: body shorter than Content-Length
        ("truncated_stream", openai.APIConnectionError),  # same on a non-streaming call
        (
            "malformed_stream",
            json.JSONDecodeError,
        ),  # same as malformed_json on a non-streaming call
        ("malformed_json", json.JSONDecodeError),  # not wrapped in an openai error
    ],
)
def test_openai_client_failures(server: LLMServer, mode: str, error: type[Exception]) -> None:
    server.mode = mode
    client = openai_client(server)
    with pytest.raises(error) as non_streaming:
        client.chat.completions.create(model="test", messages=MESSAGES)
    assert type(non_streaming.value) is error

    if mode in ("truncated_stream", "malformed_json"):
        return  # streaming differs: see test_openai_client_silent_streams
    deltas: list[str] = []
    with pytest.raises(error) as streaming:
        for chunk in client.chat.completions.create(model="test", messages=MESSAGES, stream=True):
            deltas.append(chunk.choices[0].delta.content or "")
    assert type(streaming.value) is error
    if mode in ("cut_stream", "malformed_stream"):
        assert "".join(deltas) == expected_prefix(server.cut_after)  # partial text came first
    assert len(server.chat_requests) == 2  # max_retries=0: one attempt per call


def test_openai_client_silent_streams(server: LLMServer) -> None:
    """No exception: a clean end without [DONE] / finish_reason looks like a short answer."""
    client = openai_client(server)
    server.mode = "truncated_stream"
    deltas, finish_reason = openai_stream(client)
    assert "".join(deltas) == expected_prefix(server.cut_after)
    assert finish_reason is None  # the only sign that the answer is incomplete

    server.mode = "malformed_json"  # a non-SSE body on a streaming call: zero events
    assert openai_stream(client) == ([], None)


@pytest.mark.parametrize(("mode", "streaming"), [("slow", False), ("slow_stream", True)])
def test_openai_client_timeouts(server: LLMServer, mode: str, streaming: bool) -> None:
    server.mode = mode
    client = openai_client(server, timeout=TIMEOUT_S)
    deltas: list[str] = []
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        if streaming:
            for chunk in client.chat.completions.create(model="test", messages=MESSAGES, stream=True):
                deltas.append(chunk.choices[0].delta.content or "")
        else:
            client.chat.completions.create(model="test", messages=MESSAGES)
    assert TIMEOUT_S * 0.9 <= time.monotonic() - started < TIMEOUT_S + 2
    if streaming:
        assert "".join(deltas) == split_reply(REPLY)[0]  # the first piece arrived before the stall


def test_openai_client_retries_count_as_requests(server: LLMServer) -> None:
    """The client retries 5xx / connection errors by itself; max_retries=0 stops that."""
    server.mode = "http_500"
    with pytest.raises(openai.InternalServerError):
        openai_client(server, max_retries=1).chat.completions.create(model="test", messages=MESSAGES)
    assert len(server.chat_requests) == 2
    server.clear_requests()
    server.mode = "http_401"  # not retried
    with pytest.raises(openai.AuthenticationError):
        openai_client(server, max_retries=1).chat.completions.create(model="test", messages=MESSAGES)
    assert len(server.chat_requests) == 1


# -- failures: ChatOpenAI -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "error", "openai_error"),
    [
        ("http_500", OpenAIAPIError, openai.InternalServerError),
        ("http_401", OpenAIAuthenticationError, openai.AuthenticationError),
        ("http_429", OpenAIRateLimitError, openai.RateLimitError),
        ("drop", OpenAIConnectionError, openai.APIConnectionError),
        ("cut_stream", OpenAIConnectionError, openai.APIConnectionError),
        ("malformed_stream", json.JSONDecodeError, json.JSONDecodeError),
    ],
)
def test_chat_openai_failures(
    server: LLMServer, mode: str, error: type[Exception], openai_error: type[Exception]
) -> None:
    """langchain-openai re-raises openai errors as subclasses that are also langchain ModelErrors."""
    server.mode = mode
    model = chat_openai(server)
    with pytest.raises(error) as invoked:
        model.invoke("hi")
    with pytest.raises(error) as streamed:
        list(model.stream("hi"))
    for raised in (invoked.value, streamed.value):
        assert type(raised) is error and isinstance(raised, openai_error)
    assert len(server.chat_requests) == 2


def test_chat_openai_silent_and_odd_streams(server: LLMServer) -> None:
    model = chat_openai(server)
    server.mode = "truncated_stream"
    chunks = list(model.stream("hi"))  # no exception
    assert "".join(str(c.content) for c in chunks) == expected_prefix(server.cut_after)
    assert all("finish_reason" not in c.response_metadata for c in chunks)
    with pytest.raises(OpenAIConnectionError):
        model.invoke("hi")  # non-streaming: the body is cut short

    server.mode = "malformed_json"
    with pytest.raises(json.JSONDecodeError):
        model.invoke("hi")
    with pytest.raises(ValueError, match="No generation chunks were returned"):
        list(model.stream("hi"))


@pytest.mark.parametrize(("mode", "streaming"), [("slow", False), ("slow_stream", True)])
def test_chat_openai_timeouts(server: LLMServer, mode: str, streaming: bool) -> None:
    server.mode = mode
    model = chat_openai(server, timeout=TIMEOUT_S)
    started = time.monotonic()
    with pytest.raises(OpenAITimeoutError) as raised:
        if streaming:
            list(model.stream("hi"))
        else:
            model.invoke("hi")
    assert isinstance(raised.value, openai.APITimeoutError)
    assert TIMEOUT_S * 0.9 <= time.monotonic() - started < TIMEOUT_S + 2


# -- failures: ChatOllama -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("http_500", ollama.ResponseError),
        ("http_401", ollama.ResponseError),
        ("http_429", ollama.ResponseError),
        ("drop", httpx.RemoteProtocolError),  # raw httpx: ollama wraps only ConnectError
        ("cut_stream", httpx.RemoteProtocolError),
        ("malformed_stream", json.JSONDecodeError),
        ("malformed_json", json.JSONDecodeError),
    ],
)
def test_chat_ollama_failures(server: LLMServer, mode: str, error: type[Exception]) -> None:
    """invoke and stream both stream underneath, so they fail alike; no retries."""
    server.mode = mode
    model = chat_ollama(server)
    with pytest.raises(error) as invoked:
        model.invoke("hi")
    streamed_text: list[str] = []
    with pytest.raises(error) as streamed:
        for chunk in model.stream("hi"):
            streamed_text.append(str(chunk.content))
    with pytest.raises(error) as whole:
        model.invoke("hi", stream=False)
    for raised in (invoked.value, streamed.value, whole.value):
        assert type(raised) is error
    if mode.startswith("http_"):
        status = int(mode.removeprefix("http_"))
        assert isinstance(invoked.value, ollama.ResponseError)
        assert invoked.value.status_code == status
        assert "(status code: " in str(invoked.value)
    if mode in ("cut_stream", "malformed_stream"):
        assert "".join(streamed_text) == expected_prefix(server.cut_after)
    assert len(server.chat_requests) == 3


def test_chat_ollama_accepts_stream_without_done(server: LLMServer) -> None:
    """No exception, even from invoke: a short answer with no done_reason."""
    server.mode = "truncated_stream"
    model = chat_ollama(server)
    message = model.invoke("hi")
    assert message.content == expected_prefix(server.cut_after)
    assert "done_reason" not in message.response_metadata
    chunks = list(model.stream("hi"))
    assert "".join(str(c.content) for c in chunks) == expected_prefix(server.cut_after)
    assert all(not c.response_metadata.get("done") for c in chunks)


@pytest.mark.parametrize(("mode", "streaming"), [("slow", False), ("slow_stream", True)])
def test_chat_ollama_timeouts(server: LLMServer, mode: str, streaming: bool) -> None:
    server.mode = mode
    model = chat_ollama(server, timeout=TIMEOUT_S)
    text: list[str] = []
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        if streaming:
            for chunk in model.stream("hi"):
                text.append(str(chunk.content))
        else:
            model.invoke("hi")
    assert TIMEOUT_S * 0.9 <= time.monotonic() - started < TIMEOUT_S + 2
    if streaming:
        assert "".join(text) == split_reply(REPLY)[0]


# -- lifecycle ------------------------------------------------------------------------------


def test_close_interrupts_a_sleeping_handler() -> None:
    server = LLMServer(mode="slow", delay_s=60)
    outcome: dict[str, BaseException] = {}

    def call() -> None:
        try:
            openai_client(server, timeout=30).chat.completions.create(model="test", messages=MESSAGES)
        except openai.APIError as error:
            outcome["error"] = error

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    deadline = time.monotonic() + 5
    while not server.chat_requests and time.monotonic() < deadline:
        time.sleep(0.01)  # wait for the request to reach the handler
    assert server.chat_requests

    started = time.monotonic()
    server.close()
    assert time.monotonic() - started < 1
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert type(outcome["error"]) is openai.APIConnectionError
    server.close()  # idempotent
