"""Which number format `QA_EMBEDDING_DTYPE=auto` embeds in: measured, not guessed from a CPU flag.

bfloat16 is 2.5-3x faster than float32 on Intel AMX, 1.85x on AMD Zen 4 (AVX-512 BF16, no AMX),
and slower than float32 where neither exists; int8 (dynamic quantization of the Linear layers)
helps on some CPUs and not others. So on the first load on a machine a short run (a few seconds)
embeds the same texts in each format, and the fastest whose vectors stay at cosine >= 0.995 to
float32's is kept. The result is cached per CPU model, thread count, library versions and model,
in `QA_CACHE_DIR`; every later process reads it without importing torch.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..config import default_cache_dir

log = logging.getLogger(__name__)

CACHE_FILE = "embedding-formats.json"
CANDIDATES = ("float32", "bfloat16", "int8")
MIN_COSINE = 0.995  # a format's vectors must stay this close to float32's (worst text) to be used
MIN_GAIN = 1.10  # and be this much faster than float32: smaller gains are timing noise
_BATCH = 16
_ROUNDS = 2

# Calibration texts: plain prose of about the length of a chunk (8 sentences, about 170 tokens),
# made by rotating these sentences so that no two texts are alike.
_SENTENCES = (
    "The city council approved the budget after a long debate about road repairs and schools.",
    "Shares of the company rose 4.2 percent on Tuesday after it reported higher quarterly profit.",
    "Researchers said the new vaccine reduced hospital admissions by nearly a third in the trial.",
    "Heavy rain flooded several villages in the north, and thousands of people left their homes.",
    "The minister denied reports that the government planned to raise taxes on fuel next year.",
    "A spokesperson for the airline said all flights would resume once the storm had passed.",
    "The museum reopened its east wing, which had been closed for renovation since 2019.",
    "Fans waited for hours outside the stadium before the final match of the season began.",
    "The central bank kept interest rates unchanged, citing uncertainty about energy prices.",
    "Engineers found a crack in the bridge during a routine inspection on Monday morning.",
    "The court ruled that the contract was invalid because it had never been signed by both sides.",
    "Volunteers planted more than ten thousand trees along the river over the weekend.",
    "Officials warned that the drought could cut this year's wheat harvest by a fifth.",
    "The orchestra announced a tour of twelve cities, starting in Lisbon in early March.",
    "Police closed the main road for six hours after a truck overturned near the tunnel.",
    "Doctors recommend at least seven hours of sleep a night for most adults.",
)


@dataclass
class Calibration:
    """One machine's measurement: texts/s and worst cosine to float32 per format, and the choice."""

    chosen: str
    texts_per_s: dict[str, float] = field(default_factory=dict)
    min_cosine: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    measured: str = ""


def cpu_model() -> str:
    """The CPU's model name ("AMD EPYC", "Intel(R) Xeon(R) Platinum 8481C", ...)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def machine_key(location: str, threads: int | None) -> str:
    """What a measurement holds for: CPU, cores used, library versions and model (no torch import)."""
    cores = threads or os.cpu_count() or 1
    libraries = " ".join(f"{name}=={_version(name)}" for name in ("torch", "transformers", "sentence-transformers"))
    return f"{cpu_model()} | {cores} threads | {libraries} | {location}"


def cached(cache_dir: Path, key: str) -> Calibration | None:
    """The stored measurement for `key`, if any (an unreadable cache counts as none)."""
    try:
        entry = json.loads((cache_dir / CACHE_FILE).read_text(encoding="utf-8")).get(key)
        return Calibration(**entry) if entry else None
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        log.warning("ignoring the unreadable embedding calibration cache %s: %s", cache_dir / CACHE_FILE, exc)
        return None


def store(cache_dir: Path, key: str, result: Calibration) -> None:
    """Add `result` to the cache file, replaced atomically (processes calibrating at once each
    write a whole file; the last one wins, and both measured the same machine)."""
    path = cache_dir / CACHE_FILE
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        try:
            entries: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            entries = {}
        entries[key] = asdict(result)
        tmp = path.with_name(f".{CACHE_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries, indent=2), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot cache the embedding calibration in %s (%s); it runs again next time", cache_dir, exc)


def chosen_format(location: str, threads: int | None = None, cache_dir: Path | None = None) -> str:
    """The format `auto` means on this machine: cached, or measured now and cached."""
    folder = cache_dir or default_cache_dir()
    key = machine_key(location, threads)
    known = cached(folder, key)
    if known is not None:
        return known.chosen
    result = calibrate(location, threads)
    store(folder, key, result)
    return result.chosen


def choose(texts_per_s: dict[str, float], min_cosine: dict[str, float]) -> str:
    """The fastest format whose vectors match float32's, if it beats float32 by MIN_GAIN."""
    fastest = max(
        (name for name in texts_per_s if min_cosine.get(name, 0.0) >= MIN_COSINE),
        key=lambda name: texts_per_s[name],
        default="float32",
    )
    if texts_per_s.get(fastest, 0.0) >= MIN_GAIN * texts_per_s.get("float32", float("inf")):
        return fastest
    return "float32"


def texts() -> list[str]:
    """The calibration texts: 8 consecutive sentences each, starting one further each time."""
    count = len(_SENTENCES)
    return [" ".join(_SENTENCES[(start + step) % count] for step in range(8)) for start in range(_BATCH)]


def calibrate(location: str, threads: int | None = None) -> Calibration:
    """Time each candidate format on the calibration texts (interleaved rounds, best round
    kept) and choose the fastest whose vectors match float32's."""
    import torch

    from .loading import load_model, quantized

    started = time.perf_counter()
    sample = texts()
    base = load_model(location, threads, "float32")
    models: dict[str, Any] = {"float32": base}
    result = Calibration(chosen="float32")
    for name in CANDIDATES[1:]:
        try:
            models[name] = quantized(copy.deepcopy(base)) if name == "int8" else copy.deepcopy(base).to(torch.bfloat16)
        except (RuntimeError, NotImplementedError, AssertionError) as exc:  # a format this torch build lacks
            result.failed[name] = str(exc)
    reference: np.ndarray | None = None
    best: dict[str, float] = {}
    for round_ in range(_ROUNDS + 1):  # round 0 warms each format's kernels up, untimed
        for name, model in list(models.items()):
            try:
                begun = time.perf_counter()
                vectors = model.encode(
                    sample if round_ else sample[:4],
                    batch_size=_BATCH,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                took = time.perf_counter() - begun
            except (RuntimeError, NotImplementedError) as exc:
                result.failed[name] = str(exc)
                del models[name]
                continue
            if not round_:
                continue
            vectors = np.asarray(vectors, dtype=np.float32)
            if name == "float32":
                reference = vectors
            elif reference is not None:
                result.min_cosine[name] = round(float(np.min(np.sum(vectors * reference, axis=1))), 5)
            best[name] = min(best.get(name, took), took)
    result.texts_per_s = {name: round(len(sample) / took, 1) for name, took in best.items()}
    result.min_cosine["float32"] = 1.0
    result.chosen = choose(result.texts_per_s, result.min_cosine)
    result.seconds = round(time.perf_counter() - started, 2)
    result.measured = datetime.now(timezone.utc).isoformat(timespec="seconds")
    log.info(
        "embedding format measured in %.1f s on %s: %s texts/s, worst cosine to float32 %s -> %s",
        result.seconds,
        cpu_model(),
        result.texts_per_s,
        result.min_cosine,
        result.chosen,
    )
    return result
