"""LLM-written answers, labelled sentence by sentence, and how the citation check judges them.

    python benchmarks/llm_answers.py prompts --dataset rtqa --index benchmarks/work/rtqa/index --count 90
    python benchmarks/llm_answers.py score [--set benchmarks/llm_answers.jsonl] [--json OUT]

`prompts` asks questions of a dev set (../shared/eval/rtqa-dev or covidqa-dev) through the
normal retrieval and not-found rule, and writes, for each answerable one, the project's real
LLM prompt (`prompting.answer_messages` over `fit_passages`, exactly what an LLM backend sends)
to benchmarks/work/llm-prompts/, with each passage located in the eval document it comes from.

The answers were written by a strong model acting as the LLM on those prompts (helpers of a
development session: paraphrased, cited, sometimes joining facts; some with a realistic error
added on purpose: a detail in no passage, a wrong figure, a fact given to the wrong person, an
overgeneralisation, a negation) and each sentence labelled against the passages:
`supported`, `unsupported` or `contradicted`, with the error's kind for the wrong ones.

The set, `benchmarks/llm_answers.jsonl`, holds the answers and labels and only *references* to
the passages (eval document id, character offsets into the file the eval harness writes, a
sha1 of the text): the eval data's documents stay out of the project, and `score` rebuilds the
passages from ../shared/eval. `score` checks each answer with the real checker and reports false
flags (a labelled-supported sentence given another verdict) and recall (a labelled-wrong sentence
not given `supported`), overall and per error kind. `benchmarks/grounding.py` reports the same
beside its injected kinds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.answering.citations.claims import normal  # noqa: E402
from qa.types import Passage  # noqa: E402

EVAL_ROOT = ROOT.parent / "shared" / "eval"
DATASETS = {"rtqa": ("rtqa-dev", "corpus_small.jsonl"), "covid": ("covidqa-dev", "corpus.jsonl")}
SET = ROOT / "benchmarks" / "llm_answers.jsonl"
PROMPTS = ROOT / "benchmarks" / "work" / "llm-prompts"
LABELS = ("supported", "unsupported", "contradicted")


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def document_texts(dataset: str) -> dict[str, str]:
    """Each eval document as the file `qa.evaluate.write_documents` writes (title, blank line, text)."""
    folder, corpus = DATASETS[dataset]
    texts = {}
    with open(EVAL_ROOT / folder / corpus, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                document = json.loads(line)
                texts[document["id"]] = f"{document.get('title', '')}\n\n{document.get('text', '')}"
    return texts


def write_prompts(dataset: str, index: Path, count: int, seed: int) -> None:
    from qa.answering.engine import Engine
    from qa.answering.prompting import answer_messages, fit_passages
    from qa.config import load_settings
    from qa.evaluate import load_eval, parse_date

    folder, corpus = DATASETS[dataset]
    _, queries = load_eval(EVAL_ROOT / folder, corpus, None)
    texts = document_texts(dataset)
    settings = load_settings(index_dir=index)
    engine = Engine(settings)
    random.Random(seed).shuffle(queries)
    PROMPTS.mkdir(parents=True, exist_ok=True)
    written = 0
    for query in queries:
        if written >= count:
            break
        retrieval = engine.retriever.search(query["query"], as_of=parse_date(query.get("date")))
        if not retrieval.passages or not engine.relevance(retrieval).found(
            settings.min_relevance, settings.min_coverage, settings.min_overlap
        ):
            continue
        passages = fit_passages(retrieval.passages, settings.context_tokens, settings.tokenizer)
        located = []
        for number, passage in enumerate(passages, 1):
            doc_id = Path(passage.source).stem
            start = texts[doc_id].find(passage.text)
            if start < 0:
                raise SystemExit(f"passage {number} of {query['id']} is not verbatim in {doc_id}")
            located.append(
                {
                    "n": number,
                    "doc_id": doc_id,
                    "start": start,
                    "end": start + len(passage.text),
                    "sha1": _sha1(passage.text),
                    "title": passage.title,
                    "text": passage.text,
                }
            )
        messages = answer_messages(query["query"], passages, encoding_name=settings.tokenizer)
        record = {
            "id": f"{dataset}-{query['id']}",
            "dataset": dataset,
            "query_id": query["id"],
            "question": query["query"],
            "messages": [{"role": role, "content": content} for role, content in messages],
            "passages": located,
        }
        (PROMPTS / f"{record['id']}.json").write_text(json.dumps(record, indent=1, ensure_ascii=False), "utf-8")
        written += 1
    sys.stdout.write(f"{written} prompts in {PROMPTS}\n")


def load_set(path: Path = SET) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def passages_of(record: dict[str, Any], texts: dict[str, dict[str, str]]) -> list[Passage]:
    """The answer's passages, rebuilt from the eval documents and checked against their sha1."""
    found = []
    for ref in record["passages"]:
        document = texts[record["dataset"]][ref["doc_id"]]
        text = document[ref["start"] : ref["end"]]
        if _sha1(text) != ref["sha1"]:
            raise SystemExit(f"{record['id']}: passage {ref['n']} no longer matches {ref['doc_id']}")
        title = document.split("\n", 1)[0]
        found.append(Passage(f"{ref['doc_id']}:{ref['start']}", text, f"{ref['doc_id']}.txt", title, None, 0, 0, 1.0))
    return found


