"""`PostgresLink`: what one process needs to reach the others sharing its PostgreSQL database.

The routing statements (`_postgres_routing`) on a connection of their own, so that the poll
and the inbox neither wait for the journal writer nor hold up the queries of the reader.
Like the reader's, its calls are quick single statements made from the event loop's thread;
only `Listener.wait` blocks, in a worker thread. A lost connection is made again once, then
the call fails with `StoreError` (the caller retries at its next poll).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any, TypeVar

import psycopg

from ._interface import EventRow, StoreError
from ._postgres_listen import Listener
from ._postgres_routing import (
    Command,
    EventCursor,
    Routed,
    channel,
    commands_done,
    commands_for,
    event_cursor,
    events_after,
    missed,
    notify,
    owners_of,
    post_command,
)
from ._postgres_session import connect, run_reconnecting

_T = TypeVar("_T")


class PostgresLink:
    """The routing of one process (`owner`, as ownership names it) in one schema."""

    def __init__(self, conninfo: str, schema: str | None, where: str, owner: str) -> None:
        self.owner = owner
        self.schema = schema
        self._conninfo, self._where = conninfo, where
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False

    def channel(self, owner: str | None = None) -> str:
        """The channel `owner` (default: this process) listens on."""
        return channel(self.schema, self.owner if owner is None else owner)

    def listener(self) -> Listener:
        """A new `Listener` on this process's channel (close it when done)."""
        return Listener(self._conninfo, self.schema, self._where, self.channel())

    def cursor(self) -> EventCursor:
        """An events cursor from now on (see `_postgres_routing`)."""
        return self._run(event_cursor)

    def events_after(
        self, cursor: EventCursor, *, mine: bool = True, limit: int = 1000
    ) -> tuple[list[Routed], EventCursor]:
        """Events committed since `cursor` with the open waits they match: of this process's
        instances only (`mine`), or of every instance."""
        owner = self.owner if mine else None
        return self._run(lambda conn: events_after(conn, cursor, owner=owner, limit=limit))

    def missed(self, instance_id: str) -> list[tuple[int, EventRow]]:
        """The signals and messages the open waits of `instance_id` may have missed while
        another process drove it, each with its wait's step (`_postgres_routing.missed`)."""
        return self._run(lambda conn: missed(conn, instance_id))

    def owners_of(self, instance_ids: Collection[str]) -> dict[str, str | None]:
        """Which live process drives each of `instance_ids` (None: none now, the next to
        claim it will); unknown ids are left out."""
        return self._run(lambda conn: owners_of(conn, instance_ids))

    def post_command(
        self, instance_id: str, command: str, posted_at: float, owner: str | None
    ) -> int:
        """Put `command` in the inbox for `instance_id` and notify `owner` (if known), both
        only once committed. Returns its pos."""
        target = None if owner is None else self.channel(owner)
        return self._run(lambda conn: post_command(conn, instance_id, command, posted_at, target))

    def commands(self, *, mine: bool = True, limit: int = 100) -> list[Command]:
        """The oldest commands in the inbox for this process's instances (or every one)."""
        owner = self.owner if mine else None
        return self._run(lambda conn: commands_for(conn, owner=owner, limit=limit))

    def done(self, positions: Collection[int]) -> None:
        """Delete the commands at `positions` from the inbox: they were applied."""
        self._run(lambda conn: commands_done(conn, positions))

    def notify(self, owners: Iterable[str], payload: str) -> None:
        """Wake the processes `owners` with `payload`."""
        channels = {self.channel(owner) for owner in owners}
        self._run(lambda conn: notify(conn, channels, payload))

    def close(self) -> None:
        self._closed = True
        if self._conn is not None:
            self._conn.close()

    def _run(self, call: Callable[[psycopg.Connection[Any]], _T]) -> _T:
        if self._closed:
            raise StoreError("the link is closed")
        self._conn, answer = run_reconnecting(
            self._conn,
            lambda: connect(self._conninfo, self.schema, self._where),
            call,
            f"{self._where} cannot be reached",
        )
        return answer
