"""Shared fixtures: the real embedding model loaded once per session, its hash double for tests
whose outcome does not depend on the model, throwaway indexes and corpora in tmp_path, and
helpers to run the real CLI in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa import Settings, load_settings  # noqa: E402
from qa.embeddings import SentenceEmbeddings  # noqa: E402

from .doubles import HASH_MIN_COVERAGE, HASH_MIN_RELEVANCE, HASH_MODEL_ENV, HashEmbeddings  # noqa: E402

if TYPE_CHECKING:
    from .test_offline import OfflineRun

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = next(SEEDS.glob("*.txt"))
#: torch threads of the test process, and of the children that embed with the real model
#: (QA_EMBEDDING_THREADS): the suite runs apps, servers and a browser beside its models, and on 2
#: cores torch's second thread then waits for a core at every operation.
TORCH_THREADS = 1


@pytest.fixture(scope="session")
def real_embeddings() -> SentenceEmbeddings:
    """The packaged MiniLM, loaded once for the whole session."""
    # QA_EMBEDDING_DTYPE=float32 runs the suite as a CPU without bfloat16 would
    model = SentenceEmbeddings(
        "sentence-transformers/all-MiniLM-L6-v2", dtype=os.environ.get("QA_EMBEDDING_DTYPE", "auto")
    )
    assert model.dimension == 384  # loaded (and `auto` measured, if it must be) with torch's default threads
    import torch

    torch.set_num_threads(TORCH_THREADS)
    return model


@pytest.fixture(scope="session")
def embeddings(real_embeddings: SentenceEmbeddings) -> SentenceEmbeddings:
    """The embedder of a test: the real model, unless its module overrides this with the double."""
    return real_embeddings


@pytest.fixture(scope="session")
def hash_embeddings() -> HashEmbeddings:
    """The deterministic double: for tests of storage, ingest and interfaces, not of answers."""
    return HashEmbeddings()


@pytest.fixture(scope="session")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineRun]:
    """tests/test_offline.py's run of the commands in a sandbox with no network, started once."""
    from .test_offline import OfflineRun

    run = OfflineRun(tmp_path_factory.mktemp("offline"))
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="module", autouse=True)
def slow_runs_start_first(request: pytest.FixtureRequest) -> None:
    """Runs that take long but use one core start early, in the background, if a selected test
    will want them, so that they overlap the tests before theirs: in one process, with the
    session (its first module); under xdist, where each worker collects every test but runs only
    the files it is given, with the first test of the file that wants them, on its worker alone."""
    distributed = "PYTEST_XDIST_WORKER" in os.environ
    mine = [
        item for item in request.session.items if not distributed or getattr(item, "module", None) is request.module
    ]
    if any("offline_run" in getattr(item, "fixturenames", ()) for item in mine):
        request.getfixturevalue("offline_run")


#: Test files, longest first (seconds each in one process, from `--durations=0`, 2 cores,
#: 2026-12-03): pytest.ini runs the suite on two xdist workers that take whole files in this order
#: (`--dist loadfile --no-loadscope-reorder`), so the long files start first, the short ones fill
#: the end, and both workers finish together. test_offline.py's own tests take a second, but its
#: sandboxed run (about 40 s on one core) starts with the file, in the background, so it goes
#: first, beside the browser tests. Files not listed follow, in collection order.
SLOW_MODULES_FIRST = (
    "test_app_browser.py",  # 202 s: six apps, each started in its own process, and Chromium
    "test_offline.py",
    "test_answering.py",  # 67 s
    "test_load.py",  # 67 s
    "test_disk.py",  # 55 s
    "test_local_backend.py",  # 51 s
    "test_crash.py",  # 34 s
    "test_access_browser.py",  # 24 s
    "test_fuzz.py",  # 24 s
    "test_cli.py",  # 24 s
    "test_mcp.py",  # 23 s
    "test_access.py",  # 18 s
    "test_api.py",  # 17 s
    "test_evaluate.py",  # 15 s
    "test_backends.py",  # 12 s
    "test_remote_embeddings.py",  # 11 s
    "test_rebuild.py",  # 10 s
    "test_jobs.py",  # 9 s
    "test_concurrency.py",  # 9 s
    "test_server_mode.py",  # 9 s
    "test_check.py",  # 9 s
    "test_sentence_vectors.py",  # 8 s
    "test_collections.py",  # 8 s
    "test_lexicon.py",  # 8 s
    "test_watch.py",  # 7 s
    "test_architecture.py",  # 6 s
    "test_llm_server.py",  # 6 s
    "test_formats.py",  # 5 s
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The test files in SLOW_MODULES_FIRST's order (a stable sort: each file's tests keep theirs)."""
    rank = {name: number for number, name in enumerate(SLOW_MODULES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def hash_model_env() -> dict[str, str]:
    """The environment that makes a child process embed with the hash double (no torch load):
    tests/hash_model/sitecustomize.py installs it at start-up. The not-found threshold is
    MiniLM's; the double's cosines run lower, so it gets its own (HASH_THRESHOLDS). Its cosines
    say nothing about meaning, so the passages are fused by rank, where BM25's order counts as
    much as the double's, not by score, where the cosine has most of the weight."""
    hook = str(ROOT / "tests" / "hash_model")
    path = os.pathsep.join(part for part in (hook, os.environ.get("PYTHONPATH", "")) if part)
    return {
        HASH_MODEL_ENV: "1",
        "PYTHONPATH": path,
        "QA_MIN_RELEVANCE": HASH_MIN_RELEVANCE,
        "QA_MIN_COVERAGE": HASH_MIN_COVERAGE,
        "QA_FUSION": "ranks",
    }


