"""The one normaliser of chat turns, whoever sends them: Gradio (content may be a list of parts),
the OpenAI-compatible API (system, tool and multi-part messages), LangChain callers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..types import Message


def content_text(content: Any) -> str | None:
    """A turn's content as text: a string as it is, the text parts of a multi-part content
    joined with spaces; None when it is neither."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # parts: {"type": "text", "text": ...}; images and files are not text
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type", "text") == "text"
        )
    return None


def chat_turns(history: Sequence[Any] | None) -> list[Message]:
    """The user and assistant turns of `history` as {"role", "content": str}, in order; system
    notes, tool calls, empty and malformed turns are dropped (they are not conversation text)."""
    turns: list[Message] = []
    for turn in history or []:
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
            continue
        content = content_text(turn.get("content"))
        if content is not None and content.strip():
            turns.append({"role": str(turn["role"]), "content": content})
    return turns
