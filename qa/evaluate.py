"""Evaluation harness: python -m qa.evaluate --eval-dir DIR [--corpus corpus_small.jsonl] [--limit N]
[--backend B] [--baseline] [--json]

Each corpus document becomes a file (title as first line, then the text; its modification time is
the article's date, as for a saved news article) in a temporary folder, ingested by the normal
ingest path into a temporary index; every query goes through the normal answer path, asked "as
of" the query's date. Metrics as defined in the eval README (../shared/eval/README.md).

--baseline runs LangChain's tutorial pipeline on the same files in a child process: character
splitting 1000/200, the same embedding model (float32, as the tutorial's HuggingFaceEmbeddings),
Chroma, similarity_search k=4. The tutorial's answer comes from an LLM; offline, its "answer" is
the same extractive sentence picker run over its 4 chunks, so answer containment compares
retrieval through one answerer.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import platform
import queue
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from .cli import guarded, quiet_third_parties, setup_logging
from .config import Settings, load_settings
from .errors import ConfigError
from .scores import Scores

log = logging.getLogger(__name__)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse_date(text: str | None) -> date | None:
    """An eval date ("2022/06/16" or "2022-06-16"), or None."""
    if not text:
        return None
    for pattern in ("%Y/%m/%d", "%Y-%m-%d"):
        try:
            return datetime.strptime(text[:10], pattern).date()
        except ValueError:
            continue
    return None


def load_eval(eval_dir: Path, corpus: str, limit: int | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    try:
        with open(eval_dir / corpus, encoding="utf-8") as handle:
            documents = [json.loads(line) for line in handle if line.strip()]
        with open(eval_dir / "queries.jsonl", encoding="utf-8") as handle:
            queries = [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the evaluation data in {eval_dir}: {exc}") from exc
    present = {document["id"] for document in documents}
    for query in queries:
        query["gold_doc_ids"] = [doc_id for doc_id in query.get("gold_doc_ids", []) if doc_id in present]
    return documents, queries[:limit] if limit else queries


def write_documents(documents: Sequence[dict[str, Any]], folder: Path) -> None:
    """One file per document, named by its id, dated by its article date."""
    folder.mkdir(parents=True, exist_ok=True)
    for document in documents:
        path = folder / f"{document['id']}.txt"
        path.write_text(f"{document.get('title', '')}\n\n{document.get('text', '')}", encoding="utf-8")
        published = parse_date(document.get("date"))
        if published is not None:
            stamp = datetime(published.year, published.month, published.day, 12, tzinfo=UTC).timestamp()
            os.utime(path, (stamp, stamp))


def _doc_id(source: str) -> str:
    return Path(source).stem


def evaluate_ours(
    documents_dir: Path,
    queries: Sequence[dict[str, Any]],
    settings: Settings,
    backend: str | None,
    ablations: dict[str, dict[str, Any]] | None = None,
    answers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Our pipeline's metrics; with `ablations` given, also fills in the retrieval metrics of plain
    dense, plain BM25 and hybrid without the recency prior, on the same index in the same run."""
    from .answering.engine import Engine
    from .ingestion.pipeline import ingest

    started = time.perf_counter()
    report = ingest([documents_dir], settings)
    ingest_s = time.perf_counter() - started
    engine = Engine(settings)
    engine.answer("warm-up question", backend=backend)  # model and index load are not query latency
    scores = Scores()
    for query in queries:
        as_of = parse_date(query.get("date"))
        ask_started = time.perf_counter()
        answer = engine.answer(query["query"], backend=backend, as_of=as_of)
        latency = (time.perf_counter() - ask_started) * 1000
        if answers is not None:  # each answer, for comparing two runs answer by answer
            answers.append(
                {
                    "id": query.get("id"),
                    "short": answer.short,
                    "text": answer.text,
                    "verdicts": [c.verdict for c in answer.claims],
                }
            )
        ranked = engine.retriever.search(query["query"], k=10, as_of=as_of).passages
        context = " ".join(passage.text for passage in ranked[: settings.top_k])
        scores.add(
            query, [_doc_id(p.source) for p in ranked], context, answer.text, answer.not_found, latency, answer.short
        )
    if ablations is not None:
        from .answering.retrieval import Retriever

        plain = Retriever(settings.model_copy(update={"recency_days": 0}), reader=engine.retriever.reader)
        for mode in ("dense", "bm25", "hybrid"):
            single = Scores()
            for query in queries:
                ranked = plain.search(query["query"], k=10, mode=mode).passages
                context = " ".join(passage.text for passage in ranked[: settings.top_k])
                single.add(query, [_doc_id(p.source) for p in ranked], context, "", False, 0.0)
            metrics = single.metrics()
            retrieval_keys = ("hits@1", "hits@4", "hits@10", "mrr@10", "context_containment")
            ablations[mode] = {key: metrics[key] for key in retrieval_keys}
    files = report.files_added + report.files_updated + report.files_unchanged
    return {
        **scores.metrics(),
        "ingest_s": round(ingest_s, 2),
        "documents": files,
        "chunks": report.chunks_total,
        "chunks_per_s": round(report.chunks_total / ingest_s, 2) if ingest_s else 0.0,
        "docs_per_s": round(files / ingest_s, 3) if ingest_s else 0.0,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "skipped": len(report.skipped),
        "embedding_dtype": report.embedding_dtype,
        "chunk_embedding": settings.chunk_embedding,
        "texts_embedded": report.texts_embedded,
        "sentences_reused": report.sentences_reused,
        "sentences_embedded_answering": engine.sentence_vectors.embedded,
    }


