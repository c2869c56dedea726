"""Scale benchmark (issue 5): ingest rtqa-dev at growing sizes, grow the index to 100,000 chunks,
and measure ingest time, chunks/s, index size, peak RSS and query latency at each size.

    .venv/bin/python benchmarks/scale_bench.py                       # steps ingest..bulk (about 20 minutes)
    .venv/bin/python benchmarks/scale_bench.py --steps server        # some steps, on the indexes already built
    .venv/bin/python benchmarks/scale_bench.py --table               # print the table of scale.json
    .venv/bin/python benchmarks/plot_scale.py                        # scale.png from scale.json

Steps (results merge into benchmarks/results/scale.json, saved after every step):
- ingest: real ingests, each its own process (`python ingest.py DIR --index IDX --json -v` under
  GNU time), of the first N documents of corpus.jsonl (N chosen by counting chunks with the real
  chunker, for about 1,000 and 10,000 chunks) and of all 2,112; then an unchanged re-ingest of
  each (same folder, same index).
- grow: the full index copied and grown to --target chunks with derived chunks (see `derive`):
  real Chroma collection, real record file and chunk terms, real BM25 commit (timed: the rebuild
  from cached tokens). Batches of --batch chunks are streamed; never more than one is held.
- latency: one fresh process per index: Engine(), model load, first question (cold: opens the
  vector index and loads the BM25 snapshot), 5 warm-up questions, then --questions questions
  from queries.jsonl asked "as of" their date: Engine.answer (retrieval + extractive answer +
  citation check) and Retriever.search alone; RSS after the questions.
- app: `python app.py --index IDX100k --docs DOCS --port P`, 20 questions through gradio_client's
  /ask, then VmRSS / VmHWM of the app process.
- update: on the 100k index, with a warm Engine in one process, ingest one new file (seeds/) in
  another, then ask about it: the BM25 rebuild cost of an incremental ingest at 100k and the
  latency of the first question after it (the reader reopens the store and maps the new snapshot).
- bulk: an incremental ingest of a whole folder (680 documents, ~10k new chunks) into a copy of
  the 100k index, against the same ingest into a fresh index: the cost of keeping BM25 current
  while a long ingest runs (rebuilds from cached tokens at most every 30 s, plus the final one).
- server, server100k (optional): the latency step against a Chroma server (`chroma run`) at 10k
  chunks, and at 100k (the full corpus ingested into the server, then grown like the grow step).

Derived chunks are not real documents: their texts are real chunks with the sentences rotated,
their vectors real vectors plus noise (cosine ~0.95 to the original). Said so in scale.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval" / "rtqa-dev"
WORK = ROOT / "benchmarks" / "work" / "scale"
RESULTS = ROOT / "benchmarks" / "results"
OUT = RESULTS / "scale.json"
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
TIMER = "/usr/bin/time"
BM25_LINE = re.compile(r"keyword index of (\d+) chunks built in ([\d.]+) s")
SIZES = {"1k": 1_000, "10k": 10_000}
SYNTHETIC_ROOT = "/nonexistent/scale-synthetic"  # source_id of derived chunks: a path that is never on disk
UPDATE_QUESTION = "What share of Russian oil and gas is now sold to China?"
sys.path.insert(0, str(ROOT))


# --- small helpers ---------------------------------------------------------------------------
def load_now() -> dict[str, Any]:
    """The machine's load, and the processes that used 5 % of a core or more (ps: CPU over each
    process's lifetime), when a measurement starts or ends."""
    rows = subprocess.run(
        ["ps", "-eo", "pid,pcpu,rss,etime,args", "--sort=-pcpu"], capture_output=True, text=True
    ).stdout.splitlines()
    top = [row for row in rows[1:6] if float(row.split()[1]) >= 5.0]
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "top": [line[:160] for line in top],
    }


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout
    return round(int(out.split()[0]) / 1e6, 1)


def index_sizes(index_dir: Path) -> dict[str, float]:
    """du -sb of the index folder and of its parts (Chroma store, record file, BM25 snapshot)."""
    sizes = {"index_mb": du_mb(index_dir)}
    if (index_dir / "chroma").exists():
        sizes["chroma_mb"] = du_mb(index_dir / "chroma")
    sizes["records_mb"] = round(sum(p.stat().st_size for p in index_dir.glob("records-*.sqlite*")) / 1e6, 1)
    if (index_dir / "bm25").exists():
        sizes["bm25_mb"] = du_mb(index_dir / "bm25")
    return sizes


def proc_status(pid: int | str = "self") -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            values[line.split(":")[0].lower() + "_mb"] = round(int(line.split()[1]) / 1024, 1)
    return values


def percentiles(values: list[float]) -> dict[str, float]:
    import numpy as np

    data = np.asarray(values, dtype=float)
    return {
        "p50_ms": round(float(np.percentile(data, 50)), 1),
        "p95_ms": round(float(np.percentile(data, 95)), 1),
        "p99_ms": round(float(np.percentile(data, 99)), 1),
        "mean_ms": round(float(data.mean()), 1),
        "max_ms": round(float(data.max()), 1),
        "n": len(values),
    }


