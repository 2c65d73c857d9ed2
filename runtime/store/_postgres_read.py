"""The queries of `PostgresStore` about events and event waits, and the filters of its lists."""

from __future__ import annotations

from typing import Any

import psycopg

from ._interface import EventRow, WaitRow
from ._paging import after_prefix
from ._postgres_owners import LIVE_OWNER
from ._rows import event_row, wait_row

_WAIT_COLUMNS = "instance_id, step, type, subject, message, opened"
_EVENT_COLUMNS = "source, id, type, subject, instanceid, event, received_at, expires_at"
# Each wait with the live process that drives its instance (`WaitRow.owner`), in the same
# statement: the event router needs both, for every event it delivers.
_WAITS_WITH_OWNER = "w.instance_id, w.step, w.type, w.subject, w.message, w.opened, o.id"
_OWNER_JOIN = (
    "LEFT JOIN instances AS i ON i.id = w.instance_id"
    f" LEFT JOIN owners AS o ON o.id = i.owner AND {LIVE_OWNER}"
)


def waits_for(conn: psycopg.Connection[Any], type: str, subject: str | None) -> list[WaitRow]:
    rows = conn.execute(
        f"SELECT {_WAITS_WITH_OWNER} FROM ("
        f" SELECT {_WAIT_COLUMNS} FROM waits WHERE type = %(type)s AND subject = %(subject)s"
        " UNION ALL"
        f" SELECT {_WAIT_COLUMNS} FROM waits WHERE type = %(type)s AND subject IS NULL"
        f") AS w {_OWNER_JOIN} ORDER BY w.instance_id, w.step",
        {"type": type, "subject": subject},
    )
    return [wait_row(row[:6], owner=row[6]) for row in rows]


def waits_of(conn: psycopg.Connection[Any], instance_id: str) -> list[WaitRow]:
    rows = conn.execute(
        f"SELECT {_WAITS_WITH_OWNER} FROM waits AS w {_OWNER_JOIN}"
        " WHERE w.instance_id = %s ORDER BY w.step",
        (instance_id,),
    )
    return [wait_row(row[:6], owner=row[6]) for row in rows]


def events_for(
    conn: psycopg.Connection[Any], type: str, subject: str | None, instance_id: str, since: float
) -> list[EventRow]:
    by_subject = "" if subject is None else "subject = %(subject)s AND "
    rows = conn.execute(
        f"SELECT pos, {_EVENT_COLUMNS} FROM events"
        " WHERE type = %(type)s AND instanceid = %(instance)s AND received_at >= %(since)s"
        " UNION ALL"
        f" SELECT pos, {_EVENT_COLUMNS} FROM events WHERE type = %(type)s AND {by_subject}"
        " instanceid IS NULL AND received_at >= %(since)s ORDER BY pos",
        {"type": type, "subject": subject, "instance": instance_id, "since": since},
    )
    return [event_row(row[1:]) for row in rows]


def messages_for(
    conn: psycopg.Connection[Any], type: str, subject: str | None, workflow: str, now: float
) -> list[EventRow]:
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM events"
        " WHERE type = %(type)s AND subject IS NOT DISTINCT FROM %(subject)s"
        " AND instanceid IS NULL AND expires_at IS NOT NULL AND expires_at >= %(now)s"
        " AND NOT EXISTS (SELECT 1 FROM correlations AS c WHERE c.source = events.source"
        " AND c.id = events.id AND c.workflow = %(workflow)s) ORDER BY pos",
        {"type": type, "subject": subject, "workflow": workflow, "now": now},
    )
    return [event_row(row) for row in rows]


def filters(
    status: str | None, workflow: str | None, id_prefix: str | None
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    bindings: list[Any] = []
    if status is not None:
        where.append("status = %s")
        bindings.append(status)
    if workflow is not None:
        where.append("workflow = %s")
        bindings.append(workflow)
    if id_prefix:
        upper = after_prefix(id_prefix)
        if upper is not None:
            where.append("id >= %s AND id < %s")
            bindings += [id_prefix, upper]
        where.append("left(id, %s) = %s")
        bindings += [len(id_prefix), id_prefix]
    return where, bindings
