"""Events in PostgreSQL: the statements `PostgresStore.write` runs for them."""

from __future__ import annotations

from typing import Any

import psycopg

from ._interface import (
    DuplicateEvent,
    DuplicateEvents,
    EventBatch,
    EventRow,
    StoreError,
)
from ._postgres_values import VALUE_ERRORS, optional_real, real

INSERT_EVENT = (
    "INSERT INTO events (source, id, type, subject, instanceid, event, received_at, expires_at,"
    " stored_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (source, id) DO NOTHING"
)


def insert_event(cursor: psycopg.Cursor[Any], row: EventRow, owner: str) -> StoreError | None:
    """Store one event unless its ``(source, id)`` is stored already, as stored by `owner`
    (whose routing poll leaves it to the delivery that follows the store)."""
    cursor.execute(
        INSERT_EVENT,
        (
            row.source,
            row.id,
            row.type,
            row.subject,
            row.instanceid,
            row.event,
            real(row.received_at),
            optional_real(row.expires_at),
            owner,
        ),
    )
    if cursor.rowcount == 0:
        return DuplicateEvent(f"event {row.id!r} from {row.source!r} was received already")
    return None


def insert_events(
    cursor: psycopg.Cursor[Any], item: EventRow | EventBatch, owner: str
) -> StoreError | None:
    """Store one event, or every event of a batch, or none of them (a savepoint)."""
    try:
        with cursor.connection.transaction():
            if isinstance(item, EventRow):
                return insert_event(cursor, item, owner)
            duplicates = tuple(
                index for index, row in enumerate(item.events) if insert_event(cursor, row, owner)
            )
            return DuplicateEvents(duplicates) if duplicates else None
    except VALUE_ERRORS as exc:
        error = StoreError(f"the event was refused: {exc!r}")
        error.__cause__ = exc
        return error


def events_stored_already(
    cursor: psycopg.Cursor[Any],
    item: EventRow | EventBatch,
    refusal: DuplicateEvent | DuplicateEvents,
) -> StoreError | None:
    """`refusal` less the events stored already with the same content (by a commit whose
    answer was lost)."""
    rows = [item] if isinstance(item, EventRow) else list(item.events)
    indexes = (0,) if isinstance(refusal, DuplicateEvent) else refusal.indexes
    redelivered = tuple(
        index
        for index in indexes
        if cursor.execute(
            "SELECT event FROM events WHERE source = %s AND id = %s",
            (rows[index].source, rows[index].id),
        ).fetchone()
        != (rows[index].event,)
    )
    if not redelivered:
        return None
    return refusal if isinstance(refusal, DuplicateEvent) else DuplicateEvents(redelivered)
