"""Plot benchmarks/results/scale.json (written by scale_bench.py) to benchmarks/results/scale.png.

    .venv/bin/pip install -r requirements-bench.txt
    .venv/bin/python benchmarks/plot_scale.py [--input scale.json] [--output scale.png]

Left: ingest seconds and chunks/s against index size (real ingests; the 100k point is the growth
with derived chunks, which skips embedding, so it is drawn apart). Right: query latency p50/p95
(Engine.answer: retrieval + extractive answer + citation check; and Retriever.search alone)
against index size, log x axis, with the 300 ms target.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ORDER = ("1k", "10k", "full", "100k")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=RESULTS / "scale.json")
    parser.add_argument("--output", type=Path, default=RESULTS / "scale.png")
    args = parser.parse_args()
    results = json.loads(args.input.read_text())
    ingest, latency, growth = results.get("ingest", {}), results.get("latency", {}), results.get("growth")

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))

    real = [ingest[label] for label in ORDER if label in ingest]
    chunks = [row["chunks"] for row in real]
    left.plot(chunks, [row["ingest_s"] for row in real], "o-", color="tab:blue", label="ingest s (real, embedding)")
    for row in real:
        left.annotate(
            f"{row['ingest_s']:.0f} s", (row["chunks"], row["ingest_s"]), textcoords="offset points", xytext=(4, 6)
        )
    if growth:
        left.plot(
            [growth["real_chunks"], growth["chunks"]],
            [0, growth["add_s"] + growth["commit_s"]],
            "s--",
            color="tab:gray",
            label="growth with derived chunks (no embedding), s",
        )
    left.set_xscale("log")
    left.set_xlabel("chunks in the index")
    left.set_ylabel("seconds")
    left.set_title("Ingest")
    rate = left.twinx()
    rate.plot(chunks, [row["chunks_per_s"] for row in real], "^:", color="tab:orange", label="chunks/s (real)")
    rate.set_ylabel("chunks/s")
    rate.set_ylim(bottom=0)
    handles = left.get_legend_handles_labels()[0] + rate.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + rate.get_legend_handles_labels()[1]
    left.legend(handles, labels, loc="upper left", fontsize=8)
    left.grid(True, which="both", alpha=0.3)

    rows = [latency[label] for label in ORDER if label in latency]
    sizes = [row["chunks"] for row in rows]
    for key, name, color in (("answer", "answer", "tab:red"), ("search", "search only", "tab:green")):
        right.plot(sizes, [row[key]["p50_ms"] for row in rows], "o-", color=color, label=f"{name} p50")
        right.plot(sizes, [row[key]["p95_ms"] for row in rows], "o--", color=color, alpha=0.6, label=f"{name} p95")
    right.axhline(300, color="black", linewidth=0.8, linestyle=":", label="300 ms target (p50 at 100k)")
    right.set_xscale("log")
    right.set_ylim(bottom=0)
    right.set_xlabel("chunks in the index (100k: real + derived)")
    right.set_ylabel("ms per question (warm)")
    right.set_title(f"Query latency, {rows[0]['questions'] if rows else 0} questions per size")
    right.legend(fontsize=8)
    right.grid(True, which="both", alpha=0.3)

    machine = results.get("machine", {})
    fig.suptitle(f"rtqa-dev scale benchmark: {machine.get('cores')} cores, {machine.get('cpu', '')}", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    print(args.output)


if __name__ == "__main__":
    main()
