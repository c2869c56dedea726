"""The layout's rules, read from the code itself: imports run one way (interfaces -> answer |
ingest -> store -> text -> shared), the answer stage reads the store through its reader only, the
web app asks the store for an overview and opens none of its files, and no module grows past the
size one job needs."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "qa"
SHARED = {"qa.config", "qa.errors", "qa.types", "qa.embeddings"}
MAX_LINES = 400


@cache  # the tree is read once per process; every test asks for it
def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


@cache  # each file parsed once per process, however many rules read it
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def imported(name: str, path: Path) -> set[str]:
    """The project modules `name` imports (relative imports resolved), at any depth of the file."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "qa")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "qa":
                continue
            known = modules()
            for alias in node.names:  # "from . import markers" imports a module
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in known else target)
    return found


def layer(module: str) -> str:
    if module in SHARED or module.startswith("qa.embeddings."):
        return "shared"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ("text", "store", "access", "ingestion", "answering", "web"):
        return parts[1]
    return "interface"  # qa, qa.cli, qa.evaluate, qa.openai_api, qa.langchain, qa.__main__


ALLOWED = {
    "shared": {"shared"},
    "text": {"shared", "text"},
    "store": {"shared", "text", "store"},
    "access": {"shared", "access"},
    "ingestion": {"shared", "text", "store", "ingestion"},
    "answering": {"shared", "text", "store", "access", "answering"},
    "web": {"shared", "text", "store", "access", "ingestion", "answering", "web"},
    "interface": {"shared", "text", "store", "access", "ingestion", "answering", "web", "interface"},
}


@cache  # the import graph is built once per process, not once per rule
def edges() -> tuple[tuple[str, str], ...]:
    return tuple((name, target) for name, path in modules().items() for target in sorted(imported(name, path)))


def test_the_layers_import_downward_only() -> None:
    wrong = [f"{a} -> {b}" for a, b in edges() if layer(b) not in ALLOWED[layer(a)]]
    assert not wrong, wrong


def test_the_answer_stage_reads_the_store_through_its_reader_only() -> None:
    wrong = [
        f"{a} -> {b}"
        for a, b in edges()
        if layer(a) == "answering" and layer(b) == "store" and b not in ("qa.store.reader", "qa.store.collections")
    ]
    assert not wrong, wrong


def test_the_web_app_asks_the_store_for_an_overview_only() -> None:
    wrong = [
        f"{a} -> {b}"
        for a, b in edges()
        if layer(a) == "web" and layer(b) == "store" and b not in ("qa.store.overview", "qa.store.collections")
    ]
    assert not wrong, wrong


def test_the_rules_see_the_imports() -> None:
    """The checks above would pass on a parser that finds nothing: it finds these."""
    found = set(edges())
    assert ("qa.answering.retrieval", "qa.store.reader") in found
    assert ("qa.answering.citations.claims", "qa.text.markers") in found
    assert ("qa.web.app", "qa.store.overview") in found
    assert layer("qa.cli") == "interface" and layer("qa.store.writer") == "store"


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_outgrows_one_job(name: str) -> None:
    lines = len(modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by job"


def test_every_error_class_lives_in_errors() -> None:
    """One tree: no QAError subclass is defined outside qa/errors.py."""
    outside = []
    for name, path in modules().items():
        if name == "qa.errors":
            continue
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and base.id.endswith(("Error", "Rejected", "Busy", "Missing", "Mismatch"))
                for base in node.bases
            ):
                outside.append(f"{name}.{node.name}")
    assert not outside, outside
