"""How `PostgresStore.write` writes a group of appends, events and purges in one transaction.

The same two paths as SQLite's (`_sqlite_write`), for the same reason and with the same
outcome. The *batched path* gathers the appends of distinct instances and writes each table's
rows for the whole batch with one statement over arrays (``INSERT ... SELECT FROM unnest(...)``,
``UPDATE ... FROM unnest(...)``): a handful of round trips per group, however many instances it
holds, instead of several per append. A continuing append's row is updated only where its
``last_seq`` is the one before the append's first record, and the rows updated must be as many
as the updates (an unknown instance, a gap or an overlap changes fewer); a new instance's
INSERT fails on the unique id. When PostgreSQL refuses any of it, the transaction is rolled
back and the group written again by the *one-by-one path*, each append in a savepoint, so that
a refused append gets its own error and its neighbours commit.

Both paths fence every append (`_postgres_owners`): a continuing append updates its instance's
row only where that row names the writing store as its owner (or no owner: a released
instance is then the writer's), and a new instance is created as the writer's. An append for
an instance another process owns is refused with `NotOwner` when that process's lease runs;
one whose owner is gone (it closed, or its lease ran out) takes the instance, as a claim does.

A message (an untargeted event a BPMN subscription takes, ``Append.correlated``) goes to one
instance per workflow even when two processes hand it to one of theirs at the same moment:
the second insert of its correlation waits for the first transaction, finds the row and
inserts nothing, and the append that wanted it is refused with `MessageTaken`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import psycopg
import psycopg.errors

from ._append_rules import append_problem, continuation_problem, taken_message
from ._interface import (
    TERMINAL,
    Append,
    DeleteInstances,
    DuplicateEvent,
    DuplicateEvents,
    EventBatch,
    EventRow,
    MessageTaken,
    NewInstance,
    NotOwner,
    PurgeEvents,
    SequenceConflict,
    StoreError,
    Summary,
    Write,
)
from ._postgres_events import (
    events_stored_already,
    insert_event,
    insert_events,
)
from ._postgres_owners import LIVE_OWNER
from ._postgres_prune import delete_instances, purge_events
from ._postgres_values import (
    VALUE_ERRORS,
    integer,
    optional_text,
    real,
    text,
)

LAST_SEQ = "SELECT last_seq FROM instances WHERE id = %s"
# The row, its owner and whether that owner's lease runs (NULL: no owner, or none registered).
_LOCK_ROW = (
    f"SELECT i.last_seq, i.owner, {LIVE_OWNER} FROM instances AS i"
    " LEFT JOIN owners AS o ON o.id = i.owner WHERE i.id = %s FOR UPDATE OF i"
)
_TAKE_ROW = "UPDATE instances SET owner = %s, epoch = epoch + 1 WHERE id = %s"
_SET_RUN = "UPDATE instances SET run = %s, run_seq = %s WHERE id = %s"
_INSTANCE_COLUMNS = (
    "id, workflow, status, input, output, error, waiting_on, created_at, updated_at, last_seq,"
    " owner, epoch"
)
# The fence: only the owner's append (or the first one after a release) moves the row on.
_OWNED = "(i.owner = %b::text OR i.owner IS NULL)"
_TAKE = "owner = %b::text, epoch = CASE WHEN i.owner IS NULL THEN i.epoch + 1 ELSE i.epoch END"
_UPDATE_INSTANCES = (
    "UPDATE instances AS i SET status = v.status, output = v.output, error = v.error,"
    f" waiting_on = v.waiting_on, updated_at = v.updated_at, last_seq = v.last_seq, {_TAKE}"
    " FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::float8[], %b::int8[],"
    " %b::text[], %b::int8[]) AS v(status, output, error, waiting_on, updated_at, last_seq,"
    f" id, prev) WHERE i.id = v.id AND i.last_seq = v.prev AND {_OWNED}"
)
_COPY_INSTANCES = f"COPY instances ({_INSTANCE_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_INSTANCE_TYPES = ["text"] * 7 + ["float8", "float8", "int8", "text", "int8"]
_COPY_RECORDS = (
    "COPY journal (instance_id, seq, kind, version, at, data) FROM STDIN (FORMAT BINARY)"
)
_RECORD_TYPES = ["text", "int8", "text", "int8", "float8", "text"]
_CLEAR_ALL_TIMERS = "DELETE FROM timers WHERE instance_id = ANY(%b::text[])"
_CLEAR_ALL_WAITS = "DELETE FROM waits WHERE instance_id = ANY(%b::text[])"
_CLEAR_TIMERS = (
    "DELETE FROM timers AS t USING unnest(%b::text[], %b::int8[]) AS v(instance_id, step)"
    " WHERE t.instance_id = v.instance_id AND t.step = v.step"
)
_CLEAR_WAITS = (
    "DELETE FROM waits AS w USING unnest(%b::text[], %b::int8[]) AS v(instance_id, step)"
    " WHERE w.instance_id = v.instance_id AND w.step = v.step"
)
_SET_TIMERS = (
    "INSERT INTO timers (instance_id, step, fire_at)"
    " SELECT * FROM unnest(%b::text[], %b::int8[], %b::float8[])"
    " ON CONFLICT (instance_id, step) DO UPDATE SET fire_at = excluded.fire_at"
)
# A wait re-stored (its instance resumed) keeps the place in line it opened with.
_SET_WAITS = (
    "INSERT INTO waits (instance_id, step, type, subject, message)"
    " SELECT * FROM unnest(%b::text[], %b::int8[], %b::text[], %b::text[], %b::text[])"
    " ON CONFLICT (instance_id, step) DO UPDATE SET type = excluded.type,"
    " subject = excluded.subject, message = excluded.message"
)
# A row is returned for each correlation stored now or stored already for the same instance:
# fewer rows than asked means another instance took one of the messages.
_CORRELATE = (
    "INSERT INTO correlations AS c (source, id, workflow, instance_id)"
    " SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[])"
    " ON CONFLICT (source, id, workflow) DO UPDATE SET instance_id = excluded.instance_id"
    " WHERE c.instance_id = excluded.instance_id RETURNING 1"
)
_CORRELATED_ELSEWHERE = (
    "SELECT 1 FROM correlations WHERE source = %s AND id = %s AND workflow = %s"
    " AND instance_id <> %s"
)


class _BatchRefused(Exception):
    """PostgreSQL refused part of a batch: write the group again one append at a time."""


class _MessageTaken(_BatchRefused):
    """Another instance of the workflow took a message of the batch (`MessageTaken`)."""


BATCH_REFUSED = (_BatchRefused, *VALUE_ERRORS)


def write_batched(
    cursor: psycopg.Cursor[Any], group: Sequence[Write], owner: str
) -> list[StoreError | None]:
    """Write `group` for `owner` by the batched path inside the open transaction; raise one of
    `BATCH_REFUSED` when PostgreSQL refuses part of it (then roll back and go one by one)."""
    results: list[StoreError | None] = [None] * len(group)
    batch = _Batch(owner)
    for index, item in enumerate(group):
        if isinstance(item, Append):
            if not batch.add(item):
                batch.write(cursor)
                if not batch.add(item):
                    results[index] = _apply(cursor, item, owner)
        elif isinstance(item, EventRow):
            results[index] = insert_event(cursor, item, owner)
        elif isinstance(item, EventBatch):
            results[index] = insert_events(cursor, item, owner)
        else:
            batch.write(cursor)  # what it deletes may be in the batch
            prune(cursor, item)
    batch.write(cursor)
    return results


def write_one_by_one(
    cursor: psycopg.Cursor[Any],
    group: Sequence[Write],
    owner: str,
    *,
    already_written: bool = False,
) -> list[StoreError | None]:
    """Write `group` for `owner` one append at a time inside the open transaction.

    With `already_written` (the previous attempt lost its connection, perhaps after its
    COMMIT was applied), an append whose records are stored already, identical, counts as
    written; so does an event stored already with the same content.
    """
    results: list[StoreError | None] = []
    for item in group:
        if isinstance(item, Append):
            refusal = _apply(cursor, item, owner)
            if refusal is not None and already_written and _stored_already(cursor, item):
                refusal = None
            results.append(refusal)
        elif isinstance(item, EventRow | EventBatch):
            refusal = insert_events(cursor, item, owner)
            if already_written and isinstance(refusal, DuplicateEvent | DuplicateEvents):
                refusal = events_stored_already(cursor, item, refusal)
            results.append(refusal)
        else:
            prune(cursor, item)
            results.append(None)
    return results


def prune(cursor: psycopg.Cursor[Any], item: PurgeEvents | DeleteInstances) -> None:
    if isinstance(item, DeleteInstances):
        delete_instances(cursor, item)
    else:
        purge_events(cursor, item)


@attrs.define(eq=False)
class _Batch:
    """Appends of distinct instances, as the rows each statement writes for them (checked
    for their types as they come in, so that COPY gets only what its columns take)."""

    _owner: str
    _ids: set[str] = attrs.Factory(set)
    _records: list[tuple[Any, ...]] = attrs.Factory(list)
    _new: list[tuple[Any, ...]] = attrs.Factory(list)
    _updates: list[tuple[Any, ...]] = attrs.Factory(list)
    _ended: list[str] = attrs.Factory(list)
    _waits_cleared: list[tuple[Any, ...]] = attrs.Factory(list)
    _waits_set: list[tuple[Any, ...]] = attrs.Factory(list)
    _timers_cleared: list[tuple[Any, ...]] = attrs.Factory(list)
    _timers_set: list[tuple[Any, ...]] = attrs.Factory(list)
    _runs: list[tuple[int, int, str]] = attrs.Factory(list)
    """``(run, run_seq, id)`` of instances whose append begins a new run."""
    _correlated: list[tuple[Any, ...]] = attrs.Factory(list)

    def add(self, append: Append) -> bool:
        """Take `append` in; False, and the batch unchanged, if it must be applied one by one
        (no records, a second append of an instance, seqs not consecutive from 1 for a new
        instance, a timer row of another instance)."""
        instance_id = append.instance_id
        records = append.records
        if not records or instance_id in self._ids:
            return False
        for timer in append.timers_set:
            if timer.instance_id != instance_id:
                return False
        new = append.new
        first = records[0].seq
        if new is not None and first != 1:
            return False
        expected = first
        for record in records:
            if record.seq != expected:
                return False
            expected += 1
        text(instance_id)
        rows = [
            (
                instance_id,
                record.seq,
                text(record.kind),
                integer(record.version),
                real(record.at),
                text(record.data),
            )
            for record in records
        ]
        last = records[-1].seq
        run = append.run
        if run is not None and not records[0].seq <= run.seq <= last:
            return False  # refused one by one
        summary = append.summary
        if new is None:
            update = (
                text(summary.status),
                optional_text(summary.output),
                optional_text(summary.error),
                optional_text(summary.waiting_on),
                real(summary.updated_at),
                last,
                instance_id,
                first - 1,
            )
            self._updates.append(update)
        else:
            self._new.append(new_instance_row(instance_id, new, summary, last, self._owner))
        self._records += rows
        if run is not None:
            self._runs.append((run.run, run.seq, instance_id))
        if summary.status in TERMINAL or run is not None:
            self._ended.append(instance_id)  # all its timer and wait rows go first
        if summary.status not in TERMINAL and (
            append.waits_set or append.waits_cleared or append.timers_set or append.timers_cleared
        ):
            self._add_waits_and_timers(append)
        if append.correlated:
            self._correlated += [(*taken, instance_id) for taken in append.correlated]
        self._ids.add(instance_id)
        return True

    def _add_waits_and_timers(self, append: Append) -> None:
        instance_id = append.instance_id
        self._waits_cleared += [(instance_id, step) for step in append.waits_cleared]
        # A step set twice in one append ends up as its last setting, as upserting the rows
        # one after the other does (one statement may not upsert a row twice).
        waits = {wait.step: wait for wait in append.waits_set}
        self._waits_set += [
            (instance_id, w.step, w.type, w.subject, w.message) for w in waits.values()
        ]
        self._timers_cleared += [(instance_id, step) for step in append.timers_cleared]
        timers = {timer.step: timer for timer in append.timers_set}
        self._timers_set += [(instance_id, t.step, real(t.fire_at)) for t in timers.values()]

    def write(self, cursor: psycopg.Cursor[Any]) -> None:
        """Write the batch and empty it; raise `_BatchRefused` if an update missed its row."""
        if not self._ids:
            return
        if self._updates:
            columns = _columns(self._updates, 8)
            cursor.execute(_UPDATE_INSTANCES, [self._owner, *columns, self._owner])
            if cursor.rowcount != len(self._updates):
                raise _BatchRefused
        if self._new:
            _copy(cursor, _COPY_INSTANCES, _INSTANCE_TYPES, self._new)
        _copy(cursor, _COPY_RECORDS, _RECORD_TYPES, self._records)
        if self._runs:
            cursor.executemany(_SET_RUN, self._runs)
            self._runs.clear()
        self.write_waits_and_timers(cursor)
        self._ids.clear()
        self._records.clear()
        self._new.clear()
        self._updates.clear()

    def write_waits_and_timers(self, cursor: psycopg.Cursor[Any]) -> None:
        if self._ended:
            cursor.execute(_CLEAR_ALL_TIMERS, (self._ended,))
            cursor.execute(_CLEAR_ALL_WAITS, (self._ended,))
        # Per instance the one-by-one order: waits cleared, waits set, timers cleared, timers set.
        for statement, rows, width in (
            (_CLEAR_WAITS, self._waits_cleared, 2),
            (_SET_WAITS, self._waits_set, 5),
            (_CLEAR_TIMERS, self._timers_cleared, 2),
            (_SET_TIMERS, self._timers_set, 3),
            (_CORRELATE, self._correlated, 4),
        ):
            if rows:
                cursor.execute(statement, _columns(rows, width))
                if statement is _CORRELATE and cursor.rowcount != len(rows):
                    raise _MessageTaken
                rows.clear()
        self._ended.clear()


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """`rows` as one list per column: the arrays a statement over ``unnest`` takes."""
    return [list(column) for column in zip(*rows, strict=True)] or [[] for _ in range(width)]


def _copy(
    cursor: psycopg.Cursor[Any], statement: str, types: list[str], rows: list[tuple[Any, ...]]
) -> None:
    """Rows into a table by binary COPY: the fastest way PostgreSQL takes many rows in."""
    with cursor.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _apply(cursor: psycopg.Cursor[Any], append: Append, owner: str) -> StoreError | None:
    """Write one append for `owner` inside the open transaction; return why it was refused,
    if it was."""
    instance_id = append.instance_id
    records = append.records
    if problem := append_problem(append):
        return problem
    try:
        with cursor.connection.transaction():
            row = cursor.execute(_LOCK_ROW, (instance_id,)).fetchone()
    except VALUE_ERRORS as exc:  # an id PostgreSQL cannot take (a NUL character)
        return _refused(instance_id, exc)
    last, holder, live = (None, None, None) if row is None else row
    taken = holder is not None and holder != owner
    if holder is not None and taken and live and append.new is None:
        return NotOwner(instance_id, holder)
    if problem := continuation_problem(append, last):
        return problem
    if problem := _message_taken(cursor, append):
        return problem
    if taken:
        # Its owner is gone (closed, or dead past its lease): the append takes it, as a
        # claim would. The runtime claims before it drives an instance; a store used on its
        # own (the CLI's resume) writes so.
        cursor.execute(_TAKE_ROW, (owner, instance_id))
    batch = _Batch(owner)
    try:
        with cursor.connection.transaction():
            if records:
                added = batch.add(append)
                assert added  # checked above: consecutive seqs continuing the journal
                batch.write(cursor)
            else:  # a summary-only update (suspending, say): a batch takes no such append
                _update_summary(cursor, append, owner)
    except VALUE_ERRORS as exc:
        return _refused(instance_id, exc)
    except _MessageTaken:  # by a transaction that committed since the check above
        return taken_message(append)
    except _BatchRefused:  # the row changed under us: cannot happen while it is locked
        return SequenceConflict(f"instance {instance_id!r}: its journal moved during the append")
    return None


def _message_taken(cursor: psycopg.Cursor[Any], append: Append) -> MessageTaken | None:
    """`MessageTaken` if another instance took a message `append` takes."""
    for source, id_, workflow in append.correlated:
        if cursor.execute(
            _CORRELATED_ELSEWHERE, (source, id_, workflow, append.instance_id)
        ).fetchone():
            return taken_message(append)
    return None


def _stored_already(cursor: psycopg.Cursor[Any], append: Append) -> bool:
    """Whether the records of `append` are in the journal already, identical."""
    records = append.records
    if not records:
        return False
    try:
        stored = cursor.execute(
            "SELECT seq, kind, version, at, data FROM journal WHERE instance_id = %s"
            " AND seq >= %s AND seq <= %s ORDER BY seq",
            (append.instance_id, records[0].seq, records[-1].seq),
        ).fetchall()
    except VALUE_ERRORS:
        return False
    return stored == [(r.seq, r.kind, r.version, r.at, r.data) for r in records]


def _update_summary(cursor: psycopg.Cursor[Any], append: Append, owner: str) -> None:
    summary = append.summary
    instance_id = append.instance_id
    cursor.execute(
        "UPDATE instances AS i SET status = %b, output = %b, error = %b, waiting_on = %b,"
        f" updated_at = %b, {_TAKE} WHERE id = %b",
        (
            text(summary.status),
            optional_text(summary.output),
            optional_text(summary.error),
            optional_text(summary.waiting_on),
            real(summary.updated_at),
            owner,
            instance_id,
        ),
    )
    if summary.status in TERMINAL:
        cursor.execute(_CLEAR_ALL_TIMERS, ([instance_id],))
        cursor.execute(_CLEAR_ALL_WAITS, ([instance_id],))
        return
    batch = _Batch(owner)
    batch._add_waits_and_timers(append)
    batch._correlated += [(*taken, instance_id) for taken in append.correlated]
    batch.write_waits_and_timers(cursor)


def _refused(instance_id: str, exc: BaseException) -> StoreError:
    error = StoreError(f"instance {instance_id!r}: the database refused the append: {exc}")
    error.__cause__ = exc
    return error


def new_instance_row(
    instance_id: str, new: NewInstance, summary: Summary, last_seq: int, owner: str
) -> tuple[Any, ...]:
    """The `instances` row of a new instance, in `_INSTANCE_COLUMNS` order."""
    return (
        instance_id,
        text(new.workflow),
        text(summary.status),
        text(new.input),
        optional_text(summary.output),
        optional_text(summary.error),
        optional_text(summary.waiting_on),
        real(new.created_at),
        real(summary.updated_at),
        last_seq,
        owner,
        1,
    )