def child_env(**extra: str) -> dict[str, str]:
    """The environment of every child: no QA_* settings leak in from the caller's shell."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("QA_")}
    env.update(extra)
    return env


def run_timed(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 3600) -> dict[str, Any]:
    """Run one child under GNU time: wall seconds, peak RSS (MB), stdout and stderr."""
    if not Path(TIMER).exists():
        raise SystemExit("GNU time is needed for peak RSS: apt-get install -y time")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.run(
            [TIMER, "-f", "PEAK_KB=%M", *cmd], stdout=out, stderr=err, env=env or child_env(), cwd=ROOT, timeout=timeout
        )
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    peak_kb = int(stderr.rsplit("PEAK_KB=", 1)[1].split()[0])
    return {"seconds": seconds, "peak_rss_mb": round(peak_kb / 1024, 1), "stdout": stdout, "stderr": stderr}


def last_json(stdout: str) -> dict[str, Any]:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def read_results() -> dict[str, Any]:
    return json.loads(OUT.read_text()) if OUT.exists() else {}


def save(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2))
    tmp.replace(OUT)


def machine() -> dict[str, Any]:
    info = {
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    try:
        info["cpu"] = next(r.split(":", 1)[1].strip() for r in open("/proc/cpuinfo") if r.startswith("model name"))
        info["mem_gib"] = round(
            int(next(r.split()[1] for r in open("/proc/meminfo") if r.startswith("MemTotal"))) / 2**20, 1
        )
    except (OSError, StopIteration):
        pass
    return info


def load_queries() -> list[dict[str, Any]]:
    with open(EVAL / "queries.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def as_of(query: dict[str, Any]) -> Any:
    from qa.evaluate import parse_date

    return parse_date(query.get("date"))


# --- step 1: real ingests --------------------------------------------------------------------
def chunk_counts(documents: list[dict[str, Any]]) -> list[int]:
    """Chunks per document, by the ingest's own loader and chunker (cached in WORK)."""
    cache = WORK / "chunk_counts.json"
    if cache.exists():
        counts = json.loads(cache.read_text())
        if len(counts) == len(documents):
            return counts
    from qa.config import load_settings
    from qa.ingestion.chunking import Chunker
    from qa.ingestion.loaders import load_bytes

    settings = load_settings()
    chunker = Chunker(settings.chunk_tokens, settings.chunk_overlap, settings.tokenizer)
    counts = []
    for document in documents:
        data = f"{document.get('title', '')}\n\n{document.get('text', '')}".encode()
        counts.append(len(chunker.split(load_bytes(data, Path(f"{document['id']}.txt")).text)))
    cache.write_text(json.dumps(counts))
    return counts


def prefix_for(counts: list[int], target: int) -> int:
    """The N whose first-N chunk total is closest to target."""
    total, best, best_gap = 0, 1, math.inf
    for n, count in enumerate(counts, 1):
        total += count
        if abs(total - target) < best_gap:
            best, best_gap = n, abs(total - target)
        if total > target:
            break
    return best


def folders() -> dict[str, Path]:
    """Dated document folders (qa.evaluate.write_documents): the first N documents per size, and all."""
    from qa.evaluate import write_documents

    with open(EVAL / "corpus.jsonl", encoding="utf-8") as handle:
        documents = [json.loads(line) for line in handle if line.strip()]
    WORK.mkdir(parents=True, exist_ok=True)
    counts = chunk_counts(documents)
    plan = {label: prefix_for(counts, target) for label, target in SIZES.items()}
    plan["full"] = len(documents)
    result = {}
    for label, n in plan.items():
        folder = WORK / f"docs-{label}"
        marker = folder / ".complete"
        if not (marker.exists() and marker.read_text() == str(n)):
            shutil.rmtree(folder, ignore_errors=True)
            write_documents(documents[:n], folder)
            marker.write_text(str(n))
        result[label] = folder
        print(f"{label}: first {n} documents, {sum(counts[:n])} chunks expected", flush=True)
    return result


def ingest_once(folder: Path, index_dir: Path, chroma_url: str | None = None) -> dict[str, Any]:
    cmd = [PY, "ingest.py", str(folder), "--index", str(index_dir), "--json", "-v"]
    if chroma_url:
        cmd += ["--chroma-url", chroma_url]
    run = run_timed(cmd)
    report = last_json(run["stdout"])
    built = BM25_LINE.findall(run["stderr"])
    files = report["files"]
    return {
        "documents": files["added"] + files["updated"] + files["unchanged"],
        "files_added": files["added"],
        "files_unchanged": files["unchanged"],
        "chunks_added": report["chunks"]["added"],
        "chunks": report["chunks"]["total"],
        "skipped": len(report["skipped"]),
        "ingest_s": round(run["seconds"], 2),
        "in_process_s": report["seconds"],
        "peak_rss_mb": run["peak_rss_mb"],
        "bm25_build_s": float(built[-1][1]) if built else None,
        "bm25_chunks": int(built[-1][0]) if built else None,
        "bm25_builds": len(built),
        "bm25_build_total_s": round(sum(float(seconds) for _, seconds in built), 2),
    }


