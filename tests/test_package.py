"""The project installs as a package: a wheel holds every module and the `qa` command, and the
command (installed by the README's test line, `pip install -e .`) offers every subcommand."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT

SUBCOMMANDS = ("ask", "ingest", "serve", "check", "search", "stats", "app")


def test_the_wheel_holds_every_module_and_the_command(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: setuptools writes build/ beside the sources
    shutil.copytree(ROOT / "qa", source / "qa", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "requirements.txt", "requirements-dev.txt", "requirements-local.txt"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("qa-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "qa").rglob("*.py")}
    assert modules and modules <= names, sorted(modules - names)
    (entry_points,) = [name for name in names if name.endswith("entry_points.txt")]
    assert "qa = qa.cli:qa_main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_qa_command_offers_every_subcommand() -> None:
    command = Path(sys.executable).parent / "qa"
    assert command.exists(), "the qa command is missing: pip install -e ."
    shown = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    for name in SUBCOMMANDS:
        assert name in shown.stdout
    app = subprocess.run([str(command), "app", "--help"], capture_output=True, text=True, timeout=120)
    assert app.returncode == 0 and "--docs" in app.stdout and "--port" in app.stdout


HEAVY = ("chromadb", "gradio", "langchain_core", "sentence_transformers", "torch", "transformers")


def test_the_command_loads_only_what_it_runs() -> None:
    """`qa --help` (and `import qa`) import none of the heavy libraries: the public names are
    imported on first use, and each subcommand imports what it needs when it runs."""
    code = (
        "import runpy, sys\n"
        "import qa\n"
        "sys.argv = ['qa', '--help']\n"
        "try:\n"
        "    runpy.run_module('qa', run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    assert stop.code == 0, stop.code\n"
        f"print(sorted(name for name in {HEAVY!r} if name in sys.modules))\n"
    )
    shown = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "ingest" in shown.stdout and shown.stdout.splitlines()[-1] == "[]", shown.stdout[-500:]


def test_every_public_name_is_there() -> None:
    import qa

    missing = [name for name in qa.__all__ if getattr(qa, name, None) is None]
    assert not missing, missing
    assert set(qa.__all__) <= set(dir(qa))
    from qa import Engine, Settings, chain, ingest  # the names import as before

    assert Engine.__module__ == "qa.answering.engine" and Settings.__module__ == "qa.config"
    assert chain.__module__ == "qa.langchain" and ingest.__module__ == "qa.ingestion.pipeline"
    with pytest.raises(AttributeError, match="no_such_name"):
        qa.no_such_name  # noqa: B018
