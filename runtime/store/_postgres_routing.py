"""How processes sharing one PostgreSQL database reach each other: the statements behind the
events cursor, the command inbox and the notifications (`PostgresStore`'s routing methods).

Theory of operation. An event is stored once, by whichever process received it. The process
that owns an instance waiting for it learns of it two ways: a ``NOTIFY`` on its channel (sent
by the receiving process once the event is committed: a wake-up, tens of milliseconds) and
its own poll of the events table every second or so (which catches a notification lost with
a dropped connection). Both end in the same read: the events committed since the previous
read, each with the open waits it matches (`events_after`).

That read must never skip an event, and identity numbers do not give that: ``pos`` is drawn
when a row is inserted but becomes visible at commit, so pos 102 may appear after pos 103
was read. Each event row therefore carries the id of the transaction that stored it (``xid``)
and the read remembers the *horizon* of its snapshot (``pg_snapshot_xmin``: every
transaction older than it had ended when the snapshot was taken). The next read takes every
event whose transaction is at or past the previous horizon: a transaction that commits later
than one read is, by definition, not older than that read's horizon, so it is read next
time. Rows read before (same pos) are recognised and skipped (`EventCursor.seen`); the set
holds only events at or past the horizon, so it stays small unless a transaction somewhere
in the cluster stays open for long (the horizon then waits for it, and reads grow).

A process reads only the events *other* processes stored (``stored_by``): one it stored itself
it hands over right after storing it, to the waits of the instances it drives then (and wakes
the owners of the others), so its poll would only hand the same event over a second time, and
might do so first, leaving the delivery that follows the store to be refused as a repeat. An
instance that comes to this process later (a claim) is replayed, and takes the events stored
for its waits from the store then.

Signals and BPMN messages are the exception: they are not taken from the store by a wait
that opens later, so one forwarded to a process that died (or closed) before delivering it
would be lost for the instance. The process that claims the instance therefore asks, once it
is replayed, for the signals and messages stored while its open waits were open (`missed`,
the same matching as `events_after`, whoever stored them) and offers them to it: an instance
counts an event it consumed once, so one delivered before the crash is refused as a repeat.

Signals and BPMN messages reach only the waits open when they were sent: each event row
records how far the ``wait_opened`` sequence had gone when it was stored (``waits_seen``),
and such waits opened later are not matched. Other waits match whenever they opened: a wait
opened after its event takes it from the store anyway (``events_for``), once.

Commands for an instance another process owns (cancel, resume, resolve an incident) go into
``inbox`` in one statement with the ``NOTIFY`` to its owner (sent only if the insert commits);
whoever owns the instance when it reads the inbox applies the command and then deletes the
row, so a command outlives the crash of either process. Applying one twice is harmless: each
refuses what was done already.

Channels are per database in PostgreSQL, not per schema, so a channel's name is derived from
the schema and the owner (`channel`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from typing import Any

import attrs
import psycopg

from ._interface import EventRow, WaitRow
from ._postgres_owners import LIVE_OWNER
from ._rows import event_row, wait_row

ROUTING_MIGRATION = """
    ALTER TABLE events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
    ALTER TABLE events ADD COLUMN waits_seen BIGINT
        DEFAULT pg_sequence_last_value('wait_opened');
    CREATE INDEX events_xid ON events (xid);
    CREATE TABLE inbox (
        pos BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        instance_id TEXT COLLATE "C" NOT NULL,
        command TEXT NOT NULL,
        posted_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX inbox_instance ON inbox (instance_id, pos);
"""
"""The events' transaction ids and wait horizon, and the command inbox."""

EVENTS_STORED_BY = """
    ALTER TABLE events ADD COLUMN stored_by TEXT COLLATE "C";
"""
"""Migration 7: the process that stored each event (NULL: stored before this migration)."""

SIGNAL_PREFIX = "trioflow.signal:"  # runtime._event.SIGNAL_TYPE_PREFIX: the store cannot import it

_EVENT_COLUMNS = (
    "e.source, e.id, e.type, e.subject, e.instanceid, e.event, e.received_at, e.expires_at"
)
_WAIT_COLUMNS = "w.instance_id, w.step, w.type, w.subject, w.message, w.opened"


@attrs.frozen(kw_only=True)
class EventCursor:
    """Where the events read stands: every event stored by a transaction older than
    `horizon` was read, and of the later ones those in `seen` (their pos and xid)."""

    horizon: int
    seen: frozenset[tuple[int, int]] = frozenset()


@attrs.frozen(kw_only=True)
class Routed:
    """A newly read event and a wait it matches (None when it matches no open wait)."""

    pos: int
    event: EventRow
    wait: WaitRow | None
    owner: str | None = None
    """The process that drives the wait's instance (read with ``owner=``)."""


@attrs.frozen(kw_only=True)
class Command:
    """A command waiting in the inbox for the process that owns `instance_id`."""

    pos: int
    instance_id: str
    command: str  # JSON text, the runtime's to read
    posted_at: float


def channel(schema: str | None, owner: str) -> str:
    """The ``LISTEN`` channel of `owner` in `schema`: PostgreSQL's channels span a database,
    so the schema is part of the name (hashed, as names are at most 63 bytes)."""
    digest = hashlib.sha256(f"{schema or 'public'}\x00{owner}".encode()).hexdigest()
    return f"trioflow_{digest[:40]}"


def event_cursor(conn: psycopg.Connection[Any]) -> EventCursor:
    """A cursor that reads the events committed from now on (and those being stored now)."""
    row = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text").fetchone()
    assert row is not None
    return EventCursor(horizon=int(row[0]))


def events_after(
    conn: psycopg.Connection[Any],
    cursor: EventCursor,
    *,
    owner: str | None = None,
    limit: int = 1000,
) -> tuple[list[Routed], EventCursor]:
    """The events committed since `cursor`, each with every open wait it matches, in the
    order they were stored; and the cursor past them. With `owner`, only the waits of
    instances `owner` drives, and every BPMN message subscription (the first in line takes a
    message, whoever drives it), each with its instance's owner; and not the events `owner`
    stored (it delivered them when it did). At most `limit` events are read: call again while
    the answer is non-empty and the cursor moves."""
    waits = (
        "SELECT w.*, NULL AS owner FROM waits AS w"
        if owner is None
        else "SELECT w.*, i.owner FROM waits AS w JOIN instances AS i ON i.id = w.instance_id"
        " WHERE i.owner = %(owner)s OR w.message IS NOT NULL"
    )
    rows = conn.execute(
        "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon),"
        " e AS (SELECT * FROM events WHERE xid >= %(after)s::text::xid8"
        "  AND NOT (pos = ANY(%(seen)s))"
        "  AND (%(owner)s::text IS NULL OR stored_by IS DISTINCT FROM %(owner)s)"
        "  ORDER BY pos LIMIT %(limit)s)"
        f" SELECT h.horizon, e.pos, e.xid::text, {_EVENT_COLUMNS}, {_WAIT_COLUMNS}, w.owner"
        " FROM h LEFT JOIN e ON TRUE"
        f" LEFT JOIN ({waits}) AS w ON w.type = e.type AND ("
        "  (e.instanceid IS NOT NULL AND w.instance_id = e.instanceid)"
        "  OR (e.instanceid IS NULL AND (w.subject IS NULL OR w.subject = e.subject)"
        "   AND (w.opened <= coalesce(e.waits_seen, 0)"
        "    OR (w.message IS NULL AND left(e.type, %(plen)s) <> %(prefix)s))))"
        " ORDER BY e.pos, w.opened",
        {
            "after": str(cursor.horizon),
            "seen": [pos for pos, _ in cursor.seen],
            "limit": limit,
            "owner": owner,
            "plen": len(SIGNAL_PREFIX),
            "prefix": SIGNAL_PREFIX,
        },
    ).fetchall()
    horizon = int(rows[0][0])
    routed: list[Routed] = []
    read: dict[int, int] = {}
    for row in rows:
        if row[1] is None:
            continue
        pos, xid = int(row[1]), int(row[2])
        read[pos] = xid
        event = event_row(row[3:11])
        wait = None if row[11] is None else wait_row(row[11:17])
        routed.append(Routed(pos=pos, event=event, wait=wait, owner=row[17]))
    if len(read) >= limit:
        # A full page: the events past it are still to come, so the horizon stays.
        horizon = cursor.horizon
    horizon = max(horizon, cursor.horizon)
    seen = {(pos, xid) for pos, xid in (*cursor.seen, *read.items()) if xid >= horizon}
    return routed, EventCursor(horizon=horizon, seen=frozenset(seen))


def missed(conn: psycopg.Connection[Any], instance_id: str) -> list[tuple[int, EventRow]]:
    """The untargeted signals and BPMN messages that the open waits of `instance_id` match as
    `events_after` matches them (stored while the wait was open; a message only when the wait
    is the first subscription in line), each with the step of its wait, in the order they were
    stored: what its previous owner may have died before delivering."""
    rows = conn.execute(
        f"SELECT w.step, {_EVENT_COLUMNS} FROM waits AS w JOIN events AS e"
        " ON e.type = w.type AND e.instanceid IS NULL"
        " AND (w.subject IS NULL OR w.subject = e.subject) AND w.opened <= e.waits_seen"
        " WHERE w.instance_id = %(instance)s"
        " AND (w.message IS NOT NULL OR left(w.type, %(plen)s) = %(prefix)s)"
        " AND (w.message IS NULL OR NOT EXISTS (SELECT 1 FROM waits AS f"
        "  WHERE f.message = w.message AND f.type = e.type"
        "  AND (f.subject IS NULL OR f.subject = e.subject) AND f.opened < w.opened))"
        " ORDER BY e.pos, w.opened",
        {"instance": instance_id, "plen": len(SIGNAL_PREFIX), "prefix": SIGNAL_PREFIX},
    ).fetchall()
    return [(int(row[0]), event_row(row[1:9])) for row in rows]


def owners_of(
    conn: psycopg.Connection[Any], instance_ids: Collection[str]
) -> dict[str, str | None]:
    """The live owner of each of `instance_ids` that is stored: None when nobody drives it
    now (released, or its owner is gone: the next to claim it will)."""
    rows = conn.execute(
        "SELECT i.id, o.id FROM instances AS i LEFT JOIN owners AS o"
        f" ON o.id = i.owner AND {LIVE_OWNER} WHERE i.id = ANY(%s)",
        (list(instance_ids),),
    ).fetchall()
    return {instance_id: owner for instance_id, owner in rows}


def post_command(
    conn: psycopg.Connection[Any],
    instance_id: str,
    command: str,
    posted_at: float,
    notify: str | None,
) -> int:
    """Put `command` in the inbox of `instance_id`'s owner and, in the same statement (so
    only if it commits), notify channel `notify`. Returns the command's pos."""
    row = conn.execute(
        "WITH c AS (INSERT INTO inbox (instance_id, command, posted_at)"
        " VALUES (%(instance)s, %(command)s, %(at)s) RETURNING pos)"
        " SELECT pos, CASE WHEN %(channel)s::text IS NULL THEN NULL"
        "  ELSE pg_notify(%(channel)s, 'c' || pos::text) END FROM c",
        {"instance": instance_id, "command": command, "at": posted_at, "channel": notify},
    ).fetchone()
    assert row is not None
    return int(row[0])


def commands_for(
    conn: psycopg.Connection[Any], *, owner: str | None = None, limit: int = 100
) -> list[Command]:
    """The oldest commands in the inbox (for instances `owner` drives, when given)."""
    owned = "" if owner is None else " JOIN instances AS i ON i.id = c.instance_id AND i.owner = %s"
    params: Sequence[Any] = (limit,) if owner is None else (owner, limit)
    rows = conn.execute(
        f"SELECT c.pos, c.instance_id, c.command, c.posted_at FROM inbox AS c{owned}"
        " ORDER BY c.pos LIMIT %s",
        params,
    ).fetchall()
    return [
        Command(pos=int(pos), instance_id=instance_id, command=command, posted_at=posted_at)
        for pos, instance_id, command, posted_at in rows
    ]


def commands_done(conn: psycopg.Connection[Any], positions: Collection[int]) -> None:
    """Take the commands applied out of the inbox."""
    if positions:
        conn.execute("DELETE FROM inbox WHERE pos = ANY(%s)", (list(positions),))


def notify(conn: psycopg.Connection[Any], channels: Collection[str], payload: str) -> None:
    """Send `payload` on each of `channels` (at once: the connection is in autocommit)."""
    if channels:
        conn.execute(
            "SELECT pg_notify(c, %s) FROM unnest(%s::text[]) AS c", (payload, list(channels))
        )
