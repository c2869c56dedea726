"""What every embedder offers the stages: a recorded name, a dimension, the number format and
backend it embeds with, and unit-length float32 vectors as one array."""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
from langchain_core.embeddings import Embeddings

#: `backend` of an embedder that runs in this process.
LOCAL = "local"


class Embedder(Embeddings):
    """LangChain Embeddings with what the index records about the vectors it holds."""

    calls: int  # texts embedded by this instance; tests and reports read it

    @property
    @abstractmethod
    def name(self) -> str:
        """The model name the index records (two embedders of one name make compatible vectors)."""

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @property
    @abstractmethod
    def dtype(self) -> str:
        """The number format the vectors are computed in (float32, bfloat16, int8; "server" when
        a server decides)."""

    @property
    @abstractmethod
    def backend(self) -> str:
        """ "local", or the host of the embedding server."""

    @abstractmethod
    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
