"""The seed questions with news beside the seed article, as a new user's folder would hold them.

    python benchmarks/seed_with_news.py [--count 150]

Copies seeds/ and the first COUNT documents of ../shared/eval/rtqa-dev/corpus_small.jsonl (written
as `qa.evaluate` writes them) into benchmarks/work/seed-with-news/, ingests the folder, and asks the
seed questions. Prints one JSON line per question: the short answer, the answer's first sentence,
and whether that sentence is a caption or other site text.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.answering.engine import Engine  # noqa: E402
from qa.config import load_settings  # noqa: E402
from qa.evaluate import load_eval, write_documents  # noqa: E402
from qa.ingestion.pipeline import ingest  # noqa: E402
from qa.text.boilerplate import is_boilerplate  # noqa: E402

QUESTIONS = (
    "Which two Chinese banks restricted financing?",
    "What share of Russian oil and gas is now sold to China?",
    "Which countries abstained at the UN Security Council?",
    "Who did Putin meet in Beijing?",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=150)
    args = parser.parse_args()
    work = ROOT / "benchmarks" / "work" / "seed-with-news"
    shutil.rmtree(work, ignore_errors=True)
    documents, _ = load_eval(ROOT.parent / "shared" / "eval" / "rtqa-dev", "corpus_small.jsonl", None)
    write_documents(documents[: args.count], work / "docs")
    for seed in (ROOT / "seeds").iterdir():
        shutil.copy(seed, work / "docs" / seed.name)
    settings = load_settings(index_dir=work / "index")
    ingest([work / "docs"], settings)
    engine = Engine(settings)
    for question in QUESTIONS:
        answer = engine.answer(question)
        first = answer.claims[0].text if answer.claims else ""
        row = {"question": question, "short": answer.short, "first": first, "boilerplate": is_boilerplate(first)}
        sys.stdout.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
