"""Embedding throughput on this CPU: dtype x batch size, torch threads, attention kernel, and the
length-sorting window (sentence-transformers sorts by length within one encode call).

    python benchmarks/embedding_speed.py        (needs benchmarks/work/rtqa-small: run ingest_bench.py once)

Prints chunks/s for each variant and the minimum cosine between its vectors and float32's.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.embeddings import resolve_model  # noqa: E402
from qa.ingestion.chunking import Chunker  # noqa: E402


def rate(model: SentenceTransformer, texts: list[str], batch_size: int, window: int | None = None) -> float:
    model.encode(texts[:64], batch_size=batch_size)  # warm-up
    started = time.perf_counter()
    step = window or len(texts)
    for i in range(0, len(texts), step):
        model.encode(texts[i : i + step], batch_size=batch_size)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    files = sorted((ROOT / "benchmarks" / "work" / "rtqa-small").glob("*.txt"))[:80]
    if not files:
        raise SystemExit("run benchmarks/ingest_bench.py first (it writes benchmarks/work/rtqa-small)")
    texts = [c.text for f in files for c in Chunker(200, 40).split(f.read_text(encoding="utf-8"))][:600]
    location = resolve_model("all-MiniLM-L6-v2").location
    reference = SentenceTransformer(location, device="cpu").encode(texts[:100], normalize_embeddings=True)
    print(f"{len(texts)} chunks of <=200 tokens; torch {torch.__version__}, {torch.get_num_threads()} threads")
    for dtype in (torch.float32, torch.bfloat16):
        for attn in ("sdpa", "eager"):
            model = SentenceTransformer(
                location, device="cpu", model_kwargs={"dtype": dtype, "attn_implementation": attn}
            )
            vectors = model.encode(texts[:100], normalize_embeddings=True)
            cosine = float((np.asarray(vectors, dtype=np.float32) * reference).sum(1).min())
            for batch in (8, 16, 32, 64):
                print(
                    f"{str(dtype):15s} {attn:5s} batch {batch:3d}: {rate(model, texts, batch):6.1f} chunks/s"
                    f"  min cos {cosine:.4f}",
                    flush=True,
                )
    model = SentenceTransformer(location, device="cpu", model_kwargs={"dtype": torch.bfloat16})
    for threads in (1, 2, 4):
        torch.set_num_threads(threads)
        print(f"bfloat16 threads {threads}: {rate(model, texts, 32):6.1f} chunks/s", flush=True)
    torch.set_num_threads(2)
    for window in (32, 256, 600):
        print(f"bfloat16 sort window {window:3d}: {rate(model, texts, 32, window):6.1f} chunks/s", flush=True)


def padding(multiple: int) -> None:
    """One fresh process per setting: peak RSS counts oneDNN's per-shape kernel cache."""
    files = sorted((ROOT / "benchmarks" / "work" / "rtqa-small").glob("*.txt"))[:250]
    texts = [c.text for f in files for c in Chunker(200, 40).split(f.read_text(encoding="utf-8"))][:2500]
    model = SentenceTransformer(
        resolve_model("all-MiniLM-L6-v2").location, device="cpu", model_kwargs={"dtype": torch.bfloat16}
    )
    extra = {"processing_kwargs": {"text": {"pad_to_multiple_of": multiple}}} if multiple > 1 else {}
    started = time.perf_counter()
    for i in range(0, len(texts), 256):
        model.encode(texts[i : i + 256], batch_size=32, **extra)
    speed = len(texts) / (time.perf_counter() - started)
    # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's size across fork+exec
    status = Path("/proc/self/status").read_text()
    peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    print(
        f"bfloat16 pad to multiple of {multiple:2d}: {speed:6.1f} chunks/s, peak RSS {peak:.0f} MB"
        f" ({len(texts)} chunks)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--pad":
        padding(int(sys.argv[2]))
    else:
        main()
        for multiple in (1, 16, 64):
            import subprocess

            subprocess.run([sys.executable, __file__, "--pad", str(multiple)], check=True)
