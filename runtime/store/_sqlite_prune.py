"""Retention in SQLite: finding finished instances and expired events, deleting them, and
giving the space they held back to the file system.

Deleting goes through `SqliteStore.write` like every other change, in the journal writer's
group commits, a batch at a time: a `DeleteInstances` of a few hundred instances is a few
thousand row deletes by primary key, a few milliseconds beside the appends it shares its
transaction with.

Space. A file made by this version has ``auto_vacuum = INCREMENTAL`` (set before its first
table exists; see `_sqlite._migrate`): pages freed by deletes go to SQLite's freelist, new
rows reuse them first, and after each group that deleted something `give_back_space` hands
the free pages past a reserve (an eighth of the file) back to the file system, at most
`VACUUM_PAGES` per transaction so that no commit is held long. A file made before has
``auto_vacuum = NONE``: freed pages are reused but the file never shrinks until a one-time
``VACUUM`` converts it (``trioflow prune --vacuum``, with no server on the file).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import apsw

from ._interface import TERMINAL, DeleteInstances, PurgeEvents

FINISHED_INDEX = (
    "CREATE INDEX instances_finished ON instances (updated_at, id)"
    " WHERE status IN ('completed', 'failed', 'cancelled')"
)
"""Migration 5: what retention deletes next, oldest first, without reading the others."""
_FINISHED = "status IN ('completed', 'failed', 'cancelled')"  # the index's own condition
assert all(f"'{status}'" in _FINISHED for status in TERMINAL)

VACUUM_PAGES = 4096
"""Pages given back to the file system per transaction at most (16 MiB of 4 KiB pages)."""
_SPARE_PAGES = 1024
"""Free pages always kept for new rows (besides an eighth of the file)."""
_INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL


def finished_query(
    columns: str,
    before: float,
    limit: int,
    workflow: str | None,
    exclude: Collection[str],
    after: tuple[float, str] | None,
) -> tuple[str, list[Any]]:
    """The SELECT of `SqliteStore.finished` and its bindings."""
    where = [_FINISHED, "updated_at < ?"]
    bindings: list[Any] = [before]
    if after is not None:
        where.append("(updated_at, id) > (?, ?)")
        bindings += after
    if workflow is not None:
        where.append("workflow = ?")
        bindings.append(workflow)
    if exclude:
        where.append(f"workflow NOT IN ({', '.join('?' * len(exclude))})")
        bindings += sorted(exclude)
    bindings.append(limit)
    sql = (
        f"SELECT {columns} FROM instances INDEXED BY instances_finished"
        f" WHERE {' AND '.join(where)} ORDER BY updated_at, id LIMIT ?"
    )
    return sql, bindings


def count_expired_events(
    conn: apsw.Connection, before: float, buffered_at: float, limit: int
) -> int:
    count: int = conn.execute(
        f"SELECT count(*) FROM ({_EXPIRED_EVENTS} LIMIT ?)", (before, buffered_at, limit)
    ).get
    return count


_EXPIRED_EVENTS = (
    "SELECT pos FROM events WHERE received_at < ?"
    " AND (expires_at IS NULL OR expires_at < ?) ORDER BY received_at, pos"
)


def purge_events(cursor: apsw.Cursor, purge: PurgeEvents) -> bool:
    """Delete the events `purge` names, and the correlations of the events gone; whether
    any went."""
    buffered_at = float("-inf") if purge.buffered_at is None else purge.buffered_at
    limit = -1 if purge.limit is None else purge.limit  # SQLite: a negative LIMIT is none
    cursor.execute(
        f"DELETE FROM events WHERE pos IN ({_EXPIRED_EVENTS} LIMIT ?) RETURNING source, id",
        (purge.before, buffered_at, limit),
    )
    gone = cursor.fetchall()
    if gone:
        cursor.executemany("DELETE FROM correlations WHERE source = ? AND id = ?", gone)
    return bool(gone)


def delete_instances(cursor: apsw.Cursor, delete: DeleteInstances) -> bool:
    """Delete the finished instances `delete` names with their rows; whether any went.

    The ids travel as one JSON array (``json_each``): four statements for a batch of
    hundreds, rather than one per id and table, each a call from Python holding the GIL.
    """
    cursor.execute(
        f"DELETE FROM instances WHERE id IN (SELECT value FROM json_each(?)) AND {_FINISHED}"
        " AND updated_at < ? RETURNING id",
        (json.dumps(delete.ids), delete.finished_before),
    )
    deleted = [instance_id for (instance_id,) in cursor.fetchall()]
    if not deleted:
        return False
    ids = json.dumps(deleted)
    for table in ("journal", "timers", "waits"):
        cursor.execute(
            f"DELETE FROM {table} WHERE instance_id IN (SELECT value FROM json_each(?))", (ids,)
        )
    return True


def give_back_space(cursor: apsw.Cursor) -> None:
    """Return the free pages past the reserve to the file system (incremental files only)."""
    conn = cursor.connection
    if conn.pragma("auto_vacuum") != _INCREMENTAL:
        return
    free: int = conn.pragma("freelist_count")
    spare = _SPARE_PAGES + conn.pragma("page_count") // 8
    if free > spare:
        cursor.execute(f"PRAGMA incremental_vacuum({min(free - spare, VACUUM_PAGES)})")
        for _ in cursor:  # the pragma frees one page per step
            pass
