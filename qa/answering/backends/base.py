"""What every answer backend offers. Backends only produce text (with [n] markers that refer to
the numbered passages); retrieval, the not-found rule and the citation check are done around
them in the engine, the same for all."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ...types import Message, Passage


@dataclass
class GenerationRequest:
    """A question, the passages it may be answered from (passage i is cited as [i], 1-based),
    and the earlier turns of the conversation."""

    question: str
    passages: Sequence[Passage]
    history: Sequence[Message] = field(default_factory=list)
    #: Set by the backend when the answer stopped at its length limit, not at its end: the last,
    #: unfinished sentence is then dropped from the final answer (the engine).
    cut_off: bool = False


class Backend(Protocol):
    name: str

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Text deltas of the answer. Raises BackendError (with the cause chained) on any failure,
        including a stream that ends without the server's end marker."""
        ...

    def condense(self, question: str, history: Sequence[Message]) -> str:
        """`question` rewritten to stand alone, using the conversation (for retrieval).
        Raises BackendError on failure."""
        ...
