"""Events and event waits in SQLite: the statements `SqliteStore` runs for them."""

from __future__ import annotations

import apsw

from ._interface import (
    DuplicateEvent,
    DuplicateEvents,
    EventBatch,
    EventRow,
    StoreError,
    WaitRow,
)
from ._rows import event_row, wait_row

SET_WAIT = (
    "INSERT INTO waits (instance_id, step, type, subject, message, opened)"
    " VALUES (?, ?, ?, ?, ?, (SELECT last + 1 FROM wait_counter))"
    " ON CONFLICT (instance_id, step) DO UPDATE SET type = excluded.type,"
    " subject = excluded.subject, message = excluded.message"
)
"""A wait re-stored (its instance resumed) keeps the place in line it opened with."""
CORRELATE = (
    "INSERT INTO correlations (source, id, workflow, instance_id) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
CLEAR_WAIT = "DELETE FROM waits WHERE instance_id = ? AND step = ?"
CLEAR_WAITS = "DELETE FROM waits WHERE instance_id = ?"
_EVENT_COLUMNS = "source, id, type, subject, instanceid, event, received_at, expires_at"
VALUE_ERRORS = (
    apsw.ConstraintError,
    apsw.MismatchError,
    apsw.TooBigError,
    TypeError,
    ValueError,
    OverflowError,
)
"""Errors that concern one row's own values, not the transaction: the writer refuses that
event (or append) alone and the rest of the transaction goes on."""


def insert_event(cursor: apsw.Cursor, row: EventRow) -> StoreError | None:
    """Store one event unless its ``(source, id)`` is stored already."""
    cursor.execute(
        f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (source, id) DO NOTHING",
        (
            row.source,
            row.id,
            row.type,
            row.subject,
            row.instanceid,
            row.event,
            row.received_at,
            row.expires_at,
        ),
    )
    if cursor.connection.changes() == 0:
        return DuplicateEvent(f"event {row.id!r} from {row.source!r} was received already")
    return None


def insert_events(cursor: apsw.Cursor, item: EventRow | EventBatch) -> StoreError | None:
    """Store one event, or every event of a batch, or none of them (a SAVEPOINT).

    A value the database cannot take (a lone surrogate, a string too big) refuses the
    event or the batch alone, with its error; the rest of the transaction goes on.
    """
    cursor.execute("SAVEPOINT events")
    try:
        if isinstance(item, EventRow):
            result = insert_event(cursor, item)
        else:
            duplicates = tuple(
                index for index, row in enumerate(item.events) if insert_event(cursor, row)
            )
            result = DuplicateEvents(duplicates) if duplicates else None
    except VALUE_ERRORS as exc:
        cursor.execute("ROLLBACK TO events")
        cursor.execute("RELEASE events")
        error = StoreError(f"the event was refused: {exc!r}")
        error.__cause__ = exc
        return error
    cursor.execute("RELEASE events")
    return result


def waits_for(conn: apsw.Connection, type: str, subject: str | None) -> list[WaitRow]:
    # Two index searches, not `subject IS NULL OR subject = ?`: SQLite would answer that OR by
    # scanning every wait of the type, which makes each publish O(waits) with many parked.
    rows = conn.execute(
        f"SELECT {_WAIT_COLUMNS} FROM waits WHERE type = ?1 AND subject = ?2"
        " UNION ALL"
        f" SELECT {_WAIT_COLUMNS} FROM waits WHERE type = ?1 AND subject IS NULL"
        " ORDER BY instance_id, step",
        (type, subject),
    )
    return [wait_row(row) for row in rows]


def waits_of(conn: apsw.Connection, instance_id: str) -> list[WaitRow]:
    rows = conn.execute(
        f"SELECT {_WAIT_COLUMNS} FROM waits WHERE instance_id = ? ORDER BY step", (instance_id,)
    )
    return [wait_row(row) for row in rows]


_WAIT_COLUMNS = "instance_id, step, type, subject, message, opened"


def events_for(
    conn: apsw.Connection, type: str, subject: str | None, instance_id: str, since: float
) -> list[EventRow]:
    # One index search per way to match (targeted at the instance, or by subject), not one OR:
    # SQLite would answer the OR by scanning every stored event of the type, and every wait that
    # starts or is rehydrated asks this, so waking M parked instances took O(M^2) row reads.
    # A wait for any subject still reads every untargeted event of its type: it may take any.
    by_subject = "" if subject is None else "subject = ?4 AND "
    bindings: tuple[str | float, ...] = (type, instance_id, since)
    if subject is not None:
        bindings += (subject,)
    rows = conn.execute(
        f"SELECT pos, {_EVENT_COLUMNS} FROM events"
        " WHERE type = ?1 AND instanceid = ?2 AND received_at >= ?3"
        " UNION ALL"
        f" SELECT pos, {_EVENT_COLUMNS} FROM events"
        f" WHERE type = ?1 AND {by_subject}instanceid IS NULL AND received_at >= ?3"
        " ORDER BY pos",
        bindings,
    )
    return [event_row(row[1:]) for row in rows]


def messages_for(
    conn: apsw.Connection, type: str, subject: str | None, workflow: str, now: float
) -> list[EventRow]:
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM events"
        " WHERE type = ?1 AND subject IS ?2 AND instanceid IS NULL"
        " AND expires_at IS NOT NULL AND expires_at >= ?4"
        " AND NOT EXISTS (SELECT 1 FROM correlations AS c"
        " WHERE c.source = events.source AND c.id = events.id AND c.workflow = ?3)"
        " ORDER BY pos",
        (type, subject, workflow, now),
    )
    return [event_row(row) for row in rows]
