"""`Listener`: one connection that ``LISTEN``s on a channel, for a thread to wait on.

psycopg has no Trio support, so the runtime waits for notifications the way it writes: it
calls the blocking `Listener.wait` in a worker thread. `wait` returns what arrived within its
timeout, or `LOST` when the connection was lost and has been made again: notifications sent
meanwhile are gone, and the caller must read what it may have missed (the routing poll does
that anyway, every second). A listener that cannot reconnect keeps saying `LOST` (after its
timeout) until the server is back.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Final

import psycopg
from psycopg import sql

from ._interface import StoreError
from ._postgres_session import connect

LOST: Final = "lost"
"""What `Listener.wait` returns when notifications may have been missed."""


class Listener:
    """A ``LISTEN`` on `channel` through a connection of its own; see the module docstring.

    `wait` is called from one thread at a time; `close` from any thread, at any time.
    """

    def __init__(self, conninfo: str, schema: str | None, where: str, channel: str) -> None:
        self.channel = channel
        self._conninfo, self._schema, self._where = conninfo, schema, where
        self._lock = threading.Lock()
        self._closed = False
        self._conn: psycopg.Connection[Any] | None = None
        self._listen()

    def _listen(self) -> None:
        conn = connect(self._conninfo, self._schema, self._where)
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    @property
    def backend_pid(self) -> int | None:
        """The server process of the listening connection (None while it is down)."""
        conn = self._conn
        return None if conn is None or conn.closed else conn.info.backend_pid

    def wait(self, timeout: float) -> list[str] | str:
        """The payloads that arrive within `timeout` seconds (all those waiting once the first
        has come; [] when none did), or `LOST` when the connection was lost and is listening
        again (or still cannot be made). Blocks: call it from a thread."""
        with self._lock:
            try:
                return self._wait(timeout)
            finally:
                if self._closed and self._conn is not None:
                    self._conn.close()

    def _wait(self, timeout: float) -> list[str] | str:
        if self._closed:
            raise StoreError("the listener is closed")
        if self._conn is None or self._conn.closed:
            return self._reconnect(timeout)
        conn = self._conn
        try:
            payloads = [n.payload for n in conn.notifies(timeout=timeout, stop_after=1)]
            if payloads:
                # Those that came with it, without waiting for more.
                payloads += [n.payload for n in conn.notifies(timeout=0.0)]
        except psycopg.Error:  # the connection was lost (or is unusable): make it again
            conn.close()
            return self._reconnect(timeout)
        return payloads

    def _reconnect(self, timeout: float) -> str:
        try:
            self._listen()
        except (StoreError, psycopg.Error):  # the server is not back yet
            time.sleep(timeout)
        return LOST

    def close(self) -> None:
        """Stop listening. Idempotent, and never blocks: a `wait` in progress closes the
        connection when it returns (within its timeout, or at the next notification)."""
        self._closed = True
        if self._lock.acquire(blocking=False):
            try:
                if self._conn is not None:
                    self._conn.close()
            finally:
                self._lock.release()
