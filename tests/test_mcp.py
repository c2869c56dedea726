"""The MCP server (`python -m qa mcp`) through the official SDK's own client: in memory for the
rules, over stdio and Streamable HTTP (real subprocesses, a real port) for the transports, on a
real index of the seeds. Which passage answers does not depend on the model here: the hash double
embeds, in this process and in the servers started."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from qa import load_settings
from qa.answering.engine import Engine
from qa.answering.engines import EnginePool
from qa.mcp_server import RESOURCE_PREFIX, create_server

from .conftest import ROOT, SEED_FILE, hash_model_env, run_cli, seed_index_in
from .doubles import HASH_THRESHOLDS, HashEmbeddings

QUESTION = "Which two Chinese banks restricted financing?"
SOURCE = SEED_FILE.name


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, hash_embeddings: HashEmbeddings) -> Path:
    return seed_index_in(tmp_path_factory.mktemp("mcp"), hash_embeddings)


@pytest.fixture(scope="module")
def engines(index: Path, hash_embeddings: HashEmbeddings) -> Iterator[EnginePool]:
    pool = EnginePool(load_settings(index_dir=index, **HASH_THRESHOLDS), embeddings=hash_embeddings)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def engine(engines: EnginePool) -> Engine:
    return engines.get()


@pytest.fixture
def server(engines: EnginePool) -> Any:
    """The server in this process; each test connects the SDK's in-memory client to it (an async
    fixture would enter and leave the client's task group in different tasks)."""
    return create_server(engines)


def error_text(result: Any) -> str:
    assert result.is_error and result.structured_content is None
    return str(result.content[0].text)


async def test_tools_are_listed_with_schemas_an_llm_can_act_on(server: Any) -> None:
    async with Client(server, raise_exceptions=True) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {"ask", "search", "list_documents", "list_collections"}
        assert tools["ask"].input_schema["required"] == ["question"]
        assert tools["search"].input_schema["required"] == ["query"]
        assert tools["search"].input_schema["properties"]["k"]["maximum"] == 50
        for name, fields in (("ask", {"text", "citations", "not_found", "claims", "short"}), ("search", {"passages"})):
            assert tools[name].output_schema is not None and fields <= set(tools[name].output_schema["properties"])
            assert len(tools[name].description or "") > 60
            assert tools[name].annotations is not None and tools[name].annotations.read_only_hint


async def test_ask_gives_the_checked_answer_of_qa_ask_json(server: Any, engine: Engine) -> None:
    async with Client(server, raise_exceptions=True) as client:
        result = await client.call_tool("ask", {"question": QUESTION})
        assert not result.is_error
        structured = result.structured_content
        assert structured == engine.answer(QUESTION).to_json()  # the object `qa ask --json` prints
        assert not structured["not_found"] and structured["citations"]
        for citation in structured["citations"]:
            assert citation["source"] == SOURCE and citation["quote"] in citation["passage"]
            assert citation["quote"] in SEED_FILE.read_text(encoding="utf-8")
        text = result.content[0].text
        assert structured["text"] in text and structured["citations"][0]["quote"] in text


async def test_a_follow_up_is_read_with_its_history_and_sources_restrict(server: Any) -> None:
    async with Client(server, raise_exceptions=True) as client:
        history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "ICBC and Bank of China."}]
        result = await client.call_tool("ask", {"question": "Why?", "history": history, "sources": [SOURCE]})
        assert not result.is_error
        assert result.structured_content["standalone_question"] != "Why?"


async def test_search_and_list_documents(server: Any, index: Path) -> None:
    async with Client(server, raise_exceptions=True) as client:
        result = await client.call_tool("search", {"query": "Chinese banks restrict financing", "k": 3})
        passages = result.structured_content["passages"]
        assert len(passages) == 3 and {passage["source"] for passage in passages} == {SOURCE}
        assert all({"source", "page", "text", "score", "location"} <= set(passage) for passage in passages)
        assert [p["score"] for p in passages] and passages[0]["text"] in SEED_FILE.read_text(encoding="utf-8")
        listing = (await client.call_tool("list_documents", {})).structured_content
        assert [document["source"] for document in listing["documents"]] == [SOURCE]
        assert listing["documents"][0]["chunks"] == listing["chunks"] > 1


async def test_documents_are_resources_with_their_text_as_indexed(server: Any) -> None:
    async with Client(server, raise_exceptions=True) as client:
        resources = (await client.list_resources()).resources
        assert [str(resource.uri) for resource in resources] == [RESOURCE_PREFIX + SOURCE]
        text = (await client.read_resource(resources[0].uri)).contents[0].text
        original = " ".join(SEED_FILE.read_text(encoding="utf-8").split())
        assert " ".join(text.split()) == original  # the chunks stitched back, overlaps once
        with pytest.raises(MCPError, match="no indexed document"):
            await client.read_resource(RESOURCE_PREFIX + "elsewhere.txt")


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("ask", {"question": "   "}, "the question is empty"),
        ("ask", {"question": ""}, "at least 1 character"),
        ("ask", {}, "question"),
        ("ask", {"question": "Who?", "sources": ["nope.txt"]}, "not in the index: 'nope.txt'"),
        ("search", {"query": "banks", "k": 0}, "greater than or equal to 1"),
        ("search", {"query": "banks", "k": 51}, "less than or equal to 50"),
        ("search", {"query": "banks", "sources": ["../etc/passwd"]}, "not in the index"),
        ("ingest", {}, "Unknown tool"),
    ],
)
async def test_bad_arguments_are_clear_tool_errors(server: Any, tool: str, arguments: dict, message: str) -> None:
    async with Client(server, raise_exceptions=True) as client:
        result = await client.call_tool(tool, arguments)
        assert message in error_text(result)


