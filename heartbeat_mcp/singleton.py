"""One engine per SQLite file.

SQLite serves one writer process well and gives no row locks to share work
across processes, so a second engine on the same file is refused with a
message that says what to do, instead of silently running every task twice.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: msvcrt gives the same non-blocking exclusive lock
    fcntl = None  # type: ignore[assignment]
    import msvcrt


class EngineLocked(RuntimeError):
    pass


class ProcessLock:
    """An exclusive, non-blocking lock on `<database>.lock`, released when the process exits."""

    def __init__(self, database_file: Path) -> None:
        self.path = database_file.with_name(database_file.name + ".lock")
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held for the engine's lifetime
        try:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise EngineLocked(
                f"another heartbeat engine ({holder}) is already running on {self.path.with_suffix('')}; "
                "an SQLite database serves one engine: stop the other one, or use PostgreSQL for several replicas"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