def step_ingest(results: dict[str, Any]) -> None:
    docs = folders()
    results.setdefault("ingest", {})
    for label, folder in docs.items():
        index_dir = WORK / f"index-{label}"
        shutil.rmtree(index_dir, ignore_errors=True)
        before = load_now()
        first = ingest_once(folder, index_dir)
        after = load_now()
        row = {
            **first,
            "folder": str(folder.relative_to(ROOT)),
            "index": str(index_dir.relative_to(ROOT)),
            "docs_per_s": round(first["documents"] / first["ingest_s"], 2),
            "chunks_per_s": round(first["chunks"] / first["ingest_s"], 1),
            **index_sizes(index_dir),
            "load_before": before,
            "load_after": after,
        }
        again = ingest_once(folder, index_dir)
        assert again["chunks_added"] == 0 and again["files_unchanged"] == first["documents"], again
        row["reingest"] = {
            "seconds": again["ingest_s"],
            "in_process_s": again["in_process_s"],
            "share_of_ingest": round(again["ingest_s"] / first["ingest_s"], 4),
            "peak_rss_mb": again["peak_rss_mb"],
            "bm25_rebuilt": again["bm25_build_s"] is not None,
            "load": load_now()["loadavg"],
        }
        results["ingest"][label] = row
        save(results)
        print(json.dumps({k: v for k, v in row.items() if not k.startswith("load")}), flush=True)


