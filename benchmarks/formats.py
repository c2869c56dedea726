"""Embedding formats on this CPU (issue 16): what the calibration measures and chooses, and ingest
and answer speed and quality per format and per chunk-vector mode, against LangChain's tutorial.

    .venv/bin/python benchmarks/formats.py                 # calibrate 3x, then 3 qa.evaluate runs
    .venv/bin/python benchmarks/formats.py --runs default=OUT.json,float32=OUT2.json,...   # assemble

Each configuration is one `python -m qa.evaluate --json` process (ingest of the 500 rtqa-dev small
documents, then the 319 questions, warm): `default` (auto format, whole chunks, with the tutorial
baseline in the same run), `float32` (QA_EMBEDDING_DTYPE=float32: what a CPU without bf16 gets),
`sentences` (QA_CHUNK_EMBEDDING=sentences). Writes benchmarks/results/formats.json (numbers only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.embeddings import resolve_model  # noqa: E402
from qa.embeddings.calibration import calibrate, machine_key  # noqa: E402
from qa.evaluate import machine  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval" / "rtqa-dev"
RESULTS = ROOT / "benchmarks" / "results"
CONFIGS = {
    "default": ({}, ["--baseline"]),
    "float32": ({"QA_EMBEDDING_DTYPE": "float32"}, []),
    "sentences": ({"QA_CHUNK_EMBEDDING": "sentences"}, []),
}
KEPT = (
    "mrr@10",
    "hits@1",
    "hits@4",
    "answer_containment",
    "context_containment",
    "not_found_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "ingest_s",
    "docs_per_s",
    "chunks",
    "peak_rss_mb",
    "embedding_dtype",
    "chunk_embedding",
    "texts_embedded",
    "sentences_reused",
    "sentences_embedded_answering",
)


def evaluate(name: str) -> dict:
    env, flags = CONFIGS[name]
    command = [sys.executable, "-m", "qa.evaluate", "--eval-dir", str(EVAL), "--json", "--quiet", *flags]
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def summary(result: dict) -> dict:
    out = {"ours": {key: result["metrics"].get(key) for key in KEPT}}
    if "baseline" in result:
        base = result["baseline"]
        out["tutorial"] = {key: base.get(key) for key in ("mrr@10", "answer_containment", "docs_per_s", "ingest_s")}
        out["ingest_vs_tutorial"] = round(result["metrics"]["docs_per_s"] / base["docs_per_s"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", help="name=qa.evaluate JSON,...: assemble these instead of running")
    parser.add_argument("--calibrations", type=int, default=3)
    args = parser.parse_args()
    location = resolve_model("sentence-transformers/all-MiniLM-L6-v2").location
    calibrations = [vars(calibrate(location)) for _ in range(args.calibrations)]
    runs: dict[str, dict] = {}
    if args.runs:
        for item in args.runs.split(","):
            name, path = item.split("=", 1)
            runs[name] = summary(json.loads(Path(path).read_text(encoding="utf-8")))
    else:
        for name in CONFIGS:
            runs[name] = summary(evaluate(name))
            print(name, json.dumps(runs[name]), flush=True)
    result = {"machine": machine(), "key": machine_key(location, None), "calibrations": calibrations, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "formats.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
