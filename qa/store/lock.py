"""One writer per index folder: an fcntl lock, released by the kernel if the process dies (so a
killed ingest never leaves a stale lock behind)."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path

from ..errors import IndexBusy


class WriteLock:
    """One writer per index folder (fcntl lock; released by the kernel if the process dies)."""

    def __init__(self, index_dir: Path, timeout_s: float) -> None:
        self.path = index_dir / "write.lock"
        self.timeout_s = timeout_s
        self._fd: int | None = None

    def __enter__(self) -> WriteLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                    os.close(fd)
                    raise IndexBusy(
                        f"another ingest is writing to {self.path.parent} (waited {self.timeout_s:.0f} s, "
                        "QA_LOCK_TIMEOUT_S)"
                    ) from exc
                time.sleep(0.2)
        self._fd = fd
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