# --- step 2: growth with derived chunks ------------------------------------------------------
def derive(
    i: int, n_real: int, text: str, meta: dict[str, Any], vector: Any, rng: Any, sigma: float, number: int
) -> tuple:
    """Derived chunk i from real chunk i mod n_real: its sentences rotated by 1 + i // n_real
    positions, its vector plus Gaussian noise (re-normalised), its metadata with a synthetic source."""
    import numpy as np

    from qa.text.sentences import sentences

    parts = sentences(text)
    shift = (1 + i // n_real) % max(len(parts), 1)
    new_text = " ".join(parts[shift:] + parts[:shift]) if len(parts) > 1 else text
    noisy = np.asarray(vector, dtype=np.float32) + rng.normal(0.0, sigma, len(vector)).astype(np.float32)
    noisy /= np.linalg.norm(noisy)
    new_meta = dict(meta)
    new_meta["source"] = f"synthetic/{number}.txt"
    new_meta["source_id"] = f"{SYNTHETIC_ROOT}/{number}.txt"
    new_meta["content_hash"] = hashlib.sha256(new_text.encode("utf-8")).hexdigest()[:32]
    key = hashlib.sha256(f"{new_text}\x00{i}".encode()).hexdigest()
    return key, new_text, new_meta, noisy


def child_grow(
    index_dir: Path, target: int, batch: int, cosine: float, seed: int, chroma_url: str | None = None
) -> dict[str, Any]:
    import numpy as np

    from qa.config import load_settings
    from qa.embeddings import SentenceEmbeddings
    from qa.store.records import FileRecord
    from qa.store.vectors import term_row
    from qa.store.writer import IndexWriter

    built: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            built.append(record.getMessage())

    logging.getLogger("qa.index").addHandler(Capture())
    logging.getLogger("qa.index").setLevel(logging.INFO)
    started = time.perf_counter()
    settings = load_settings(index_dir=index_dir, chroma_url=chroma_url)
    embeddings = SentenceEmbeddings.from_settings(settings)
    rng = np.random.default_rng(seed)
    timings = {"fetch_s": 0.0, "derive_s": 0.0, "chroma_add_s": 0.0, "records_s": 0.0}
    rss_after_batch: list[float] = []
    cosines: list[float] = []
    numbers: dict[tuple[int, str], int] = {}  # (round, real source) -> synthetic file number
    files: dict[int, list[int]] = {}  # synthetic file number -> [chunks, bytes, mtime_ns]
    seen_real: set[str] = set()
    with IndexWriter(settings, embeddings) as writer:
        open_s = time.perf_counter() - started
        n_real = writer.count()
        dimension = writer.state.dimension
        sigma = math.tan(math.acos(cosine)) / math.sqrt(dimension)
        need = max(0, target - n_real)
        for start in range(0, need, batch):
            stop = min(need, start + batch)
            t0 = time.perf_counter()
            offset, wanted = start % n_real, stop - start
            pages = []
            while wanted > 0:
                take = min(wanted, n_real - offset)
                pages.append(
                    writer.collection.get(include=["documents", "metadatas", "embeddings"], limit=take, offset=offset)
                )
                wanted -= take
                offset = 0
            t1 = time.perf_counter()
            ids, texts, metas, vectors, terms = [], [], [], [], []
            i = start
            for page in pages:
                for key, text, meta, vector in zip(
                    page["ids"], page["documents"], page["metadatas"], page["embeddings"], strict=True
                ):
                    source = str(meta.get("source", ""))
                    if source.startswith("synthetic/"):
                        raise SystemExit(f"paging the real chunks returned a derived one at offset {i % n_real}")
                    if i < n_real:
                        if key in seen_real:
                            raise SystemExit("paging returned a real chunk twice: Chroma's get order is not stable")
                        seen_real.add(key)
                    number = numbers.setdefault((i // n_real, source), len(numbers))
                    new_key, new_text, new_meta, noisy = derive(
                        i, n_real, text or "", meta or {}, vector, rng, sigma, number
                    )
                    cosines.append(float(np.dot(noisy, np.asarray(vector, dtype=np.float32))))
                    ids.append(new_key)
                    texts.append(new_text)
                    metas.append(new_meta)
                    vectors.append(noisy)
                    terms.append(term_row(new_key, new_text, new_meta))
                    entry = files.setdefault(number, [0, 0, int(new_meta.get("modified_ts", 0)) * 10**9])
                    entry[0] += 1
                    entry[1] += len(new_text.encode("utf-8"))
                    i += 1
            del pages
            t2 = time.perf_counter()
            writer.collection.add(ids=ids, embeddings=np.stack(vectors), documents=texts, metadatas=metas)
            t3 = time.perf_counter()
            writer.records.update(ids, group_ids=[meta["source_id"] for meta in metas])
            writer.records.put_terms(terms)
            writer.vector_store.terms_changed = True
            t4 = time.perf_counter()
            timings["fetch_s"] += t1 - t0
            timings["derive_s"] += t2 - t1
            timings["chroma_add_s"] += t3 - t2
            timings["records_s"] += t4 - t3
            del ids, texts, metas, vectors, terms
            rss_after_batch.append(proc_status()["vmrss_mb"])
            print(
                json.dumps(
                    {
                        "batch_end": stop,
                        "count": n_real + stop,
                        "seconds": round(t4 - t0, 2),
                        "rss_mb": rss_after_batch[-1],
                    }
                ),
                file=sys.stderr,
                flush=True,
            )
        writer.records.put_files(
            [
                FileRecord(
                    f"{SYNTHETIC_ROOT}/{number}.txt",
                    SYNTHETIC_ROOT,
                    f"synthetic/{number}.txt",
                    size,
                    mtime_ns,
                    hashlib.sha256(f"synthetic/{number}".encode()).hexdigest(),
                    chunks,
                )
                for number, (chunks, size, mtime_ns) in files.items()
            ]
        )
        added_s = time.perf_counter() - started - open_s
        rss_before_commit = proc_status()["vmrss_mb"]
        t0 = time.perf_counter()
        writer.commit()
        commit_s = time.perf_counter() - t0
        rss_after_commit = proc_status()
        total = writer.count()
        terms_total = writer.records.count_terms()
    line = next((BM25_LINE.search(m) for m in reversed(built) if BM25_LINE.search(m)), None)
    return {
        "real_chunks": n_real,
        "derived_chunks": need,
        "chunks": total,
        "chunk_terms_rows": terms_total,
        "synthetic_files": len(files),
        "batch": batch,
        "batches": len(rss_after_batch),
        "sigma": round(sigma, 5),
        "cosine_to_original_mean": round(float(np.mean(cosines)), 4) if cosines else None,
        "cosine_to_original_min": round(float(np.min(cosines)), 4) if cosines else None,
        "open_s": round(open_s, 2),
        "add_s": round(added_s, 2),
        "chunks_per_s": round(need / added_s, 1) if added_s else None,
        **{k: round(v, 2) for k, v in timings.items()},
        "commit_s": round(commit_s, 2),
        "bm25_build_s": float(line.group(2)) if line else None,
        "bm25_chunks": int(line.group(1)) if line else None,
        "rss_after_batch_mb": rss_after_batch,
        "rss_before_commit_mb": rss_before_commit,
        "rss_after_commit_mb": rss_after_commit["vmrss_mb"],
        "vmhwm_mb": rss_after_commit["vmhwm_mb"],
        "seconds": round(time.perf_counter() - started, 2),
    }


def step_grow(results: dict[str, Any], args: argparse.Namespace) -> None:
    source, index_dir = WORK / "index-full", WORK / "index-100k"
    if not (source / "index.json").exists():
        raise SystemExit(f"{source} is missing: run the ingest step first")
    shutil.rmtree(index_dir, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(["cp", "-r", str(source), str(index_dir)], check=True)
    copy_s = time.perf_counter() - started
    before = load_now()
    cmd = [
        PY,
        __file__,
        "--child",
        "grow",
        "--index",
        str(index_dir),
        "--target",
        str(args.target),
        "--batch",
        str(args.batch),
    ]
    run = run_timed(cmd)
    row = last_json(run["stdout"])
    row.update(
        {
            "index": str(index_dir.relative_to(ROOT)),
            "copy_s": round(copy_s, 2),
            "process_s": round(run["seconds"], 2),
            "peak_rss_mb": run["peak_rss_mb"],
            **index_sizes(index_dir),
            "load_before": before,
            "load_after": load_now(),
        }
    )
    results["growth"] = row
    results["derived_chunks_note"] = (
        f"The {row['derived_chunks']:,} chunks past the real {row['real_chunks']:,} are derived from real ones: "
        "text = a real chunk's sentences rotated by 1 + round positions, vector = the real vector plus "
        f"Gaussian noise (sigma {row['sigma']}, mean cosine to the original {row['cosine_to_original_mean']}), "
        "metadata copied with a synthetic source. They go through the real Chroma collection, record file, "
        "chunk terms and BM25 commit; only the embedding step is skipped."
    )
    save(results)
    print(json.dumps({k: v for k, v in row.items() if not k.startswith(("load", "rss_after_batch"))}), flush=True)


# --- step 3: query latency -------------------------------------------------------------------
def child_latency(index_dir: Path, questions: int, chroma_url: str | None) -> dict[str, Any]:
    from qa import Engine, load_settings
    from qa.scores import contains_answer
    from qa.store.keywords import SNAPSHOT_DIR, KeywordIndex

    queries = load_queries()
    warm, asked = queries[-5:], queries[:questions]
    t0 = time.perf_counter()
    engine = Engine(load_settings(index_dir=index_dir, chroma_url=chroma_url))
    engine_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine.embeddings.embed_query("load the model")
    model_s = time.perf_counter() - t0
    rss_before_first = proc_status()
    t0 = time.perf_counter()
    engine.answer(warm[0]["query"], as_of=as_of(warm[0]))
    cold_ms = (time.perf_counter() - t0) * 1000
    keywords = engine.retriever.reader.keyword_index()
    for query in warm[1:]:
        engine.answer(query["query"], as_of=as_of(query))
    t0 = time.perf_counter()
    engine.answer(warm[0]["query"], as_of=as_of(warm[0]))
    same_warm_ms = (time.perf_counter() - t0) * 1000
    answer_ms, contained, not_found = [], 0, 0
    for query in asked:
        t0 = time.perf_counter()
        answer = engine.answer(query["query"], as_of=as_of(query))
        answer_ms.append((time.perf_counter() - t0) * 1000)
        contained += contains_answer(answer.text, query["answers"]) and not answer.not_found
        not_found += answer.not_found
    search_ms, synthetic, passages = [], 0, 0
    for query in asked:
        t0 = time.perf_counter()
        found = engine.retriever.search(query["query"], as_of=as_of(query))
        search_ms.append((time.perf_counter() - t0) * 1000)
        passages += len(found.passages)
        synthetic += sum(p.source.startswith("synthetic/") for p in found.passages)
    cached = engine.retriever.reader.keyword_index() is keywords
    state = engine.retriever.reader.state
    t0 = time.perf_counter()
    fresh = KeywordIndex(index_dir / SNAPSHOT_DIR / state.bm25) if state and state.bm25 else None
    bm25_load_ms = (time.perf_counter() - t0) * 1000
    status = proc_status()
    return {
        "chunks": engine.retriever.reader.count(),
        "chroma_url": chroma_url,
        "questions": len(asked),
        "engine_s": round(engine_s, 2),
        "model_load_s": round(model_s, 2),
        "cold_first_answer_ms": round(cold_ms, 1),
        "same_question_warm_ms": round(same_warm_ms, 1),
        "answer": percentiles(answer_ms),
        "search": percentiles(search_ms),
        "answer_containment": round(contained / len(asked), 3),
        "not_found_rate": round(not_found / len(asked), 3),
        "synthetic_share_of_passages": round(synthetic / max(passages, 1), 3),
        "bm25_cached_across_questions": cached,
        "bm25_chunks": len(keywords) if keywords is not None else 0,
        "bm25_snapshot_load_ms_warm_cache": round(bm25_load_ms, 1),
        "bm25_snapshot_chunks": len(fresh) if fresh is not None else 0,
        "rss_after_model_mb": rss_before_first["vmrss_mb"],
        "rss_after_questions_mb": status["vmrss_mb"],
        "vmhwm_mb": status["vmhwm_mb"],
    }


def latency_run(index_dir: Path, questions: int, chroma_url: str | None = None) -> dict[str, Any]:
    before = load_now()
    cmd = [PY, __file__, "--child", "latency", "--index", str(index_dir), "--questions", str(questions)]
    if chroma_url:
        cmd += ["--chroma-url", chroma_url]
    run = run_timed(cmd)
    row = last_json(run["stdout"])
    row.update({"index": str(index_dir.relative_to(ROOT)), "process_peak_rss_mb": run["peak_rss_mb"]})
    row["load_before"], row["load_after"] = before, load_now()
    return row


def step_latency(results: dict[str, Any], args: argparse.Namespace) -> None:
    results.setdefault("latency", {})
    for label in ("1k", "10k", "full", "100k"):
        index_dir = WORK / f"index-{label}"
        if not (index_dir / "index.json").exists():
            print(f"skipping latency at {label}: no index", flush=True)
            continue
        row = latency_run(index_dir, args.questions)
        results["latency"][label] = row
        save(results)
        print(label, json.dumps({k: v for k, v in row.items() if not k.startswith("load")}), flush=True)


# --- step 4: the app's memory at 100k ---------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"the process exited with {proc.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status < 500:
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def step_app(results: dict[str, Any], label: str = "100k", questions: int = 20) -> None:
    index_dir = WORK / f"index-{label}"
    docs = WORK / "docs-full"
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = WORK / "app.log"
    before = load_now()
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(
            [PY, "app.py", "--index", str(index_dir), "--docs", str(docs), "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=child_env(),
            cwd=ROOT,
        )
        try:
            ready_s = wait_http(url, proc, 600)
            after_start = proc_status(proc.pid)
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from gradio_client import Client

            client = Client(url, verbose=False)
            latencies, answered = [], 0
            for query in load_queries()[:questions]:
                t0 = time.perf_counter()
                result = client.predict(query["query"], [], api_name="/ask")
                latencies.append((time.perf_counter() - t0) * 1000)
                answered += bool(result.get("text")) if isinstance(result, dict) else bool(result)
            status = proc_status(proc.pid)
        finally:
            stop(proc)
    row = {
        "index": str(index_dir.relative_to(ROOT)),
        "docs": str(docs.relative_to(ROOT)),
        "ready_s": round(ready_s, 1),
        "rss_after_start_mb": after_start["vmrss_mb"],
        "questions": questions,
        "answered": answered,
        "http_ask": percentiles(latencies),
        "rss_after_questions_mb": status["vmrss_mb"],
        "vmhwm_mb": status["vmhwm_mb"],
        "load_before": before,
        "load_after": load_now(),
    }
    results["app"] = row
    save(results)
    print(json.dumps({k: v for k, v in row.items() if not k.startswith("load")}), flush=True)


# --- step 5: keeping BM25 current after an incremental ingest at 100k ---------------------------
def child_update(index_dir: Path, folder: Path) -> dict[str, Any]:
    from qa import Engine, load_settings

    engine = Engine(load_settings(index_dir=index_dir))
    queries = load_queries()
    for query in queries[-5:]:
        engine.answer(query["query"], as_of=as_of(query))
    before_ms = []
    for query in queries[:20]:
        t0 = time.perf_counter()
        engine.answer(query["query"], as_of=as_of(query))
        before_ms.append((time.perf_counter() - t0) * 1000)
    keywords = engine.retriever.reader.keyword_index()
    version = engine.retriever.reader.state.version
    rss_before = proc_status()
    run = run_timed([PY, "ingest.py", str(folder), "--index", str(index_dir), "--json", "-v"])
    report = last_json(run["stdout"])
    built = BM25_LINE.findall(run["stderr"])
    t0 = time.perf_counter()
    answer = engine.answer(UPDATE_QUESTION)
    first_ms = (time.perf_counter() - t0) * 1000
    reloaded = engine.retriever.reader.keyword_index()
    cited = sorted({citation.source for citation in answer.citations})
    after_ms = []
    for query in queries[:20]:
        t0 = time.perf_counter()
        engine.answer(query["query"], as_of=as_of(query))
        after_ms.append((time.perf_counter() - t0) * 1000)
    return {
        "ingest_s": round(run["seconds"], 2),
        "ingest_peak_rss_mb": run["peak_rss_mb"],
        "chunks_added": report["chunks"]["added"],
        "chunks": report["chunks"]["total"],
        "bm25_build_s": float(built[-1][1]) if built else None,
        "bm25_chunks": int(built[-1][0]) if built else None,
        "bm25_builds_in_ingest": len(built),
        "pointer_version": [version, engine.retriever.reader.state.version],
        "first_answer_after_ingest_ms": round(first_ms, 1),
        "new_document_cited": cited,
        "bm25_reloaded": reloaded is not keywords
        and reloaded is not None
        and len(reloaded) == report["chunks"]["total"],
        "warm_before": percentiles(before_ms),
        "warm_after": percentiles(after_ms),
        "rss_before_mb": rss_before["vmrss_mb"],
        "rss_after_mb": proc_status()["vmrss_mb"],
        "vmhwm_mb": proc_status()["vmhwm_mb"],
    }


def step_update(results: dict[str, Any]) -> None:
    index_dir = WORK / "index-100k"
    folder = WORK / "docs-update"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in (ROOT / "seeds").glob("*.txt"):
        shutil.copy2(path, folder / path.name)
    before = load_now()
    run = run_timed([PY, __file__, "--child", "update", "--index", str(index_dir), "--folder", str(folder)])
    row = last_json(run["stdout"])
    row.update({"process_peak_rss_mb": run["peak_rss_mb"], "load_before": before, "load_after": load_now()})
    results["update"] = row
    save(results)
    print(json.dumps({k: v for k, v in row.items() if not k.startswith("load")}), flush=True)


def step_bulk(results: dict[str, Any]) -> None:
    """An incremental ingest of a whole folder (the 10k documents again, under another folder, so
    every chunk is new) into a copy of the 100k index, against the same folder into a fresh index:
    the extra is what keeping BM25 current costs (a rebuild at the first batch, then at most every
    QA_PUBLISH_EVERY_S seconds, then at the end)."""
    source, index_dir, folder = WORK / "index-100k", WORK / "index-100k-bulk", WORK / "docs-bulk"
    if not (source / "index.json").exists():
        raise SystemExit(f"{source} is missing: run the grow step first")
    shutil.rmtree(index_dir, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run(["cp", "-r", str(source), str(index_dir)], check=True)
    shutil.copytree(WORK / "docs-10k", folder)  # copytree keeps the dates (copy2)
    before = load_now()
    row = ingest_once(folder, index_dir)
    fresh = results.get("ingest", {}).get("10k", {})
    row.update(
        {
            "into": str(source.relative_to(ROOT)),
            "same_folder_fresh_index_s": fresh.get("ingest_s"),
            "extra_s": round(row["ingest_s"] - fresh["ingest_s"], 2) if fresh else None,
            "chunks_per_s": round(row["chunks_added"] / row["ingest_s"], 1),
            "load_before": before,
            "load_after": load_now(),
        }
    )
    results["bulk_update"] = row
    save(results)
    shutil.rmtree(index_dir, ignore_errors=True)  # 1 GB of scratch
    print(json.dumps({k: v for k, v in row.items() if not k.startswith("load")}), flush=True)


# --- step 6 (optional): a Chroma server --------------------------------------------------------
def step_server(results: dict[str, Any], args: argparse.Namespace, label: str = "10k") -> None:
    """The latency step against a `chroma run` server: a real ingest of docs-<label> into it
    (label "100k": the full corpus, then grown to --target chunks like the grow step)."""
    chroma = ROOT / ".venv" / "bin" / "chroma"
    store = WORK / f"chroma-server-{label}"
    index_dir = WORK / f"index-{label}-server"
    shutil.rmtree(store, ignore_errors=True)
    shutil.rmtree(index_dir, ignore_errors=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(WORK / "chroma-server.log", "w") as log_file:
        proc = subprocess.Popen(
            [str(chroma), "run", "--path", str(store), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=child_env(ANONYMIZED_TELEMETRY="False"),
            cwd=ROOT,
        )
        try:
            wait_http(f"{url}/api/v2/heartbeat", proc, 120)
            before = load_now()
            ingested = ingest_once(WORK / f"docs-{'full' if label == '100k' else label}", index_dir, chroma_url=url)
            server_after_ingest = proc_status(proc.pid)
            grown = None
            if label == "100k":
                cmd = [PY, __file__, "--child", "grow", "--index", str(index_dir), "--target", str(args.target)]
                cmd += ["--batch", str(args.batch), "--chroma-url", url]
                run = run_timed(cmd)
                grown = last_json(run["stdout"])
                grown.update({"process_s": round(run["seconds"], 2), "peak_rss_mb": run["peak_rss_mb"]})
            latency = latency_run(index_dir, args.questions, chroma_url=url)
            server = proc_status(proc.pid)
        finally:
            stop(proc)
    results["server" if label == "10k" else f"server_{label}"] = {
        "size": label,
        "growth": {k: v for k, v in (grown or {}).items() if not k.startswith("rss_after_batch")} or None,
        "ingest": {**ingested, "chunks_per_s": round(ingested["chunks"] / ingested["ingest_s"], 1)},
        "latency": latency,
        "server_rss_after_ingest_mb": server_after_ingest["vmrss_mb"],
        "server_rss_mb": server["vmrss_mb"],
        "server_vmhwm_mb": server["vmhwm_mb"],
        "index_mb_client_side": du_mb(index_dir),
        "store_mb_server_side": du_mb(store),
        "load_before": before,
        "load_after": load_now(),
    }
    save(results)
    row = results["server" if label == "10k" else f"server_{label}"]
    print(json.dumps({k: v for k, v in row.items() if not k.startswith("load")}), flush=True)


# --- the table ---------------------------------------------------------------------------------
def fmt(value: Any, digits: int = 0) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(results: dict[str, Any]) -> str:
    cols = [
        "size",
        "documents",
        "chunks",
        "ingest s",
        "docs/s",
        "chunks/s",
        "ingest peak RSS MB",
        "index MB",
        "BM25 build s",
        "answer p50 / p95 / p99 ms",
        "search p50 / p95 ms",
        "cold 1st answer ms",
        "query RSS MB (HWM)",
        "load (1 min) ingest / query",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    ingest, latency, growth = results.get("ingest", {}), results.get("latency", {}), results.get("growth")
    for label in ("1k", "10k", "full", "100k"):
        lat = latency.get(label, {})
        if label == "100k" and growth:
            row = {
                "documents": f"{ingest.get('full', {}).get('documents', 0):,} + {growth['synthetic_files']:,} derived",
                "chunks": growth["chunks"],
                "ingest_s": f"+{growth['add_s']:.0f} (derived, no embedding) + commit {growth['commit_s']:.1f}",
                "docs_per_s": None,
                "chunks_per_s": growth["chunks_per_s"],
                "peak_rss_mb": growth["peak_rss_mb"],
                "index_mb": growth["index_mb"],
                "bm25_build_s": growth["bm25_build_s"],
                "load": growth["load_before"]["loadavg"][0],
            }
        else:
            row = dict(ingest.get(label, {}))
            row["load"] = row.get("load_before", {}).get("loadavg", [None])[0]
            if not row and not lat:
                continue
        answer, search = lat.get("answer", {}), lat.get("search", {})
        cells = [
            label,
            fmt(row.get("documents")),
            fmt(row.get("chunks") or lat.get("chunks")),
            fmt(row.get("ingest_s"), 1),
            fmt(row.get("docs_per_s"), 2),
            fmt(row.get("chunks_per_s"), 1),
            fmt(row.get("peak_rss_mb"), 0),
            fmt(row.get("index_mb"), 1),
            fmt(row.get("bm25_build_s"), 2),
            f"{fmt(answer.get('p50_ms'), 1)} / {fmt(answer.get('p95_ms'), 1)} / {fmt(answer.get('p99_ms'), 1)}"
            if answer
            else "–",
            f"{fmt(search.get('p50_ms'), 1)} / {fmt(search.get('p95_ms'), 1)}" if search else "–",
            fmt(lat.get("cold_first_answer_ms"), 0),
            f"{fmt(lat.get('rss_after_questions_mb'), 0)} ({fmt(lat.get('vmhwm_mb'), 0)})" if lat else "–",
            f"{fmt(row.get('load'), 2)} / {fmt(lat.get('load_before', {}).get('loadavg', [None])[0], 2)}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    full = ingest.get("full", {})
    notes = []
    if full.get("reingest"):
        again = full["reingest"]
        notes.append(
            f"- Unchanged re-ingest of the full corpus: {again['seconds']:.2f} s "
            f"({again['share_of_ingest'] * 100:.2f} % of the full ingest), peak RSS {again['peak_rss_mb']:.0f} MB."
        )
    if growth:
        notes.append(
            f"- Growth to {growth['chunks']:,} chunks: {growth['derived_chunks']:,} derived chunks in "
            f"{growth['batches']} batches of {growth['batch']:,}, {growth['add_s']:.0f} s "
            f"(Chroma add {growth['chroma_add_s']:.0f} s), peak RSS {growth['peak_rss_mb']:.0f} MB; "
            f"commit {growth['commit_s']:.1f} s"
            + (
                f" of which BM25 rebuild from cached tokens {growth['bm25_build_s']:.1f} s."
                if growth.get("bm25_build_s") is not None
                else "."
            )
        )
    if results.get("app"):
        app = results["app"]
        notes.append(
            f"- App at 100k: VmRSS {app['rss_after_questions_mb']:.0f} MB after {app['questions']} /ask questions "
            f"(VmHWM {app['vmhwm_mb']:.0f} MB; {app['rss_after_start_mb']:.0f} MB after start); /ask over HTTP p50 "
            f"{app['http_ask']['p50_ms']:.0f} ms."
        )
    if results.get("update"):
        up = results["update"]
        notes.append(
            f"- Incremental ingest of 1 file into the 100k index: {up['ingest_s']:.1f} s, "
            f"BM25 rebuild {up['bm25_build_s']:.1f} s; first answer after it "
            f"{up['first_answer_after_ingest_ms']:.0f} ms (reopen + new snapshot), warm p50 "
            f"{up['warm_before']['p50_ms']:.0f} -> {up['warm_after']['p50_ms']:.0f} ms."
        )
    if results.get("bulk_update"):
        bulk = results["bulk_update"]
        notes.append(
            f"- Incremental ingest of {bulk['documents']:,} files ({bulk['chunks_added']:,} new chunks) "
            f"into the 100k index: {bulk['ingest_s']:.0f} s vs {bulk['same_folder_fresh_index_s']:.0f} s into a fresh "
            f"index; {bulk['bm25_builds']} BM25 rebuilds, {bulk['bm25_build_total_s']:.1f} s in all; "
            f"peak RSS {bulk['peak_rss_mb']:.0f} MB."
        )
    for key in ("server", "server_100k"):
        if not results.get(key):
            continue
        srv = results[key]
        lat = srv["latency"]
        grown = (
            f", grown to {lat['chunks']:,} chunks in {srv['growth']['process_s']:.0f} s" if srv.get("growth") else ""
        )
        notes.append(
            f"- Chroma server, {srv['size']} ({srv['ingest']['chunks']:,} chunks ingested{grown}): "
            f"ingest {srv['ingest']['ingest_s']:.0f} s; answer p50/p95 "
            f"{lat['answer']['p50_ms']:.0f}/{lat['answer']['p95_ms']:.0f} ms, "
            f"search p50/p95 {lat['search']['p50_ms']:.0f}/{lat['search']['p95_ms']:.0f} ms; "
            f"client RSS {lat['rss_after_questions_mb']:.0f} MB, "
            f"server RSS {srv['server_rss_mb']:.0f} MB."
        )
    return "\n".join(lines + ([""] + notes if notes else []))


# --- main --------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps",
        default="ingest,grow,latency,app,update,bulk",
        help="comma-separated: ingest,grow,latency,app,update,bulk,server,server100k",
    )
    parser.add_argument("--target", type=int, default=100_000, help="chunks after growth")
    parser.add_argument("--batch", type=int, default=5_000, help="derived chunks per batch (Chroma refuses over 5,461)")
    parser.add_argument("--questions", type=int, default=200, help="timed questions per latency run")
    parser.add_argument("--table", action="store_true", help="print the table of scale.json and exit")
    parser.add_argument("--child", choices=["grow", "latency", "update"], help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--chroma-url", help=argparse.SUPPRESS)
    parser.add_argument("--cosine", type=float, default=0.95, help="target cosine of a derived vector to its original")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    if args.child:
        from qa.cli import quiet_third_parties

        quiet_third_parties()
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
        for noisy in ("bm25s", "chromadb", "httpx", "sentence_transformers", "transformers", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        if args.child == "grow":
            result = child_grow(args.index, args.target, args.batch, args.cosine, args.seed, args.chroma_url)
        elif args.child == "latency":
            result = child_latency(args.index, args.questions, args.chroma_url)
        else:
            result = child_update(args.index, args.folder)
        print(json.dumps(result), flush=True)
        return
    results = read_results()
    if args.table:
        print(table(results))
        return
    results["machine"] = machine()
    from qa.config import load_settings

    defaults = load_settings()  # the children run with these too (no QA_* variables, no qa.toml)
    results["settings"] = {
        **{
            key: getattr(defaults, key)
            for key in (
                "chunk_tokens",
                "chunk_overlap",
                "embedding_model",
                "embedding_dtype",
                "retrieval",
                "top_k",
                "candidates",
                "backend",
            )
        },
        "questions": args.questions,
        "target": args.target,
        "batch": args.batch,
        "cosine": args.cosine,
    }
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "qa"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    results.setdefault("runs", []).append(
        {"steps": args.steps, "argv": sys.argv[1:], "commit": commit, "qa_modified": bool(dirty), "started": load_now()}
    )
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    for step in steps:
        print(f"== {step} ({load_now()['uptime']})", flush=True)
        if step == "ingest":
            step_ingest(results)
        elif step == "grow":
            step_grow(results, args)
        elif step == "latency":
            step_latency(results, args)
        elif step == "app":
            step_app(results)
        elif step == "update":
            step_update(results)
        elif step == "bulk":
            step_bulk(results)
        elif step == "server":
            step_server(results, args)
        elif step == "server100k":
            step_server(results, args, "100k")
        else:
            raise SystemExit(f"unknown step {step}")
    results["runs"][-1]["finished"] = load_now()
    save(results)
    print(table(results))


if __name__ == "__main__":
    main()
