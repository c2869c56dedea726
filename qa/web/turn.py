"""One answer of the chat, written in a thread of its own so that the page can leave it.

Gradio cancels an event only when its handler yields; an answer waiting on a model's first token
yields nothing for seconds, and the page counts the cancelled event as pending until it does, so
the user's next question would be dropped. The handler reads this thread's events with a short
timeout and yields a no-op update on each (a heartbeat), so leaving the conversation cancels it
at once. The thread itself runs to the end and keeps the turn in the conversation it was asked
in: an answer lands there or, if that fails, nowhere, never in the conversation opened next.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..answering.engine import Engine
from ..types import Answer

log = logging.getLogger(__name__)
HEARTBEAT_S = 0.2


@dataclass(frozen=True)
class Kept:
    """The turn is saved: what `keep` returned (the conversation's id and the sidebar's update)."""

    result: tuple[Any, ...]


@dataclass(frozen=True)
class Failed:
    """The answer or its saving raised; the handler raises it again."""

    error: Exception


Event = str | Answer | Kept | Failed | None  # None: nothing new yet (a heartbeat)


def answer_in_thread(
    engine: Engine, question: str, history: Sequence[Any], keep: Callable[[Answer], tuple[Any, ...]]
) -> Iterator[Event]:
    """The engine's text deltas and final Answer, then `Kept` once `keep(answer)` has saved it,
    with None every HEARTBEAT_S while nothing comes. Closing this iterator leaves the thread
    running to the end: the answer is still kept."""
    events: queue.Queue[Event] = queue.Queue()

    def run() -> None:
        try:
            final = None
            for event in engine.stream(question, history):
                if isinstance(event, Answer):
                    final = event
                events.put(event)
            if final is None:
                raise RuntimeError("the answer stream ended without an answer")
            events.put(Kept(keep(final)))
        except Exception as exc:  # handed to the page's handler, which raises it (or has left)
            log.warning("answer to %r failed: %s", question[:80], exc)
            events.put(Failed(exc))

    threading.Thread(target=run, name="answer", daemon=True).start()
    while True:
        try:
            event = events.get(timeout=HEARTBEAT_S)
        except queue.Empty:
            yield None
            continue
        yield event
        if isinstance(event, Kept | Failed):
            return
