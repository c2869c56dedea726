"""Run an ingest that SIGKILLs itself at a chosen point (the crash tests' child process).

`run(target, when, nth, paths, index_dir, rebuild, env)` patches `target` ("module:Qualified.name")
so that its `nth` call kills the process with SIGKILL `before` or `after` doing its work, then runs
the real `ingest.py` command line. Started through a forkserver that has already imported the
project and its libraries, so each crash costs the ingest, not eight seconds of imports.
"""

from __future__ import annotations

import importlib
import os
import signal
from typing import Any

import qa.cli  # noqa: F401  (imported here, the forkserver shares it with every child)
import qa.ingestion.pipeline  # noqa: F401
from tests.doubles import HASH_MODEL_ENV, install_hash_model


def plant(target: str, when: str, nth: int) -> None:
    module_name, qualname = target.split(":")
    owner: Any = importlib.import_module(module_name)
    *parents, name = qualname.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    original = getattr(owner, name)
    calls = 0

    def killer(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == nth and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if calls == nth and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, killer)


def run(target: str, when: str, nth: int, argv: list[str], env: dict[str, str]) -> None:
    os.environ.update(env)
    if os.environ.get(HASH_MODEL_ENV) == "1":  # forked, not started: the start-up hook did not run
        install_hash_model()
    plant(target, when, nth)
    from qa.cli import ingest_main

    raise SystemExit(ingest_main(argv))