async def test_a_failing_llm_gives_the_extractive_answer(index: Path, hash_embeddings: HashEmbeddings) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
    settings = load_settings(index_dir=index, backend="openai", openai_base_url=dead, **HASH_THRESHOLDS)
    pool = EnginePool(settings, embeddings=hash_embeddings)
    try:
        async with Client(create_server(pool)) as client:
            structured = (await client.call_tool("ask", {"question": QUESTION})).structured_content
    finally:
        pool.close()
    assert structured["fallback"] and structured["backend"] == "openai" and structured["error"]
    assert structured["citations"] and not structured["not_found"]


async def test_answers_run_at_the_configured_concurrency(
    index: Path, engine: Engine, hash_embeddings: HashEmbeddings
) -> None:
    in_flight, most = 0, 0
    changed = threading.Condition()
    release = threading.Event()
    answer = engine.answer

    def held_answer(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, most
        with changed:
            in_flight += 1
            most = max(most, in_flight)
            changed.notify_all()
        release.wait(timeout=60)
        try:
            return answer(*args, **kwargs)
        finally:
            with changed:
                in_flight -= 1

    def two_running() -> None:
        with changed:
            assert changed.wait_for(lambda: in_flight == 2, timeout=60)
        release.set()

    engine.answer = held_answer  # type: ignore[method-assign]
    try:
        pool = EnginePool(load_settings(index_dir=index, answer_concurrency=2), embeddings=hash_embeddings)
        pool._engines["default"] = engine  # the engine whose answers are held
        async with Client(create_server(pool)) as client:
            calls = [client.call_tool("ask", {"question": QUESTION}) for _ in range(6)]
            watcher = asyncio.to_thread(two_running)
            *results, _ = await asyncio.gather(*calls, watcher)
    finally:
        del engine.answer
    assert most == 2 and all(not result.is_error for result in results)


def child_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("QA_")}
    return {**env, **hash_model_env(), **extra}


async def test_stdio_server_answers_and_exits_when_stdin_closes(index: Path) -> None:
    # the same server started by hand, first, so that it starts while the client's runs: closing
    # its stdin (below) ends it, cleanly
    process = subprocess.Popen(
        [sys.executable, "-m", "qa", "mcp", "--index", str(index)],
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    env = {**hash_model_env(), "QA_INDEX_DIR": str(index)}
    params = StdioServerParameters(command=sys.executable, args=["-m", "qa", "mcp"], cwd=str(ROOT), env=env)
    try:
        async with Client(params) as client:
            assert {"ask", "search", "list_documents"} <= {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("ask", {"question": QUESTION})
            assert not result.is_error and result.structured_content["citations"][0]["source"] == SOURCE
            assert "not in the index" in error_text(await client.call_tool("search", {"query": "x", "sources": ["y"]}))
    finally:
        out, err = await asyncio.to_thread(process.communicate, input=b"", timeout=120)
    assert process.returncode == 0, err.decode()
    assert out == b"" and b"Traceback" not in err


@pytest.fixture(scope="module")
def http_server(index: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = child_env(QA_API_KEY="s3cret-key", QA_INDEX_DIR=str(index), QA_ANSWER_CONCURRENCY="4")
    process = subprocess.Popen(
        [sys.executable, "-m", "qa", "mcp", "--transport", "http", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:  # the server says where it listens once it has bound the port
        if "MCP server listening" in line:
            break
    else:
        raise AssertionError(f"the server did not start: exit {process.wait()}")
    threading.Thread(target=process.stderr.read, daemon=True).start()  # keep its pipe drained
    yield f"http://127.0.0.1:{port}/mcp"
    process.terminate()
    assert process.wait(timeout=30) in (0, -15)


async def test_http_needs_the_key_and_serves_concurrent_calls(http_server: str) -> None:
    unauthorized = httpx.post(http_server, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert unauthorized.status_code == 401 and unauthorized.headers["www-authenticate"] == "Bearer"
    wrong = httpx.post(http_server, json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    async with httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret-key"}, timeout=120) as http:
        async with Client(streamable_http_client(http_server, http_client=http)) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"ask", "search", "list_documents", "list_collections"} == names
            questions = [QUESTION, "What did China's foreign minister say?"] * 10
            results = await asyncio.gather(*(client.call_tool("ask", {"question": q}) for q in questions))
    assert not any(result.is_error for result in results)
    texts = {result.structured_content["text"] for result in results}
    assert len(texts) == 2  # the same question got the same answer every time, under load too
    assert all(c["source"] == SOURCE for result in results for c in result.structured_content["citations"])


def test_http_beyond_this_machine_needs_a_key() -> None:
    done = run_cli(["-m", "qa", "mcp", "--transport", "http", "--host", "0.0.0.0"], env=child_env())
    assert done.returncode == 1 and "refusing to serve MCP on 0.0.0.0 without a key" in done.stderr
    assert "Traceback" not in done.stderr
