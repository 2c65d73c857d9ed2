"""Retention in PostgreSQL: the statements `PostgresStore` runs to find and delete finished
instances and expired events (the SQLite twin is `_sqlite_prune`; PostgreSQL's autovacuum
takes care of the space)."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import psycopg

from ._interface import DeleteInstances, PurgeEvents

FINISHED_INDEX = (
    "CREATE INDEX instances_finished ON instances (updated_at, id)"
    " WHERE status IN ('completed', 'failed', 'cancelled')"
)
"""Migration 3: what retention deletes next, oldest first, without reading the others."""
_FINISHED = "status IN ('completed', 'failed', 'cancelled')"  # the index's own condition
_EXPIRED_EVENTS = (
    "SELECT pos FROM events WHERE received_at < %s"
    " AND (expires_at IS NULL OR expires_at < %s) ORDER BY received_at, pos"
)


def finished_query(
    columns: str,
    before: float,
    limit: int,
    workflow: str | None,
    exclude: Collection[str],
    after: tuple[float, str] | None,
) -> tuple[str, list[Any]]:
    """The SELECT of `PostgresStore.finished` and its bindings."""
    where = [_FINISHED, "updated_at < %s"]
    bindings: list[Any] = [before]
    if after is not None:
        where.append("(updated_at, id) > (%s, %s)")
        bindings += after
    if workflow is not None:
        where.append("workflow = %s")
        bindings.append(workflow)
    if exclude:
        where.append("workflow <> ALL(%s)")
        bindings.append(sorted(exclude))
    bindings.append(limit)
    sql = (
        f"SELECT {columns} FROM instances WHERE {' AND '.join(where)}"
        " ORDER BY updated_at, id LIMIT %s"
    )
    return sql, bindings


def count_expired_events(
    conn: psycopg.Connection[Any], before: float, buffered_at: float, limit: int
) -> int:
    row = conn.execute(
        f"SELECT count(*) FROM ({_EXPIRED_EVENTS} LIMIT %s) AS expired",
        (before, buffered_at, limit),
    ).fetchone()
    return 0 if row is None else int(row[0])


def purge_events(cursor: psycopg.Cursor[Any], purge: PurgeEvents) -> None:
    """Delete the events `purge` names, and the correlations of the events gone."""
    if math.isnan(purge.before):
        return  # nothing was received before NaN
    buffered_at = -math.inf if purge.buffered_at is None else purge.buffered_at
    gone = cursor.execute(
        f"DELETE FROM events WHERE pos IN ({_EXPIRED_EVENTS} LIMIT %s) RETURNING source, id",
        (purge.before, buffered_at, purge.limit),
    ).fetchall()
    if gone:
        cursor.execute(
            "DELETE FROM correlations AS c USING unnest(%s::text[], %s::text[]) AS g(source, id)"
            " WHERE c.source = g.source AND c.id = g.id",
            ([source for source, _ in gone], [id_ for _, id_ in gone]),
        )


def delete_instances(cursor: psycopg.Cursor[Any], delete: DeleteInstances) -> None:
    """Delete the finished instances `delete` names with their journal, timers and waits."""
    deleted = [
        instance_id
        for (instance_id,) in cursor.execute(
            f"DELETE FROM instances WHERE id = ANY(%s) AND {_FINISHED} AND updated_at < %s"
            " RETURNING id",
            (list(delete.ids), delete.finished_before),
        ).fetchall()
    ]
    if deleted:
        for table in ("journal", "timers", "waits"):
            cursor.execute(f"DELETE FROM {table} WHERE instance_id = ANY(%s)", (deleted,))
