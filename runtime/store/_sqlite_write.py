"""How `SqliteStore.write` writes a group of appends, events and purges in one transaction.

Writing a group. `write` runs in a worker thread but holds the GIL for every line of Python and
every call into apsw, time taken from the Trio thread, so it first tries the *batched path*: the
appends are gathered in a `_Batch` and written with multi-row statements (`INSERT ... VALUES
(...), (...)`, `UPDATE ... FROM (VALUES ...)`, at most 64 rows each), a handful of statements
for the whole group instead of six to eight per append. Each check of the one-by-one path has a
batched counterpart: seqs are checked in Python; a continuing append's row is updated only
`WHERE id = ? AND last_seq = <its first seq - 1>`, and the number of rows changed must equal the
number of updates (which catches an unknown instance and a gap or overlap alike); a new
instance's INSERT fails on the UNIQUE id. A second append of an instance the batch holds
already waits for that batch to be written and starts the next one. An append the batched
statements cannot express (no records, seqs out of order, a new instance not starting at seq 1,
a timer row of another instance, the start of a new run) is applied one by one in its place,
after the batch gathered before it is written. Events touch no table an append touches, so
they are written in their place without waiting for the batch; a purge or a delete
(`_sqlite_prune`) writes the batch first, since what it deletes may be in it.

The fallback. If the database refuses any part of a batch (a constraint, a count that does not
match, a value apsw cannot bind), the whole transaction is rolled back and the group is written
again by the *one-by-one path*: each append checks its instance row, then writes its records,
summary and timers inside a SAVEPOINT, so a refused append leaves no trace, gets its own error,
and its neighbours commit. The outcome of a group is thus always the one-by-one path's; the
batched path is only a faster way to reach it when nothing is refused. Its statements say
`OR ROLLBACK`, so SQLite keeps no statement journal for them (which would copy every page they
change) and a refused one ends the transaction at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apsw
import attrs

from ._append_rules import append_problem, continuation_problem, taken_message
from ._interface import (
    TERMINAL,
    Append,
    DeleteInstances,
    EventBatch,
    EventRow,
    NewInstance,
    PurgeEvents,
    StoreError,
    Summary,
    Write,
)
from ._sqlite_events import (
    CLEAR_WAIT,
    CLEAR_WAITS,
    CORRELATE,
    SET_WAIT,
    VALUE_ERRORS,
    insert_event,
    insert_events,
)
from ._sqlite_prune import delete_instances, give_back_space, purge_events

LAST_SEQ = "SELECT last_seq FROM instances WHERE id = ?"
_INSERT_RECORD = (
    "INSERT INTO journal (instance_id, seq, kind, version, at, data) VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_INSTANCE = (
    "INSERT INTO instances (id, workflow, status, input, output, error, waiting_on,"
    " created_at, updated_at, last_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_INSTANCE = (
    "UPDATE instances SET status = ?, output = ?, error = ?, waiting_on = ?, updated_at = ?,"
    " last_seq = ? WHERE id = ?"
)
_SET_TIMER = (
    "INSERT INTO timers (instance_id, step, fire_at) VALUES (?, ?, ?)"
    " ON CONFLICT (instance_id, step) DO UPDATE SET fire_at = excluded.fire_at"
)
_CLEAR_TIMER = "DELETE FROM timers WHERE instance_id = ? AND step = ?"
_CLEAR_TIMERS = "DELETE FROM timers WHERE instance_id = ?"
_SET_RUN = "UPDATE instances SET run = ?, run_seq = ? WHERE id = ?"

_BULK_ROWS = (64, 32, 16, 8, 4, 2, 1)
"""Rows per multi-row statement. A batch is cut into these sizes, so there are few statement
texts, each prepared once and then found in apsw's statement cache (100 statements)."""


def _bulk_statements(head: str, row: str, tail: str = "") -> dict[int, str]:
    """For each size in `_BULK_ROWS`: `head`, that many `row`s separated by commas, `tail`."""
    return {rows: head + ",".join([row] * rows) + tail for rows in _BULK_ROWS}