def score(checker: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    """False flags on labelled-supported sentences, recall on labelled-wrong ones (per kind), and
    the verdicts of sentences the check did not return as one claim (split or merged): `unmatched`."""
    texts = {dataset: document_texts(dataset) for dataset in {record["dataset"] for record in records}}
    supported = flagged = wrong = caught = unmatched = 0
    by_kind: dict[str, Counter] = defaultdict(Counter)
    by_dataset: dict[str, Counter] = defaultdict(Counter)
    examples: list[dict[str, str]] = []
    elapsed: list[float] = []
    for record in records:
        passages = passages_of(record, texts)
        started = time.perf_counter()
        checked = checker.check(record["answer"], passages, question=record["question"])
        elapsed.append((time.perf_counter() - started) * 1000)
        verdicts = {normal(claim.text): claim for claim in checked.claims}
        for sentence in record["sentences"]:
            claim = verdicts.get(normal(sentence["text"]))
            if claim is None:
                claim = next((c for c in checked.claims if normal(sentence["text"]) in normal(c.text)), None)
            if claim is None:
                unmatched += 1
                continue
            label = sentence["label"]
            counts = by_dataset[record["dataset"]]
            if label == "supported":
                supported += 1
                counts["supported"] += 1
                if claim.verdict != "supported":
                    flagged += 1
                    counts["false_flags"] += 1
                    examples.append(
                        {
                            "id": record["id"],
                            "sentence": sentence["text"],
                            "verdict": claim.verdict,
                            "reason": claim.reason,
                        }
                    )
            else:
                kind = sentence.get("error") or "other"
                wrong += 1
                counts["wrong"] += 1
                by_kind[kind]["n"] += 1
                if claim.verdict != "supported":
                    caught += 1
                    counts["caught"] += 1
                    by_kind[kind]["caught"] += 1
                else:
                    examples.append(
                        {"id": record["id"], "sentence": sentence["text"], "verdict": "supported", "missed": kind}
                    )
    return {
        "answers": len(records),
        "sentences_supported": supported,
        "false_flags": flagged,
        "false_flag_rate": round(flagged / supported, 3) if supported else 0.0,
        "sentences_wrong": wrong,
        "caught": caught,
        "recall": round(caught / wrong, 3) if wrong else 0.0,
        "recall_by_kind": {
            kind: {"n": counts["n"], "recall": round(counts["caught"] / counts["n"], 3)}
            for kind, counts in sorted(by_kind.items())
        },
        "by_dataset": {dataset: dict(counts) for dataset, counts in sorted(by_dataset.items())},
        "unmatched_sentences": unmatched,
        "check_ms_p50": round(sorted(elapsed)[len(elapsed) // 2], 1) if elapsed else 0.0,
        "check_ms_p95": round(sorted(elapsed)[int(0.95 * (len(elapsed) - 1))], 1) if elapsed else 0.0,
        "examples": examples,
    }


def validate(path: Path) -> list[str]:
    """Problems with a part of the set, structure only (it never runs the check, so labels stay
    independent of it): passages that do not match the eval documents, labels out of range, and
    labelled sentences that are not the answer's sentences as the check splits them."""
    from qa.answering.citations.claims import split_claims

    records = load_set(path)
    texts = {dataset: document_texts(dataset) for dataset in {record["dataset"] for record in records}}
    problems = []
    for record in records:
        passages_of(record, texts)
        claims = [normal(claim.text) for claim in split_claims(record["answer"], len(record["passages"]))]
        labelled = [normal(sentence["text"]) for sentence in record["sentences"]]
        if claims != labelled:
            problems.append(f"{record['id']}: the answer splits into {claims}, labelled {labelled}")
        for sentence in record["sentences"]:
            if sentence["label"] not in LABELS:
                problems.append(f"{record['id']}: label {sentence['label']!r}")
            if (sentence["label"] == "supported") != (sentence.get("error") in (None, "")):
                problems.append(f"{record['id']}: a wrong sentence needs its error kind, a right one none")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    prompts = commands.add_parser("prompts")
    prompts.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    prompts.add_argument("--index", type=Path, required=True)
    prompts.add_argument("--count", type=int, default=90)
    prompts.add_argument("--seed", type=int, default=36)
    checking = commands.add_parser("validate")
    checking.add_argument("file", type=Path)
    scoring = commands.add_parser("score")
    scoring.add_argument("--set", type=Path, default=SET)
    scoring.add_argument("--json", type=Path, help="write the numbers here too (no examples)")
    args = parser.parse_args()
    if args.command == "prompts":
        write_prompts(args.dataset, args.index, args.count, args.seed)
        return
    if args.command == "validate":
        problems = validate(args.file)
        sys.stdout.write("".join(line + "\n" for line in problems) or f"{args.file}: OK\n")
        raise SystemExit(1 if problems else 0)
    from qa.answering.citations import CitationChecker
    from qa.config import load_settings
    from qa.embeddings import embedder

    settings = load_settings()
    checker = CitationChecker(embedder(settings), wordnet_dir=settings.wordnet_dir)
    report = score(checker, load_set(args.set))
    sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if args.json:
        kept = {key: value for key, value in report.items() if key != "examples"}
        args.json.write_text(json.dumps(kept, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
