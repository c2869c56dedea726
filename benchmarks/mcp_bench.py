"""The MCP server's costs, with the real model, on an index of the seeds:

- launch to the first answered `ask` over stdio (what a desktop assistant waits for),
- `ask` p50 through MCP (stdio) against the same question answered in-process (`Engine.answer`),
  which is the protocol's overhead,
- N concurrent `ask` calls over Streamable HTTP with a bearer key: errors and wall time.

    .venv/bin/python benchmarks/mcp_bench.py [--repeats 20] [--concurrent 20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.answering.engine import Engine  # noqa: E402
from qa.config import load_settings  # noqa: E402
from qa.evaluate import machine  # noqa: E402
from qa.ingestion.pipeline import ingest  # noqa: E402

QUESTIONS = [
    "Which two Chinese banks restricted financing?",
    "What did China's foreign minister say to his Ukrainian counterpart?",
    "Why are Chinese banks limiting financing for Russian commodities?",
    "Who did Wang Yi speak with?",
]


async def over_stdio(index: Path, repeats: int) -> dict[str, float]:
    began = time.perf_counter()
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "qa", "mcp", "--index", str(index)], cwd=str(ROOT)
    )
    async with Client(params) as client:
        listed = time.perf_counter() - began
        await client.call_tool("ask", {"question": QUESTIONS[0]})
        first = time.perf_counter() - began
        times = []
        for number in range(repeats):
            start = time.perf_counter()
            result = await client.call_tool("ask", {"question": QUESTIONS[number % len(QUESTIONS)]})
            times.append((time.perf_counter() - start) * 1000)
            assert not result.is_error
    return {"tools_listed_s": listed, "first_answer_s": first, "ask_p50_ms": statistics.median(times)}


def in_process(index: Path, repeats: int) -> float:
    engine = Engine(load_settings(index_dir=index))
    engine.answer(QUESTIONS[0])
    times = []
    for number in range(repeats):
        start = time.perf_counter()
        engine.answer(QUESTIONS[number % len(QUESTIONS)])
        times.append((time.perf_counter() - start) * 1000)
    engine.close()
    return statistics.median(times)


async def over_http(index: Path, concurrent: int) -> dict[str, float]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "QA_API_KEY": "bench-key", "QA_INDEX_DIR": str(index)}
    server = subprocess.Popen(
        [sys.executable, "-m", "qa", "mcp", "--transport", "http", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stderr is not None
    for line in server.stderr:
        if "MCP server listening" in line:
            break
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        async with httpx2.AsyncClient(headers={"Authorization": "Bearer bench-key"}, timeout=300) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                await client.call_tool("ask", {"question": QUESTIONS[0]})  # the model loaded
                start = time.perf_counter()
                calls = [
                    client.call_tool("ask", {"question": QUESTIONS[n % len(QUESTIONS)]}) for n in range(concurrent)
                ]
                results = await asyncio.gather(*calls, return_exceptions=True)
                wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)
    errors = sum(1 for result in results if isinstance(result, BaseException) or result.is_error)
    return {"concurrent": concurrent, "errors": errors, "wall_s": wall, "answers_per_s": concurrent / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        index = Path(folder) / "index"
        ingest([ROOT / "seeds"], load_settings(index_dir=index))
        stdio = asyncio.run(over_stdio(index, args.repeats))
        direct = in_process(index, args.repeats)
        http = asyncio.run(over_http(index, args.concurrent))
    report = {
        "machine": machine(),
        "stdio": stdio,
        "in_process_ask_p50_ms": direct,
        "protocol_overhead_ms": stdio["ask_p50_ms"] - direct,
        "http": http,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {report['machine']}")
    listed, first = stdio["tools_listed_s"], stdio["first_answer_s"]
    print(f"stdio: tools listed {listed:.2f} s after launch, first answer {first:.2f} s")
    print(f"ask p50: {stdio['ask_p50_ms']:.1f} ms through MCP, {direct:.1f} ms in-process")
    print(f"http: {http['concurrent']} concurrent asks, {http['errors']} errors, {http['wall_s']:.2f} s")


if __name__ == "__main__":
    main()