_BULK_RECORDS = _bulk_statements(
    "INSERT OR ROLLBACK INTO journal (instance_id, seq, kind, version, at, data) VALUES ",
    "(?,?,?,?,?,?)",
)
_BULK_NEW_INSTANCES = _bulk_statements(
    "INSERT OR ROLLBACK INTO instances (id, workflow, status, input, output, error, waiting_on,"
    " created_at, updated_at, last_seq) VALUES ",
    "(?,?,?,?,?,?,?,?,?,?)",
)
_BULK_UPDATE_INSTANCES = _bulk_statements(
    "UPDATE OR ROLLBACK instances SET status = v.column1, output = v.column2, error = v.column3,"
    " waiting_on = v.column4, updated_at = v.column5, last_seq = v.column6 FROM (VALUES ",
    "(?,?,?,?,?,?,?,?)",
    ") AS v WHERE instances.id = v.column7 AND instances.last_seq = v.column8",
)
_BULK_CLEAR_TIMERS = _bulk_statements("DELETE FROM timers WHERE instance_id IN (", "?", ")")
_BULK_CLEAR_WAITS = _bulk_statements("DELETE FROM waits WHERE instance_id IN (", "?", ")")


class _BatchRefused(Exception):
    """The database refused part of a batch: write the group again one append at a time."""


_BATCH_REFUSED = (_BatchRefused, *VALUE_ERRORS)


def write_batched(cursor: apsw.Cursor, group: Sequence[Write]) -> list[StoreError | None] | None:
    """Write `group` by the batched path (see the module docstring).

    Returns None if the database refused part of a batch: the transaction must then be rolled
    back (unless it ended already) and the group written one by one.
    """
    results: list[StoreError | None] = [None] * len(group)
    batch = _Batch()
    pruned = False
    try:
        for index, item in enumerate(group):
            if isinstance(item, Append):
                # A batch refuses a second append of an instance (write the batch, then take
                # the append into the emptied one) and one it cannot express (write the batch,
                # then apply the append one by one).
                if not batch.add(item):
                    batch.write(cursor)
                    if not batch.add(item):
                        results[index] = _apply(cursor, item)
            elif isinstance(item, EventRow):
                results[index] = insert_event(cursor, item)
            elif isinstance(item, EventBatch):
                results[index] = insert_events(cursor, item)
            else:
                batch.write(cursor)  # what it deletes may be in the batch
                pruned = _prune(cursor, item) or pruned
        batch.write(cursor)
    except _BATCH_REFUSED:
        return None
    if pruned:
        give_back_space(cursor)
    return results


def write_one_by_one(cursor: apsw.Cursor, group: Sequence[Write]) -> list[StoreError | None]:
    results: list[StoreError | None] = []
    pruned = False
    for item in group:
        if isinstance(item, Append):
            results.append(_apply(cursor, item))
        elif isinstance(item, EventRow | EventBatch):
            results.append(insert_events(cursor, item))
        else:
            pruned = _prune(cursor, item) or pruned
            results.append(None)
    if pruned:
        give_back_space(cursor)
    return results


def _prune(cursor: apsw.Cursor, item: PurgeEvents | DeleteInstances) -> bool:
    """Apply a purge or a delete; whether it may have freed pages."""
    if isinstance(item, DeleteInstances):
        return delete_instances(cursor, item)
    return purge_events(cursor, item)


