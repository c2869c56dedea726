"""Loading a sentence-transformers model offline in a number format (float32, bfloat16, or int8
weights for its Linear layers): what the embedder and the format calibration both load."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def load_model(location: str, threads: int | None, dtype: str) -> SentenceTransformer:
    """The model at `location` in `dtype`, offline (calibration loads its candidates with this)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()
    if threads:
        torch.set_num_threads(threads)
    try:
        if dtype == "int8":
            return quantized(SentenceTransformer(location, device="cpu"))
        return SentenceTransformer(location, device="cpu", model_kwargs={"dtype": getattr(torch, dtype)})
    except (OSError, ValueError) as exc:
        raise ConfigError(f"embedding model {location!r} cannot be loaded offline (QA_EMBEDDING_MODEL): {exc}") from exc


def quantized(model: SentenceTransformer) -> SentenceTransformer:
    """int8 weights for the Linear layers (torch dynamic quantization; activations stay float)."""
    import warnings

    import torch

    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
