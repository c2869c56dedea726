"""Retrieval settings sweep on an rtqa-dev index built by ingest_bench.py (one process, warm).

    python benchmarks/retrieval_tune.py --index benchmarks/work/index-small-hybrid --corpus small

Prints one row of metrics per setting; the defaults in qa/config.py come from this table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest_bench import materialize, queries_for, score_retrieval  # noqa: E402

from qa.answering.retrieval import Retriever  # noqa: E402
from qa.config import load_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", required=True)
    parser.add_argument("--corpus", default="small")
    parser.add_argument("--grid", default="mode=hybrid,dense,bm25")
    args = parser.parse_args()
    queries = queries_for(materialize(args.corpus))
    base = load_settings(index_dir=args.index)
    retriever = Retriever(base)
    axes = {}
    for part in args.grid.split(";"):
        name, values = part.split("=")
        axes[name] = values.split(",")
    rows = []
    for combo in itertools.product(*axes.values()):
        chosen = dict(zip(axes, combo, strict=True))
        mode = chosen.pop("mode", "hybrid")
        retriever.settings = base.model_copy(update={k: type(getattr(base, k))(v) for k, v in chosen.items()})

        def search(text: str, k: int) -> list[tuple[str, str]]:
            found = retriever.search(text, k=k, mode=mode)  # noqa: B023
            return [(Path(p.source).stem, p.text) for p in found.passages]

        metrics = score_retrieval(search, queries)
        rows.append({"mode": mode, **chosen, **{k: round(v, 4) for k, v in metrics.items()}})
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