@attrs.define(eq=False)
class _Batch:
    """Appends of distinct instances, as the rows the batched statements write for them.

    The rows of the multi-row statements are kept flat (one list of values per statement),
    which is what their bindings take.
    """

    _ids: set[str] = attrs.Factory(set)
    _records: list[Any] = attrs.Factory(list)
    _new_instances: list[Any] = attrs.Factory(list)
    _updates: list[Any] = attrs.Factory(list)
    _ended: list[str] = attrs.Factory(list)
    """Instances whose summary is TERMINAL: all their timers and waits go."""
    _waits_cleared: list[tuple[str, int]] = attrs.Factory(list)
    _waits_set: list[tuple[str, int, str, str | None, str | None]] = attrs.Factory(list)
    _correlated: list[tuple[str, str, str, str]] = attrs.Factory(list)
    _timers_cleared: list[tuple[str, int]] = attrs.Factory(list)
    _timers_set: list[tuple[str, int, float]] = attrs.Factory(list)

    def add(self, append: Append) -> bool:
        """Take `append` in; False, and the batch unchanged, if it must be applied one by one.

        Only what needs no database is checked here: a batch holds one append per instance,
        a new instance starts at seq 1, seqs are consecutive, timer rows are the instance's.
        """
        instance_id = append.instance_id
        records = append.records
        if not records or instance_id in self._ids or append.run is not None:
            return False
        for timer in append.timers_set:
            if timer.instance_id != instance_id:
                return False
        new = append.new
        first = records[0].seq
        if new is not None and first != 1:
            return False
        journal = self._records
        mark = len(journal)
        expected = first
        for record in records:
            seq = record.seq
            if seq != expected:
                del journal[mark:]
                return False
            journal += (instance_id, seq, record.kind, record.version, record.at, record.data)
            expected += 1
        last = records[-1].seq
        summary = append.summary
        if new is None:
            self._updates += (
                summary.status,
                summary.output,
                summary.error,
                summary.waiting_on,
                summary.updated_at,
                last,
                instance_id,
                first - 1,
            )
        else:
            self._new_instances += _new_instance_row(instance_id, new, summary, last)
        if summary.status in TERMINAL:
            self._ended.append(instance_id)
        else:
            self._add_waits_and_timers(append)
        self._correlated += [(*taken, instance_id) for taken in append.correlated]
        self._ids.add(instance_id)
        return True

    def _add_waits_and_timers(self, append: Append) -> None:
        instance_id = append.instance_id
        if append.waits_cleared:
            self._waits_cleared += [(instance_id, step) for step in append.waits_cleared]
        if append.waits_set:
            self._waits_set += [
                (instance_id, w.step, w.type, w.subject, w.message) for w in append.waits_set
            ]
        if append.timers_cleared:
            self._timers_cleared += [(instance_id, step) for step in append.timers_cleared]
        if append.timers_set:
            self._timers_set += [(instance_id, t.step, t.fire_at) for t in append.timers_set]

    def write(self, cursor: apsw.Cursor) -> None:
        """Write the batch and empty it; raise `_BatchRefused` if any of it is refused."""
        if not self._ids:
            return
        if self._updates:
            _write_bulk(cursor, _BULK_UPDATE_INSTANCES, 8, self._updates, check_changes=True)
        if self._new_instances:
            _write_bulk(cursor, _BULK_NEW_INSTANCES, 10, self._new_instances)
        _write_bulk(cursor, _BULK_RECORDS, 6, self._records)
        if self._ended:
            _write_bulk(cursor, _BULK_CLEAR_TIMERS, 1, self._ended)
            _write_bulk(cursor, _BULK_CLEAR_WAITS, 1, self._ended)
        # Per instance the one-by-one order: waits cleared, waits set, timers cleared, timers set.
        if self._waits_cleared:
            cursor.executemany(CLEAR_WAIT, self._waits_cleared)
        if self._waits_set:
            cursor.executemany(SET_WAIT, self._waits_set)
        if self._timers_cleared:
            cursor.executemany(_CLEAR_TIMER, self._timers_cleared)
        if self._timers_set:
            cursor.executemany(_SET_TIMER, self._timers_set)
        if self._correlated:
            takers: dict[tuple[str, str, str], str] = {}
            for source, id_, workflow, instance_id in self._correlated:
                key = (source, id_, workflow)
                if takers.setdefault(key, instance_id) != instance_id or _taken_by_another(
                    cursor, *key, instance_id
                ):
                    raise _BatchRefused  # the one-by-one path says which: `MessageTaken`
            cursor.executemany(CORRELATE, self._correlated)
        for rows in (
            self._ids,
            self._records,
            self._new_instances,
            self._updates,
            self._ended,
            self._waits_cleared,
            self._waits_set,
            self._timers_cleared,
            self._timers_set,
            self._correlated,
        ):
            rows.clear()


