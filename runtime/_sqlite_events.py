"""Events and event waits in SQLite: the statements `SqliteStore` runs for them."""

from __future__ import annotations

import apsw

from ._store import DuplicateEvent, EventRow, PurgeEvents, StoreError, WaitRow

SET_WAIT = (
    "INSERT INTO waits (instance_id, step, type, subject) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (instance_id, step) DO UPDATE SET type = excluded.type,"
    " subject = excluded.subject"
)
CLEAR_WAIT = "DELETE FROM waits WHERE instance_id = ? AND step = ?"
CLEAR_WAITS = "DELETE FROM waits WHERE instance_id = ?"
_EVENT_COLUMNS = "source, id, type, subject, instanceid, event, received_at"


def insert_event(cursor: apsw.Cursor, row: EventRow) -> StoreError | None:
    """Store one event unless its ``(source, id)`` is stored already."""
    cursor.execute(
        f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (source, id) DO NOTHING",
        (
            row.source,
            row.id,
            row.type,
            row.subject,
            row.instanceid,
            row.event,
            row.received_at,
        ),
    )
    if cursor.connection.changes() == 0:
        return DuplicateEvent(f"event {row.id!r} from {row.source!r} was received already")
    return None


def purge_events(cursor: apsw.Cursor, purge: PurgeEvents) -> None:
    cursor.execute("DELETE FROM events WHERE received_at < ?", (purge.before,))


def waits_for(conn: apsw.Connection, type: str, subject: str | None) -> list[WaitRow]:
    rows = conn.execute(
        "SELECT instance_id, step, type, subject FROM waits"
        " WHERE type = ? AND (subject IS NULL OR subject = ?) ORDER BY instance_id, step",
        (type, subject),
    )
    return [WaitRow(instance_id=i, step=s, type=t, subject=subj) for i, s, t, subj in rows]


def waits_of(conn: apsw.Connection, instance_id: str) -> list[WaitRow]:
    rows = conn.execute(
        "SELECT instance_id, step, type, subject FROM waits WHERE instance_id = ? ORDER BY step",
        (instance_id,),
    )
    return [WaitRow(instance_id=i, step=s, type=t, subject=subj) for i, s, t, subj in rows]


def events_for(
    conn: apsw.Connection, type: str, subject: str | None, instance_id: str, since: float
) -> list[EventRow]:
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE type = ? AND received_at >= ?"
        " AND (instanceid = ? OR (instanceid IS NULL AND (? IS NULL OR subject = ?)))"
        " ORDER BY pos",
        (type, since, instance_id, subject, subject),
    )
    return [
        EventRow(
            source=source,
            id=id_,
            type=type_,
            subject=subj,
            instanceid=target,
            event=event,
            received_at=received_at,
        )
        for source, id_, type_, subj, target, event, received_at in rows
    ]