@pytest.fixture
def hash_model_children(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every child process this test starts (the app's ingest child too) embeds with the double."""
    for key, value in hash_model_env().items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: object) -> Settings:
        overrides.setdefault("index_dir", tmp_path / "index")
        return load_settings(**overrides)

    return make


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A documents folder holding a copy of the seed article."""
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(SEED_FILE, folder / SEED_FILE.name)
    return folder


def seed_index_in(folder: Path, embeddings: object) -> Path:
    """An index of seeds/ at folder/index, built with `embeddings`."""
    from qa.ingestion.pipeline import ingest

    index = folder / "index"
    ingest([SEEDS], load_settings(index_dir=index), embeddings=embeddings)  # type: ignore[arg-type]
    return index


@pytest.fixture(scope="session")
def real_seed_index(tmp_path_factory: pytest.TempPathFactory, real_embeddings: SentenceEmbeddings) -> Path:
    """seeds/ indexed once per session with the real model: a template for copy_index, never
    opened by a test itself (embedding the article takes seconds; copying it, milliseconds)."""
    return seed_index_in(tmp_path_factory.mktemp("real-seed"), real_embeddings)


def copy_index(index: Path, folder: Path) -> Path:
    """A copy of a closed index at folder/index, as if built there: the same files, its own id."""
    copy = folder / "index"
    shutil.copytree(index, copy)
    (copy / "index-id").unlink(missing_ok=True)  # created again on first use, as for a new index
    return copy


def write_articles(folder: Path, count: int, paragraphs: int = 6, tag: str = "") -> list[Path]:
    """Distinct, realistic-enough text files (each paragraph names its file, so they differ)."""
    folder.mkdir(parents=True, exist_ok=True)
    topics = ["harbour", "railway", "orchard", "observatory", "library", "glacier", "market", "vineyard"]
    paths = []
    for number in range(count):
        topic = topics[number % len(topics)]
        body = "\n\n".join(
            f"Report {tag}{number}, part {part}: the {topic} council of town {number} met on day {part} "
            f"and agreed that {topic} budgets rise by {number + part} percent. Residents asked why the "
            f"{topic} was closed for {part + 2} weeks; officials blamed storms and late deliveries."
            for part in range(paragraphs)
        )
        path = folder / f"article-{tag}{number:03d}.txt"
        path.write_text(f"{topic.title()} report {tag}{number}\n\n{body}\n", encoding="utf-8")
        paths.append(path)
    return paths


def run_cli(
    args: list[str], env: dict[str, str] | None = None, real_model: bool = False, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run a project command (`ingest.py ...` or `-m qa ...`) with this interpreter; it embeds with
    the hash double unless `real_model` (when the outcome depends on the model)."""
    full_env = {**os.environ, **({} if real_model else hash_model_env()), **(env or {})}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=600, **kwargs
    )


def make_pdf(pages: list[str], deflated: dict[int, bytes] | None = None) -> bytes:
    """A minimal valid PDF with one line of text per page (no PDF writer library needed);
    `deflated[i]`, if given, is page i's content stream, already zlib-compressed."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    font_ref = 3 + 2 * len(pages)
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    for i, text in enumerate(pages):
        content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_ref} 0 R >> >> >>".encode()
        )
        if deflated and i in deflated:
            raw = deflated[i]
            objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(raw) + raw + b"\nendstream")
        else:
            objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: a missing dependency must never pass silently."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI", "").lower() in ("1", "true", "yes") and skipped and exitstatus == 0:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; failing the run", red=True)
        session.exitstatus = 1