def _write_bulk(
    cursor: apsw.Cursor,
    statements: dict[int, str],
    width: int,
    values: list[Any],
    *,
    check_changes: bool = False,
) -> None:
    """Run `statements` (from `_bulk_statements`) over `values`, `width` values a row.

    With `check_changes`, each row must change exactly one row of the table, else
    `_BatchRefused`.
    """
    conn = cursor.connection
    left = len(values) // width
    start = 0
    for rows in _BULK_ROWS:
        while left >= rows:
            end = start + rows * width
            cursor.execute(statements[rows], values[start:end])
            if check_changes and conn.changes() != rows:
                raise _BatchRefused
            start = end
            left -= rows


def _apply(cursor: apsw.Cursor, append: Append) -> StoreError | None:
    """Write one append inside the open transaction; return why it was refused, if it was."""
    instance_id = append.instance_id
    records = append.records
    if problem := append_problem(append):
        return problem
    last: int | None = cursor.execute(LAST_SEQ, (instance_id,)).get
    if problem := continuation_problem(append, last):
        return problem
    if any(_taken_by_another(cursor, *taken, instance_id) for taken in append.correlated):
        return taken_message(append)
    run = append.run

    summary = append.summary
    cursor.execute("SAVEPOINT append")
    try:
        cursor.executemany(
            _INSERT_RECORD,
            [(instance_id, r.seq, r.kind, r.version, r.at, r.data) for r in records],
        )
        if append.new is not None:
            new = append.new
            cursor.execute(
                _INSERT_INSTANCE, _new_instance_row(instance_id, new, summary, records[-1].seq)
            )
        else:
            cursor.execute(
                _UPDATE_INSTANCE,
                (
                    summary.status,
                    summary.output,
                    summary.error,
                    summary.waiting_on,
                    summary.updated_at,
                    records[-1].seq if records else last or 0,
                    instance_id,
                ),
            )
        if run is not None:
            cursor.execute(_SET_RUN, (run.run, run.seq, instance_id))
        if summary.status in TERMINAL or run is not None:
            cursor.execute(_CLEAR_TIMERS, (instance_id,))
            cursor.execute(CLEAR_WAITS, (instance_id,))
        if summary.status not in TERMINAL:
            if append.waits_cleared:
                cursor.executemany(CLEAR_WAIT, [(instance_id, s) for s in append.waits_cleared])
            if append.waits_set:
                cursor.executemany(
                    SET_WAIT,
                    [(instance_id, w.step, w.type, w.subject, w.message) for w in append.waits_set],
                )
            if append.timers_cleared:
                cursor.executemany(_CLEAR_TIMER, [(instance_id, s) for s in append.timers_cleared])
            if append.timers_set:
                cursor.executemany(
                    _SET_TIMER, [(instance_id, t.step, t.fire_at) for t in append.timers_set]
                )
        if append.correlated:
            cursor.executemany(CORRELATE, [(*taken, instance_id) for taken in append.correlated])
        cursor.execute("RELEASE append")
    except VALUE_ERRORS as exc:
        cursor.execute("ROLLBACK TO append")
        cursor.execute("RELEASE append")
        error = StoreError(f"instance {instance_id!r}: the database refused the append: {exc}")
        error.__cause__ = exc
        return error
    return None


def _taken_by_another(
    cursor: apsw.Cursor, source: str, id_: str, workflow: str, instance_id: str
) -> bool:
    """Whether another instance of `workflow` took the event `(source, id_)` as a message."""
    return (
        cursor.execute(
            "SELECT 1 FROM correlations WHERE source = ? AND id = ? AND workflow = ?"
            " AND instance_id <> ?",
            (source, id_, workflow, instance_id),
        ).fetchone()
        is not None
    )


def _new_instance_row(
    instance_id: str, new: NewInstance, summary: Summary, last_seq: int
) -> tuple[Any, ...]:
    """The `instances` row of a new instance, in `_INSERT_INSTANCE`'s column order."""
    return (
        instance_id,
        new.workflow,
        summary.status,
        new.input,
        summary.output,
        summary.error,
        summary.waiting_on,
        new.created_at,
        summary.updated_at,
        last_seq,
    )
