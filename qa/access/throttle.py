"""Failed attempts counted per user and per address, so a password or an API key cannot be
guessed: after `limit` failures within `window_s` seconds, further attempts by that user or from
that address are refused until the oldest of them is `window_s` old."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

WINDOW_S = 15 * 60  # failures count for this long
#: an address fails more often than one user (several people behind one NAT): this many times more
ADDRESS_FACTOR = 4


class Throttle:
    """Sliding-window failure counts by key ("user:alice", "address:10.0.0.7")."""

    def __init__(self, limit: int, window_s: float, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.what = what  # "login", "API key": for the log line
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _limit_of(self, key: str) -> int:
        return self.limit * ADDRESS_FACTOR if key.startswith("address:") else self.limit

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, user: str | None, address: str | None) -> int:
        """Seconds until `user` (or anyone from `address`) may try again; 0: now."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in _keys(user, address):
                times = self._recent(key, now)
                if len(times) >= self._limit_of(key):
                    wait = max(wait, times[-self._limit_of(key)] + self.window_s - now)
        return math.ceil(wait)

    def failed(self, user: str | None, address: str | None) -> None:
        now = self._clock()
        with self._lock:
            for key in _keys(user, address):
                times = self._failures.setdefault(key, deque())
                times.append(now)
                if len(times) == self._limit_of(key):
                    log.warning(
                        "%s: %d failed attempts in %.0f min for %s; refused for %.0f min",
                        self.what,
                        len(times),
                        self.window_s / 60,
                        key,
                        self.window_s / 60,
                    )

    def succeeded(self, user: str | None) -> None:
        """A right password clears that user's count (not the address's)."""
        if user is not None:
            with self._lock:
                self._failures.pop(f"user:{user}", None)


def _keys(user: str | None, address: str | None) -> list[str]:
    keys = []
    if user:
        keys.append(f"user:{user}")
    if address:
        keys.append(f"address:{address}")
    return keys
