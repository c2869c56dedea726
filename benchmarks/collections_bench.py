"""Collections' costs, with the real model: three collections of rtqa-dev documents (kept outside
the project, ../shared/eval), one EnginePool as the servers use it.

- answer latency p50/p95 for the questions of the first collection with that collection alone
  open, then with all three open (and questions to all three in between),
- memory (RSS) per extra open collection,
- the same questions through a pool that checks QA_AUTH grants (one user per collection), asked
  as that user: what the access check costs per answer,
- leaks: every citation of every answer names the collection asked (and one its asker may see).

    .venv/bin/python benchmarks/collections_bench.py [--eval ../shared/eval/rtqa-dev] [--per 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.access.accounts import load_users  # noqa: E402
from qa.answering.engines import EnginePool  # noqa: E402
from qa.config import load_settings  # noqa: E402
from qa.errors import NoSuchCollection  # noqa: E402
from qa.evaluate import machine  # noqa: E402
from qa.ingestion.pipeline import ingest  # noqa: E402
from qa.store import collections  # noqa: E402

NAMES = ("alpha", "beta", "gamma")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_documents(folder: Path, documents: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for document in documents:
        (folder / f"{document['id']}.txt").write_text(document["text"], encoding="utf-8")


def timed(pool: EnginePool, name: str, questions: list[str], user: str | None = None) -> tuple[list[float], int]:
    times, leaks = [], 0
    for question in questions:
        start = time.perf_counter()
        answer = pool.get(name, user).answer(question)
        times.append((time.perf_counter() - start) * 1000)
        leaks += sum(1 for citation in answer.citations if citation.collection != name)
    return times, leaks


def _refused(pool: EnginePool, name: str, user: str) -> bool:
    try:
        pool.get(name, user)
    except NoSuchCollection:
        return True
    return False


def percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"p50_ms": statistics.median(ordered), "p95_ms": ordered[int(0.95 * (len(ordered) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval" / "rtqa-dev")
    parser.add_argument("--per", type=int, default=50, help="documents per collection")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    documents = [json.loads(line) for line in (args.eval / "corpus_small.jsonl").open(encoding="utf-8")]
    queries = [json.loads(line) for line in (args.eval / "queries.jsonl").open(encoding="utf-8")]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "index"
        asked: dict[str, list[str]] = {}
        for number, name in enumerate(NAMES):
            part = documents[number * args.per : (number + 1) * args.per]
            ids = {document["id"] for document in part}
            # its own questions first, then the rest (asked too: found or not, none may cite elsewhere)
            own = [q["query"] for q in queries if set(q.get("gold_doc_ids", [])) & ids]
            asked[name] = own + [q["query"] for q in queries if q["query"] not in own][: 100 - len(own)]
            settings = load_settings(index_dir=root, collection=name)
            collections.ensure(settings)
            write_documents(settings.docs_dir, part)
            ingest(None, settings)
        pool = EnginePool(load_settings(index_dir=root, collection=NAMES[0]))
        before = rss_mib()
        pool.get(NAMES[0]).answer("warm up")
        one_open = rss_mib()
        alone, leaks = timed(pool, NAMES[0], asked[NAMES[0]])
        memory = []
        for name in NAMES[1:]:
            start = rss_mib()
            pool.get(name).answer("warm up")
            memory.append(rss_mib() - start)
        for name in NAMES[1:]:
            _, more = timed(pool, name, asked[name])
            leaks += more
        together, more = timed(pool, NAMES[0], asked[NAMES[0]])
        leaks += more
        users_file = Path(folder) / "users.txt"
        grants = [f"user-{name}:pw-{name}\ngrant user-{name}: {name}" for name in NAMES]
        users_file.write_text("\n".join(grants) + "\n", encoding="utf-8")
        users = load_users(str(users_file))
        guarded = EnginePool(pool.settings, embeddings=pool.get(NAMES[0]).embeddings, users=users)
        for name in NAMES:  # opened and warmed as above
            guarded.get(name, f"user-{name}").answer("warm up")
        checked, more = timed(guarded, NAMES[0], asked[NAMES[0]], user=f"user-{NAMES[0]}")
        leaks += more
        forbidden = sum(not _refused(guarded, name, "user-" + NAMES[0]) for name in NAMES[1:])
        guarded.close()
        pool.close()
    report = {
        "machine": machine(),
        "documents_per_collection": args.per,
        "questions": {name: len(asked[name]) for name in NAMES},
        "one_open": percentiles(alone),
        "three_open": percentiles(together),
        "three_open_with_grants": percentiles(checked),
        "forbidden_collections_answered": forbidden,
        "rss_first_collection_and_model_mib": one_open - before,
        "rss_per_extra_collection_mib": memory,
        "citations_from_another_collection": leaks,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {report['machine']}")
    print(f"latency, 1 open: {report['one_open']}; 3 open: {report['three_open']}")
    print(f"3 open, grants checked: {report['three_open_with_grants']}; forbidden answered: {forbidden}")
    print(
        f"memory: first collection + model {report['rss_first_collection_and_model_mib']:.0f} MiB; "
        f"each extra {', '.join(f'{m:.0f}' for m in memory)} MiB"
    )
    print(f"citations from another collection: {leaks}")


if __name__ == "__main__":
    main()
