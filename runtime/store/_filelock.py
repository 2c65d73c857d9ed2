"""One process per SQLite file: an exclusive ``flock`` on ``<database>.lock``.

Two runtimes on one file would each recover the other's unfinished instances and run
their activities again. The lock file lives next to the database and holds the pid of the
process that has it, so that a refused second process can name the holder. ``flock``
locks belong to the open file: the kernel lets go when the holder closes it or dies (even
by SIGKILL), so a stale lock file is harmless and is left in place; removing it could let
two processes lock two different files of the same name.
"""

from __future__ import annotations

import fcntl
import os

from ._interface import StoreError


class DatabaseLocked(StoreError):
    """Another process (or another store in this one) has the database open for writing."""


class FileLock:
    """The exclusive lock on ``<database>.lock``, held from construction until ``release``."""

    def __init__(self, database: str) -> None:
        self.path = f"{database}.lock"
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot open database {database!r}: cannot create its lock file"
                f" {self.path!r}: {exc.strerror}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise DatabaseLocked(
                f"database {database!r} is in use by {holder} (it holds {self.path!r});"
                " one process at a time may run a database: stop that one first"
                " (trioflow instances, show and replay only read, and work beside it)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        """Let go of the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the file releases its flock


def _read_pid(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return f"process {text}" if text.isdigit() else "another process (pid not written yet)"
