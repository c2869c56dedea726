"""Load benchmark (issue 6): 20 chat sessions for 2 minutes against the app on 127.0.0.1 while an
ingest of the 500 rtqa-dev small-corpus documents writes to the app's index; then the same
sessions against an OpenAI-compatible test server that fails at random.

    .venv/bin/python benchmarks/load_test.py [--sessions 20] [--seconds 120] [--skip-faults]

Each session is a gradio_client with its own conversation (every third question a follow-up
carrying the previous turn) calling /ask in a loop, capped at --max-per-session questions.
Questions: the rtqa-dev queries (most answerable only once the ingest has published) and the
seed article's. Writes benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ingest_bench import materialize  # noqa: E402
from qa.evaluate import machine  # noqa: E402
from tests.llm_server import LLMServer  # noqa: E402
from tests.load import app_process, drive, quote_first_passage  # noqa: E402

WORK = ROOT / "benchmarks" / "work" / "load"
RESULTS = ROOT / "benchmarks" / "results"
EVAL = ROOT.parent / "shared" / "eval" / "rtqa-dev"
SEED_QUESTIONS = [
    "Which banks restricted financing for Russian commodities?",
    "What did China say about the war in Ukraine?",
]


def questions() -> list[str]:
    rows = [json.loads(line) for line in (EVAL / "queries.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return [row["query"] for row in rows] + SEED_QUESTIONS * 20


def fresh_app_folder(name: str) -> Path:
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "docs").mkdir(parents=True)
    for seed in (ROOT / "seeds").glob("*.txt"):
        shutil.copy(seed, folder / "docs" / seed.name)
    return folder


def load_during_ingest(args: argparse.Namespace) -> dict[str, object]:
    corpus = materialize("small")
    folder = fresh_app_folder("during-ingest")
    with app_process(folder / "docs", folder / "index", folder / "app.log") as app:
        started = time.monotonic()
        ingest = subprocess.Popen(
            [sys.executable, "ingest.py", str(corpus), "--index", str(app.index), "--json", "--quiet"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        result = drive(app.url, app.pid, questions(), args.sessions, args.seconds, args.max_per_session)
        load_done = time.monotonic() - started
        out, err = ingest.communicate(timeout=1800)
        ingest_s = time.monotonic() - started
        if ingest.returncode != 0:
            raise SystemExit(f"the ingest failed: {err}")
        report = json.loads(out)
        # the same sessions on the 500-document index once ingested (answers/s, latency, memory)
        after = drive(app.url, app.pid, questions(), args.sessions, args.after_seconds, args.max_per_session)
        return {
            **result.summary(),
            "app_ready_s": round(app.ready_s, 1),
            "ingest_documents": report["files"]["added"],
            "ingest_chunks": report["chunks"]["total"],
            "ingest_s_under_load": round(ingest_s, 1),
            "ingest_overlapped_load_s": round(min(load_done, ingest_s), 1),
            "after_ingest": {key: value for key, value in after.summary().items() if key != "error_examples"},
        }


def load_with_faulty_llm(args: argparse.Namespace) -> dict[str, object]:
    folder = fresh_app_folder("faulty-llm")
    # the model quotes the first passage it is given: a reply the citation check passes, so what
    # is measured is the faults (a fixed reply is flagged for questions whose passages lack it)
    with LLMServer(reply=quote_first_passage, delay_s=600) as server:
        server.mix = {"ok": 2, "http_500": 1, "drop": 1, "slow": 1, "cut_stream": 1, "slow_stream": 1}
        env = {
            "QA_BACKEND": "openai",
            "QA_OPENAI_BASE_URL": server.openai_base_url,
            "QA_OPENAI_MODEL": "test",
            "QA_LLM_TIMEOUT_S": str(args.llm_timeout_s),
        }
        with app_process(folder / "docs", folder / "index", folder / "app.log", env) as app:
            result = drive(app.url, app.pid, SEED_QUESTIONS, args.sessions, args.fault_seconds, args.max_per_session)
        return {
            **result.summary(),
            "llm_timeout_s": args.llm_timeout_s,
            "server_mix": server.mix,
            "llm_requests": len(server.chat_requests),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--max-per-session", type=int, default=2000)
    parser.add_argument("--fault-seconds", type=float, default=60)
    parser.add_argument("--llm-timeout-s", type=float, default=3)
    parser.add_argument("--skip-faults", action="store_true")
    parser.add_argument("--after-seconds", type=float, default=60, help="load once the ingest is done")
    parser.add_argument("--only-faults", action="store_true", help="rerun the failing-server part only")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {"machine": machine()}
    if args.only_faults:  # keep the ingest rows of the last run
        results = {**json.loads((RESULTS / "load.json").read_text(encoding="utf-8")), **results}
    else:
        results["during_ingest"] = load_during_ingest(args)
        print(json.dumps(results["during_ingest"]), flush=True)
    if not args.skip_faults:
        results["faulty_llm"] = load_with_faulty_llm(args)
        print(json.dumps(results["faulty_llm"]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