def evaluate_baseline(documents_dir: Path, queries: Sequence[dict[str, Any]], work: Path) -> dict[str, Any]:
    """LangChain's RAG tutorial, as written (runs in its own process: see run_in_child)."""
    import numpy as np
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from .answering.backends.extractive import compose, pick_sentences
    from .answering.retrieval import uniform_weights
    from .embeddings import SentenceEmbeddings
    from .types import Passage

    started = time.perf_counter()
    embeddings = SentenceEmbeddings(load_settings().embedding_model, dtype="float32")
    documents = [
        Document(page_content=path.read_text(encoding="utf-8"), metadata={"source": str(path)})
        for path in sorted(documents_dir.glob("*.txt"))
    ]
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    chunks = splitter.split_documents(documents)
    store = Chroma(
        collection_name="baseline",
        embedding_function=embeddings,
        persist_directory=str(work / "baseline-chroma"),
        client_settings=ChromaSettings(anonymized_telemetry=False, is_persistent=True),
    )
    for start in range(0, len(chunks), 5000):  # Chroma refuses batches over 5,461
        store.add_documents(chunks[start : start + 5000])
    ingest_s = time.perf_counter() - started
    store.similarity_search("warm-up question", k=4)
    scores = Scores()

    for query in queries:
        ask_started = time.perf_counter()
        found = store.similarity_search(query["query"], k=4)
        passages = [
            Passage(str(i), doc.page_content, doc.metadata["source"], "", None, 0, len(doc.page_content), 0.0)
            for i, doc in enumerate(found)
        ]
        vector = np.asarray(embeddings.embed_query(query["query"]), dtype=np.float32)
        answer_text = compose(pick_sentences(query["query"], vector, passages, embeddings, uniform_weights), passages)
        latency = (time.perf_counter() - ask_started) * 1000
        ranked = store.similarity_search(query["query"], k=10)
        context = " ".join(doc.page_content for doc in ranked[:4])
        scores.add(query, [_doc_id(doc.metadata["source"]) for doc in ranked], context, answer_text, False, latency)
    return {
        **scores.metrics(),
        "ingest_s": round(ingest_s, 2),
        "documents": len(documents),
        "chunks": len(chunks),
        "chunks_per_s": round(len(chunks) / ingest_s, 2) if ingest_s else 0.0,
        "docs_per_s": round(len(documents) / ingest_s, 3) if ingest_s else 0.0,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def _child(target: Callable[..., dict[str, Any]], args: tuple[Any, ...], results: Any) -> None:
    quiet_third_parties()
    logging.basicConfig(level=logging.WARNING)
    results.put(target(*args))


def run_in_child(target: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run `target(*args)` in a fresh process, so its memory and model load are its own."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_child, args=(target, args, results))
    process.start()
    try:
        while True:
            try:
                return results.get(timeout=1.0)
            except queue.Empty:
                if not process.is_alive():
                    failed = f"the baseline run failed (exit code {process.exitcode}); see its error above"
                    raise ConfigError(failed) from None
    finally:
        process.join()


def machine() -> dict[str, Any]:
    """The CPU (model and the flags that decide embedding speed), cores and Python of this run."""
    from .embeddings.calibration import cpu_model

    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8")
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "cpu_flags": [flag for flag in wanted if flag in flags],
        "python": platform.python_version(),
    }


def format_table(result: dict[str, Any]) -> str:
    columns = [name for name in ("metrics", "baseline") if name in result]
    keys = list(result["metrics"])
    lines = ["| metric | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(str(result[column].get(key, "")) for column in columns) + " |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m qa.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--eval-dir", required=True, type=Path, help="folder with corpus*.jsonl and queries.jsonl")
    p.add_argument("--corpus", default="corpus_small.jsonl", help="corpus file in --eval-dir")
    p.add_argument("--limit", type=int, help="ask only the first N queries")
    p.add_argument("--backend", help="answer backend (QA_BACKEND; default extractive)")
    p.add_argument("--baseline", action="store_true", help="also run LangChain's tutorial pipeline, same data")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--work", type=Path, help="keep files and index here instead of a temporary folder")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


@guarded
def main(argv: Sequence[str] | None = None) -> int:
    quiet_third_parties()
    args = parser().parse_args(argv)
    setup_logging(args.quiet or args.json, args.verbose)
    documents, queries = load_eval(args.eval_dir, args.corpus, args.limit)
    work = args.work or Path(tempfile.mkdtemp(prefix="qa-eval-"))
    try:
        documents_dir = work / "documents"
        shutil.rmtree(documents_dir, ignore_errors=True)
        write_documents(documents, documents_dir)
        shutil.rmtree(work / "index", ignore_errors=True)
        settings = load_settings(index_dir=work / "index", backend=args.backend)
        result: dict[str, Any] = {
            "settings": {
                **json.loads(settings.model_dump_json(exclude={"openai_api_key"})),
                "eval_dir": str(args.eval_dir),
                "corpus": args.corpus,
                "machine": machine(),
            },
        }
        ablations: dict[str, dict[str, Any]] = {}
        answers: list[dict[str, Any]] = []
        result["metrics"] = evaluate_ours(documents_dir, queries, settings, args.backend, ablations, answers)
        if args.work is not None:  # for comparing two runs answer by answer (never committed)
            with open(work / "answers.jsonl", "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(row) + "\n" for row in answers)
        result["single_rankings"] = ablations
        if args.baseline:
            shutil.rmtree(work / "baseline-chroma", ignore_errors=True)
            result["baseline"] = run_in_child(evaluate_baseline, documents_dir, queries, work)
            result["baseline"]["not_found_rate"] = 0.0
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
    else:
        print(format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
