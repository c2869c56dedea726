"""The app in a subprocess, and a bounded load driver for it (used by tests/test_load.py and
benchmarks/load_test.py): N chat sessions (one gradio_client each, with follow-up questions that
carry the conversation) call /ask on 127.0.0.1 until a deadline or a request cap, while the app's
resident memory is sampled."""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .doubles import HASH_MIN_COVERAGE, HASH_MIN_RELEVANCE, HASH_MODEL_ENV

ROOT = Path(__file__).resolve().parent.parent
STARTUP_DEADLINE_S = 180
#: A session's wait for any one HTTP exchange with the app (connect, config, queue join, each read
#: of the event stream; the stream carries a heartbeat every 15 s). httpx's default, 5 s, is what
#: a page load takes on 2 busy cores when 20 sessions connect at once beside an ingest and, in the
#: test suite, the other worker's tests: a ReadTimeout there is the load driver's, not the app's.
CLIENT_TIMEOUT_S = 60.0

_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with _no_proxy.open(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class AppProcess:
    url: str
    docs: Path
    index: Path
    log: Path
    pid: int
    ready_s: float  # from process start until the page answered

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]


class AppFailed(RuntimeError):
    """The app exited or never served its page."""


@contextmanager
def app_process(
    docs: Path, index: Path, log_path: Path, env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> Iterator[AppProcess]:
    """`python app.py [args]` on 127.0.0.1 with a free port, no QA_* variables inherited; stopped
    on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    full_env = {key: value for key, value in os.environ.items() if not key.startswith("QA_")}
    if os.environ.get(HASH_MODEL_ENV) == "1":  # the test asked for the hash double: its threshold too
        full_env["QA_MIN_RELEVANCE"] = HASH_MIN_RELEVANCE
        full_env["QA_MIN_COVERAGE"] = HASH_MIN_COVERAGE
    full_env.update(GRADIO_ANALYTICS_ENABLED="False", QA_CONFIG=str(log_path.parent / "no-qa.toml"), **(env or {}))
    command = [
        sys.executable,
        "app.py",
        "--index",
        str(index),
        "--docs",
        str(docs),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        *args,
    ]
    with open(log_path, "w", encoding="utf-8") as log:
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    app = AppProcess(url, docs, index, log_path, process.pid, 0.0)
    try:
        while not answers(url):  # readiness poll: the pause between tries is a wait for the process to exit
            if time.monotonic() - started > STARTUP_DEADLINE_S:
                raise AppFailed(f"app not ready after {STARTUP_DEADLINE_S} s; its log:\n{app.log_tail()}")
            try:
                code = process.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                continue
            raise AppFailed(f"app exited with code {code} before serving; its log:\n{app.log_tail()}")
        app.ready_s = time.monotonic() - started
        yield app
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class LoadResult:
    sessions: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fallbacks: int = 0
    not_found: int = 0
    follow_ups: int = 0
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    rss_max_mb: float = 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    def summary(self) -> dict[str, Any]:
        done = len(self.latencies_ms)
        return {
            "sessions": self.sessions,
            "seconds": round(self.seconds, 1),
            "answers": done,
            "answers_per_s": round(done / self.seconds, 2) if self.seconds else 0.0,
            "p50_ms": round(self.percentile(0.50), 1),
            "p95_ms": round(self.percentile(0.95), 1),
            "p99_ms": round(self.percentile(0.99), 1),
            "max_ms": round(max(self.latencies_ms, default=0.0), 1),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 1) if self.latencies_ms else 0.0,
            "errors": len(self.errors),
            "error_examples": self.errors[:5],
            "fallbacks": self.fallbacks,
            "not_found": self.not_found,
            "follow_ups": self.follow_ups,
            "rss_before_mb": round(self.rss_before_mb, 1),
            "rss_after_mb": round(self.rss_after_mb, 1),
            "rss_max_mb": round(self.rss_max_mb, 1),
        }


def session_client(url: str, auth: tuple[str, str] | None = None) -> Any:
    """A gradio_client Client for one chat session, with CLIENT_TIMEOUT_S on every exchange."""
    from gradio_client import Client

    return Client(url, auth=auth, verbose=False, httpx_kwargs={"timeout": CLIENT_TIMEOUT_S})


def check_answer(result: Any) -> str | None:
    """Why an /ask result is not a valid answer (None when it is)."""
    if not isinstance(result, dict) or not isinstance(result.get("text"), str) or not result["text"].strip():
        return f"malformed result: {str(result)[:200]}"
    if not result["not_found"] and not result["citations"]:
        return f"an answer without citations: {result['text'][:200]}"
    if result["fallback"] and not result.get("error"):
        return "a fallback answer that does not say why"
    return None


def drive(
    url: str,
    pid: int,
    questions: Sequence[str],
    sessions: int,
    seconds: float,
    max_per_session: int,
    auth: tuple[str, str] | None = None,
    follow_up_every: int = 3,
) -> LoadResult:
    """Run `sessions` chat sessions against /ask until `seconds` pass or each has asked
    `max_per_session` questions; every `follow_up_every`-th question is a follow-up that sends
    the session's previous turn as history."""
    result = LoadResult(sessions=sessions)
    lock = threading.Lock()
    stop = threading.Event()
    result.rss_before_mb = result.rss_max_mb = rss_mb(pid)

    def sample() -> None:
        while not stop.wait(0.5):
            with lock:
                result.rss_max_mb = max(result.rss_max_mb, rss_mb(pid))

    def session(number: int, deadline: float) -> None:
        try:
            client = session_client(url, auth)
        except Exception as exc:  # the load test counts every failure, whatever its type
            with lock:
                result.errors.append(f"session {number} could not connect: {type(exc).__name__}: {exc}")
            return
        history: list[dict[str, str]] = []
        for turn in range(max_per_session):
            if time.monotonic() >= deadline:
                break
            follow_up = bool(history) and turn % follow_up_every == follow_up_every - 1
            question = "And what else happened?" if follow_up else questions[(number * 7919 + turn) % len(questions)]
            started = time.perf_counter()
            try:
                answer = client.predict(question, history if follow_up else [], api_name="/ask")
                problem = check_answer(answer)
            except Exception as exc:  # the load test counts every failure, whatever its type
                answer, problem = None, f"{type(exc).__name__}: {exc}"
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if problem:
                    result.errors.append(f"session {number}, turn {turn}: {problem}")
                    continue
                result.latencies_ms.append(elapsed)
                result.fallbacks += bool(answer["fallback"])
                result.not_found += bool(answer["not_found"])
                result.follow_ups += follow_up
            history = [{"role": "user", "content": question}, {"role": "assistant", "content": answer["text"]}]
        client.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    deadline = started + seconds
    threads = [threading.Thread(target=session, args=(n, deadline)) for n in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 600)
    result.seconds = time.monotonic() - started
    stop.set()
    sampler.join()
    result.rss_after_mb = rss_mb(pid)
    result.rss_max_mb = max(result.rss_max_mb, result.rss_after_mb)
    return result


def quote_first_passage(request: dict[str, Any]) -> str:
    """The model's answer: the first sentence of the first passage in the prompt, cited, so every
    answer that comes from the LLM passes the citation check (the test is about faults, not wording)."""
    prompt = "\n".join(str(message.get("content")) for message in request["messages"])
    found = re.search(r'<passage n="(\d+)"[^>]*>\s*(.*?)</passage>', prompt, re.S)
    if not found:
        return "I could not find this in the documents."
    first = re.split(r"(?<=[.!?])\s", found.group(2).strip(), maxsplit=1)[0]
    return f"{first.rstrip('.')} [{found.group(1)}]."
