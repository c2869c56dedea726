"""Ingest benchmark on rtqa-dev: our pipeline (at several chunk sizes) against LangChain's
tutorial pipeline, same documents, same embedding model, same machine, one run.

    python benchmarks/ingest_bench.py --corpus small --configs 200:40,256:32,200:40:float32 --baseline float32,bfloat16
    python benchmarks/ingest_bench.py --corpus full --configs 200:40,256:32 --baseline float32,bfloat16

Each ingest runs as its own process (`python ingest.py DIR --json`) so wall time includes the
model load and peak RSS is that process's. Retrieval is scored as ../shared/eval/README.md says.
Writes benchmarks/results/ingest-<corpus>.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval" / "rtqa-dev"
WORK = ROOT / "benchmarks" / "work"
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))


def materialize(corpus: str) -> Path:
    """Each document becomes a file: title as first line, then the text (per the eval README)."""
    name = "corpus_small.jsonl" if corpus == "small" else "corpus.jsonl"
    folder = WORK / f"rtqa-{corpus}"
    if folder.exists():
        return folder
    tmp = folder.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with open(EVAL / name, encoding="utf-8") as handle:
        for line in handle:
            doc = json.loads(line)
            (tmp / f"{doc['id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}", encoding="utf-8")
    tmp.rename(folder)
    return folder


def run_process(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one child process.

    Peak RSS comes from GNU time (`apt-get install time`): Linux starts a child's ru_maxrss at
    its parent's size across fork+exec, and this parent holds a model, so wait4's number would
    be inflated; time's own process is tiny.
    """
    import tempfile

    timer = shutil.which("time") or "/usr/bin/time"
    if not Path(timer).exists():
        raise SystemExit("GNU time is needed for peak RSS: apt-get install time")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.run([timer, "-f", "PEAK_KB=%M", *cmd], stdout=out, stderr=err, env=env, cwd=ROOT, text=True)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        errors = err.read()
        if proc.returncode != 0:
            raise SystemExit(f"{cmd} failed ({proc.returncode}): {errors[-2000:]}")
        peak_kb = int(errors.rsplit("PEAK_KB=", 1)[1].split()[0])
        return seconds, peak_kb / 1024, out.read()


def normalise(text: str) -> str:
    return " ".join(re.sub(r"\W", " ", text.lower()).split())


