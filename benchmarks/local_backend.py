"""The local backend (SmolLM2-135M in-process) against the extractive default, same run, same
questions, on rtqa-dev; and the local backend's prompt variants.

    python benchmarks/local_backend.py --limit 100 [--variants compact-3,full,...] [--json OUT]

Uses the dated index of calibrate.py (built once under benchmarks/work/eval-<corpus>/). Every
question goes through the normal answer path (Engine.stream: retrieval, not-found rule, backend,
citation check) as of the question's date. Per backend: answer containment (eval README
definition; a not-found answer counts as a miss), not-found rate, unsupported-sentence rate
(sentences the citation check lists as unsupported, over all sentences of the answers that were
not "not found"), share of answers with one, time to the first text delta and to the final
checked answer (p50 / p95, warm: the model is loaded by a warm-up question first), mean words,
median and p90 words (markers stripped, as qa.evaluate counts them), and short_containment: the
gold answer in `answer.short` (the engine's checked first line of at most 12 words), over all
questions, as qa.evaluate scores it. The "first*" variants ask for that line first.
Generation is the costly part: a fixed subset (the first --limit questions) is used for all.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calibrate import EVAL, dated_index  # noqa: E402

from qa.answering.backends.base import GenerationRequest  # noqa: E402
from qa.answering.backends.local_model import LocalBackend  # noqa: E402
from qa.answering.engine import Engine  # noqa: E402
from qa.answering.prompting import (  # noqa: E402
    COMPACT_SYSTEM_PROMPT,
    NOT_FOUND_TEXT,
    ChatMessages,
    answer_messages,
    compact_answer_messages,
    fit_passages,
)
from qa.config import load_settings  # noqa: E402
from qa.evaluate import load_eval, machine, parse_date, peak_rss_mb  # noqa: E402
from qa.scores import contains_answer, percentile  # noqa: E402
from qa.text.markers import strip_markers  # noqa: E402
from qa.text.sentences import sentence_spans  # noqa: E402
from qa.types import Answer  # noqa: E402

log = logging.getLogger("local_backend_bench")

#: The first compact prompt's rules (variants without "-plain"); the default is now the plain one.
RULES_SYSTEM = (
    "You answer the question with one short sentence taken from the numbered passages. "
    "Use only the passages. End the sentence with the number of the passage it comes from, like [1]. "
    f'If the passages do not answer the question, reply "{NOT_FOUND_TEXT}"'
)
ONE_SHOT = (
    RULES_SYSTEM
    + "\n\nExample.\nQuestion: Which city hosted the summit?\nPassages:\n\n[1] Leaders met in Oslo on Monday."
    " The summit ended early.\n\n[2] Prices rose in March.\n\nQuestion: Which city hosted the summit?\n"
    "Answer: The summit was hosted in Oslo [1]."
)
PLAIN_SYSTEM = COMPACT_SYSTEM_PROMPT
#: Answer first (issue 17 item 4): the short answer alone on the first line, then its evidence.
FIRST_SYSTEM = (
    "Answer the question using only the passages. "
    "First line: only the answer (a name, a number with its unit, or a date), cited like [1]. "
    "Second line: the one sentence from the passages that says it, cited like [1]."
)
#: The same with the form shown inline instead of described.
FIRST_EXAMPLE_SYSTEM = (
    "Answer the question using only the passages. Write the answer alone first, cited, like "
    '"Bank of China [2]", then on a new line the sentence from the passages that says it, cited.'
)
#: A one-shot example given as an earlier chat turn, so it is not mixed with the real passages.
FIRST_SHOT_USER = (
    "Question: Which city hosted the summit?\n\nPassages:\n\n[1] Prices rose in March.\n\n"
    "[2] Leaders met in Oslo on Monday for the summit. It ended early.\n\n"
    "Question: Which city hosted the summit?"
)
FIRST_SHOT_ASSISTANT = "Oslo [2]\nLeaders met in Oslo on Monday for the summit [2]."
#: The form asked again after the question (a small model follows the last thing it reads).
FIRST_LAST = "Reply with the answer alone first (a name, a number or a date) [n], then the sentence that says it [n]."
#: Only the short answer, no evidence sentence.
ONLY_SYSTEM = (
    "Answer the question using only the passages. Reply with only the answer: a name, a number with "
    "its unit, or a date, and the passage number like [1]. No sentence."
)


def _first_last(request: GenerationRequest) -> ChatMessages:
    system, (role, user) = compact_answer_messages(request.question, request.passages, system=FIRST_SYSTEM)
    return [system, (role, f"{user}\n\n{FIRST_LAST}")]


def _first_shot(request: GenerationRequest) -> ChatMessages:
    (system, rules), user = compact_answer_messages(request.question, request.passages, system=FIRST_SYSTEM)
    return [(system, rules), ("user", FIRST_SHOT_USER), ("assistant", FIRST_SHOT_ASSISTANT), user]


def _full(request: GenerationRequest) -> ChatMessages:
    """The prompt the server backends use: long rules, whole passages in <passage> tags."""
    return answer_messages(request.question, fit_passages(request.passages, 3000, "cl100k_base"))


VARIANTS: dict[str, Callable[[GenerationRequest], ChatMessages] | None] = {
    "default": None,  # the backend's own prompt (LocalBackend.messages)
    "compact-3": lambda r: compact_answer_messages(r.question, r.passages, system=RULES_SYSTEM),
    "compact-1": lambda r: compact_answer_messages(r.question, r.passages, sentences=1, system=RULES_SYSTEM),
    "compact-2": lambda r: compact_answer_messages(r.question, r.passages, sentences=2, system=RULES_SYSTEM),
    "compact-5": lambda r: compact_answer_messages(r.question, r.passages, sentences=5, system=RULES_SYSTEM),
    "compact-8": lambda r: compact_answer_messages(r.question, r.passages, sentences=8, system=RULES_SYSTEM),
    "compact-all": lambda r: compact_answer_messages(r.question, r.passages, sentences=1000, system=RULES_SYSTEM),
    "compact-5-48tokens": lambda r: compact_answer_messages(r.question, r.passages, sentences=5, system=RULES_SYSTEM),
    "compact-3-oneshot": lambda r: compact_answer_messages(r.question, r.passages, system=ONE_SHOT),
    "compact-3-plain": lambda r: compact_answer_messages(r.question, r.passages, system=PLAIN_SYSTEM),
    "compact-5-plain": lambda r: compact_answer_messages(r.question, r.passages, sentences=5, system=PLAIN_SYSTEM),
    "full": _full,
    "first": lambda r: compact_answer_messages(r.question, r.passages, system=FIRST_SYSTEM),
    "first-example": lambda r: compact_answer_messages(r.question, r.passages, system=FIRST_EXAMPLE_SYSTEM),
    "first-shot": _first_shot,
    "first-last": _first_last,
    "only": lambda r: compact_answer_messages(r.question, r.passages, system=ONLY_SYSTEM),
    # The same prompt with transformers' own anti-repetition, which also counts the prompt's tokens.
    "compact-5-penalties": lambda r: compact_answer_messages(r.question, r.passages, sentences=5, system=RULES_SYSTEM),
}
OPTIONS: dict[str, dict[str, Any]] = {
    "compact-5-penalties": {"repetition_penalty": 1.1, "no_repeat_ngram_size": 4},
    "compact-5-48tokens": {"max_new_tokens": 48},
}


def run(
    engine: Engine, backend: str, queries: Sequence[dict[str, Any]], show: bool, pause_while: Path | None = None
) -> dict[str, Any]:
    """Ask every query through Engine.stream and score it."""
    first_ms: list[float] = []
    full_ms: list[float] = []
    hits = not_found = sentences = unsupported = with_unsupported = words = short_hits = shorts = 0
    answer_words: list[int] = []
    rows = []
    for query in queries:
        while pause_while is not None and pause_while.exists():
            time.sleep(5)  # someone else is measuring on this machine
        as_of = parse_date(query.get("date"))
        started = time.perf_counter()
        first: float | None = None
        final: Answer | None = None
        for event in engine.stream(query["query"], backend=backend, as_of=as_of):
            if first is None:
                first = (time.perf_counter() - started) * 1000
            if isinstance(event, Answer):
                final = event
        assert final is not None and first is not None
        full_ms.append((time.perf_counter() - started) * 1000)
        first_ms.append(first)
        hit = contains_answer(final.text, query["answers"]) and not final.not_found
        hits += hit
        short_hit = bool(final.short) and contains_answer(final.short or "", query["answers"])
        short_hits += short_hit
        shorts += bool(final.short)
        if final.not_found:
            not_found += 1
        else:
            count = len(sentence_spans(final.text))
            sentences += count
            unsupported += len(final.unsupported)
            with_unsupported += bool(final.unsupported)
            words += len(final.text.split())
            answer_words.append(len(strip_markers(final.text).split()))
        rows.append(
            {
                "id": query["id"],
                "hit": hit,
                "text": final.text,
                "short": final.short,
                "short_hit": short_hit,
                "unsupported": final.unsupported,
                "fallback": final.fallback,
                "not_found": final.not_found,
            }
        )
        if show:
            print(
                f"{'+' if hit else '-'} {query['query'][:70]!r}\n    {final.text[:200]!r} {final.unsupported and 'U'}"
            )
    answered = len(queries) - not_found
    return {
        "answer_containment": round(hits / len(queries), 4),
        "short_containment": round(short_hits / len(queries), 4),
        "short_rate": round(shorts / len(queries), 4),
        "not_found_rate": round(not_found / len(queries), 4),
        "unsupported_sentence_rate": round(unsupported / max(sentences, 1), 4),
        "answers_with_unsupported": round(with_unsupported / max(answered, 1), 4),
        "first_token_p50_ms": percentile(first_ms, 0.5),
        "first_token_p95_ms": percentile(first_ms, 0.95),
        "full_answer_p50_ms": percentile(full_ms, 0.5),
        "full_answer_p95_ms": percentile(full_ms, 0.95),
        "mean_words": round(words / max(answered, 1), 1),
        "answer_words_p50": percentile(answer_words, 0.5),
        "answer_words_p90": percentile(answer_words, 0.9),
        "fallbacks": sum(row["fallback"] for row in rows),
        "questions": len(queries),
        "rows": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="corpus_small.jsonl")
    parser.add_argument("--limit", type=int, default=100, help="the first N questions (default 100)")
    parser.add_argument("--variants", default="default", help=f"comma-separated, of: {', '.join(VARIANTS)}")
    parser.add_argument("--max-new-tokens", type=int, help="QA_LOCAL_MAX_NEW_TOKENS for this run")
    parser.add_argument("--no-extractive", action="store_true", help="skip the extractive reference run")
    parser.add_argument("--json", type=Path, help="write all results (with each answer) here")
    parser.add_argument("--show", action="store_true", help="print each answer")
    parser.add_argument("--pause-while", type=Path, help="between questions, wait while this file exists")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    index = dated_index(args.corpus)
    _, queries = load_eval(EVAL, args.corpus, args.limit)
    settings = load_settings(index_dir=index, local_max_new_tokens=args.max_new_tokens)
    engine = Engine(settings)
    results: dict[str, Any] = {
        "settings": {
            "corpus": args.corpus,
            "limit": args.limit,
            "local_max_new_tokens": settings.local_max_new_tokens,
            "llm_timeout_s": settings.llm_timeout_s,
            "machine": machine(),
        },
        "runs": {},
    }
    engine.answer("warm-up question")  # embedding model, index, keyword index
    if not args.no_extractive:
        results["runs"]["extractive"] = run(engine, "extractive", queries, args.show, args.pause_while)
    local = engine.backend("local")
    assert isinstance(local, LocalBackend)
    started = time.perf_counter()
    loaded = local.loaded
    results["settings"]["local_model"] = loaded.location.label
    results["settings"]["local_load_s"] = round(time.perf_counter() - started, 1)
    for variant in args.variants.split(","):
        builder = VARIANTS[variant]
        if builder is None:
            vars(local).pop("messages", None)
        else:
            local.messages = builder  # type: ignore[method-assign]
        local.generate_options = OPTIONS.get(variant, {})
        results["runs"][f"local:{variant}"] = run(engine, "local", queries, args.show, args.pause_while)
        summary = {k: v for k, v in results["runs"][f"local:{variant}"].items() if k != "rows"}
        print(variant, json.dumps(summary), flush=True)
    results["settings"]["peak_rss_mb"] = round(peak_rss_mb(), 1)  # the process: both backends, both models
    keys = [key for key in next(iter(results["runs"].values())) if key != "rows"]
    print("| metric | " + " | ".join(results["runs"]) + " |")
    print("|---|" + "---|" * len(results["runs"]))
    for key in keys:
        print(f"| {key} | " + " | ".join(str(run_[key]) for run_ in results["runs"].values()) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