def score_retrieval(search, queries: list[dict]) -> dict[str, float]:
    """search(query, k) -> list of (doc_id, text). Hits@k, MRR@10, context containment@4, latency."""
    hits = {1: 0, 4: 0, 10: 0}
    mrr = 0.0
    gold_queries = 0
    contained = 0
    latencies = []
    for query in queries:
        started = time.perf_counter()
        ranked = search(query["query"], 10)
        latencies.append((time.perf_counter() - started) * 1000)
        context = normalise(" ".join(text for _, text in ranked[:4]))
        if any(normalise(answer) and normalise(answer) in context for answer in query["answers"]):
            contained += 1
        gold = set(query["gold_doc_ids"])
        if not gold:
            continue
        gold_queries += 1
        first = next((rank for rank, (doc_id, _) in enumerate(ranked, 1) if doc_id in gold), None)
        if first is not None:
            mrr += 1 / first
            for k in hits:
                hits[k] += first <= k
    latencies.sort()
    return {
        "hits@1": hits[1] / gold_queries,
        "hits@4": hits[4] / gold_queries,
        "hits@10": hits[10] / gold_queries,
        "mrr@10": mrr / gold_queries,
        "context_containment@4": contained / len(queries),
        "query_p50_ms": latencies[len(latencies) // 2],
        "query_p95_ms": latencies[int(len(latencies) * 0.95)],
    }


def queries_for(folder: Path) -> list[dict]:
    ids = {path.stem for path in folder.glob("*.txt")}
    queries = [json.loads(line) for line in open(EVAL / "queries.jsonl", encoding="utf-8")]
    for query in queries:
        query["gold_doc_ids"] = [d for d in query["gold_doc_ids"] if d in ids]
    return queries


def bench_ours(folder: Path, size: int, overlap: int, tag: str, dtype: str = "auto") -> dict:
    from qa import IndexReader, load_settings
    from qa.embeddings import resolve_dtype

    index_dir = WORK / f"index-{tag}"
    shutil.rmtree(index_dir, ignore_errors=True)
    env = {
        **os.environ,
        "QA_CHUNK_TOKENS": str(size),
        "QA_CHUNK_OVERLAP": str(overlap),
        "QA_INDEX_DIR": str(index_dir),
        "QA_EMBEDDING_DTYPE": dtype,
    }
    cmd = [sys.executable, "ingest.py", str(folder), "--json", "--quiet"]
    seconds, rss, out = run_process(cmd, env)
    report = json.loads(out)
    again_s, _, again_out = run_process(cmd, env)
    again = json.loads(again_out)
    assert again["chunks"]["added"] == 0 and again["files"]["unchanged"] == report["files"]["added"], again
    settings = load_settings(index_dir=index_dir, chunk_tokens=size, chunk_overlap=overlap, embedding_dtype=dtype)
    reader = IndexReader(settings)

    def search(text: str, k: int) -> list[tuple[str, str]]:
        return [(Path(p.source).stem, p.text) for p in reader.search(text, k)]

    documents = report["files"]["added"]
    chunks = report["chunks"]["total"]
    return {
        "pipeline": f"ours {size}/{overlap} tokens, {resolve_dtype(dtype)}",
        "documents": documents,
        "chunks": chunks,
        "ingest_s": round(seconds, 1),
        "docs_per_s": round(documents / seconds, 2),
        "chunks_per_s": round(chunks / seconds, 1),
        "peak_rss_mb": round(rss),
        "reingest_s": round(again_s, 2),
        "reingest_share": round(again_s / seconds, 4),
        **{k: round(v, 3) for k, v in score_retrieval(search, queries_for(folder)).items()},
    }


BASELINE = r'''
import json, sys, time
started = time.perf_counter()
from pathlib import Path
import chromadb
from chromadb.config import Settings
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter
import torch
from langchain_core.embeddings import Embeddings
from sentence_transformers import SentenceTransformer
from qa.embeddings import resolve_model
folder, persist, dtype = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

class TutorialEmbeddings(Embeddings):
    """What HuggingFaceEmbeddings does: SentenceTransformer.encode with its defaults (batch 32)."""
    def __init__(self):
        location = resolve_model("all-MiniLM-L6-v2").location
        self.model = SentenceTransformer(location, device="cpu", model_kwargs={"dtype": getattr(torch, dtype)})
    def embed_documents(self, texts):
        return self.model.encode(texts).tolist()
    def embed_query(self, text):
        return self.embed_documents([text])[0]

docs = [
    Document(page_content=p.read_text(encoding="utf-8"), metadata={"source": str(p)})
    for p in sorted(folder.glob("*.txt"))
]
splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True).split_documents(docs)
client = chromadb.PersistentClient(path=persist, settings=Settings(anonymized_telemetry=False))
store = Chroma(client=client, collection_name="baseline", embedding_function=TutorialEmbeddings())
for i in range(0, len(splits), 5000):  # Chroma refuses batches over ~5,461
    store.add_documents(splits[i : i + 5000])
print(json.dumps({"documents": len(docs), "chunks": len(splits), "seconds": time.perf_counter() - started}))
'''


def bench_baseline(folder: Path, dtype: str) -> dict:
    """The tutorial as written embeds in float32 (HuggingFaceEmbeddings' default); the bfloat16
    row gives it our CPU speed-up too, to separate the model's cost from the pipeline's."""
    persist = WORK / f"index-baseline-{dtype}"
    shutil.rmtree(persist, ignore_errors=True)
    seconds, rss, out = run_process(
        [sys.executable, "-c", BASELINE, str(folder), str(persist), dtype], dict(os.environ)
    )
    info = json.loads(out)
    import chromadb
    from chromadb.config import Settings

    from qa.embeddings import SentenceEmbeddings

    collection = chromadb.PersistentClient(
        path=str(persist), settings=Settings(anonymized_telemetry=False)
    ).get_collection("baseline", embedding_function=None)
    embedder = SentenceEmbeddings("all-MiniLM-L6-v2", dtype=dtype)

    def search(text: str, k: int) -> list[tuple[str, str]]:
        res = collection.query(
            query_embeddings=[embedder.embed_query(text)], n_results=k, include=["documents", "metadatas"]
        )
        return [(Path(m["source"]).stem, d) for m, d in zip(res["metadatas"][0], res["documents"][0], strict=True)]

    return {
        "pipeline": f"LangChain tutorial (1000/200 chars), {dtype}",
        "documents": info["documents"],
        "chunks": info["chunks"],
        "ingest_s": round(seconds, 1),
        "docs_per_s": round(info["documents"] / seconds, 2),
        "chunks_per_s": round(info["chunks"] / seconds, 1),
        "peak_rss_mb": round(rss),
        "reingest_s": None,
        "reingest_share": None,
        **{k: round(v, 3) for k, v in score_retrieval(search, queries_for(folder)).items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", choices=["small", "full"], default="small")
    parser.add_argument("--configs", default="200:40", help="chunk_tokens:overlap[:dtype], comma-separated")
    parser.add_argument("--baseline", default="", help="baseline dtypes to run, e.g. float32,bfloat16")
    args = parser.parse_args()
    folder = materialize(args.corpus)
    rows = []
    for spec in args.configs.split(","):
        size, overlap, dtype = (spec.split(":") + ["auto"])[:3]
        rows.append(bench_ours(folder, int(size), int(overlap), f"{args.corpus}-{spec.replace(':', '-')}", dtype))
        print(json.dumps(rows[-1]), flush=True)
    for dtype in filter(None, args.baseline.split(",")):
        rows.append(bench_baseline(folder, dtype))
        print(json.dumps(rows[-1]), flush=True)
    machine = {
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    try:
        machine["cpu"] = next(
            row.split(":", 1)[1].strip() for row in open("/proc/cpuinfo") if row.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ingest-{args.corpus}.json"
    existing = json.loads(out.read_text()) if out.exists() else {"rows": []}
    keep = [r for r in existing["rows"] if r["pipeline"] not in {row["pipeline"] for row in rows}]
    out.write_text(json.dumps({"machine": machine, "rows": keep + rows}, indent=2))
    cols = [
        "pipeline",
        "documents",
        "chunks",
        "ingest_s",
        "docs_per_s",
        "chunks_per_s",
        "peak_rss_mb",
        "reingest_share",
        "hits@1",
        "hits@4",
        "hits@10",
        "mrr@10",
        "context_containment@4",
        "query_p50_ms",
    ]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for row in keep + rows:
        print("| " + " | ".join(str(row.get(c)) for c in cols) + " |")


if __name__ == "__main__":
    main()
