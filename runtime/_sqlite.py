"""`SqliteStore`: the embedded `Store`, one SQLite file opened with apsw.

Theory of operation. The file runs in WAL mode, so readers never wait for the writer and the
writer never waits for readers. The store holds two connections: the *writer* is used only by
`write`, which the journal writer calls from a worker thread (a different one each time is
fine: apsw connections may move between threads, they just must not be used by two at once);
the *reader* serves every query from the Trio thread. A `write` is one `BEGIN IMMEDIATE ...
COMMIT`.

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
a timer row of another instance) is applied one by one in its place, after the batch gathered
before it is written. Events and purges touch tables no append touches, so they are written in
their place without waiting for the batch.

The fallback. If the database refuses any part of a batch (a constraint, a count that does not
match, a value apsw cannot bind), the whole transaction is rolled back and the group is written
again by the *one-by-one path*: each append checks its instance row, then writes its records,
summary and timers inside a SAVEPOINT, so a refused append leaves no trace, gets its own error,
and its neighbours commit. The outcome of a group is thus always the one-by-one path's; the
batched path is only a faster way to reach it when nothing is refused. Its statements say
`OR ROLLBACK`, so SQLite keeps no statement journal for them (which would copy every page they
change) and a refused one ends the transaction at once.

`synchronous="normal"` loses nothing when the process dies (a commit is in the WAL before
`write` returns) but may lose the last commits on power loss; `"full"` fsyncs the WAL on every
commit and survives power loss too.

":memory:" is rejected: a private in-memory database cannot be shared by the two connections,
and SQLite's shared in-memory alternatives lock readers out during every write. Tests use a
file in a temporary directory instead (on tmpfs that is as fast).
"""

from __future__ import annotations

import base64
import binascii
import builtins
import os
import threading
from collections.abc import Sequence
from typing import Any, Literal

import apsw
import attrs

from ._sqlite_events import (
    CLEAR_WAIT,
    CLEAR_WAITS,
    SET_WAIT,
    events_for,
    insert_event,
    purge_events,
    waits_for,
    waits_of,
)
from ._store import (
    TERMINAL,
    Append,
    EventRow,
    InstanceExists,
    InstanceRow,
    Page,
    SequenceConflict,
    StoredRecord,
    StoreError,
    TimerRow,
    UnknownInstance,
    WaitRow,
    Write,
)

_BUSY_TIMEOUT_MS = 5_000
_MAX_SEQ = 2**63 - 1
_MAX_PAGE = 500

MIGRATIONS: tuple[str, ...] = (
    # 1: instances, journal, timers.
    """
    CREATE TABLE instances (
        pk INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        workflow TEXT NOT NULL,
        status TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        waiting_on TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        last_seq INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX instances_status ON instances (status);
    CREATE INDEX instances_workflow ON instances (workflow);
    CREATE TABLE journal (
        instance_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        version INTEGER NOT NULL,
        at REAL NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (instance_id, seq)
    ) WITHOUT ROWID, STRICT;
    CREATE TABLE timers (
        instance_id TEXT NOT NULL,
        step INTEGER NOT NULL,
        fire_at REAL NOT NULL,
        PRIMARY KEY (instance_id, step)
    ) WITHOUT ROWID, STRICT;
    CREATE INDEX timers_fire_at ON timers (fire_at);
    """,
    # 2: events (deduplicated by source and id) and the waits that take them.
    """
    CREATE TABLE events (
        pos INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        id TEXT NOT NULL,
        type TEXT NOT NULL,
        subject TEXT,
        instanceid TEXT,
        event TEXT NOT NULL,
        received_at REAL NOT NULL,
        UNIQUE (source, id)
    ) STRICT;
    CREATE INDEX events_type_subject ON events (type, subject);
    CREATE INDEX events_instanceid ON events (instanceid) WHERE instanceid IS NOT NULL;
    CREATE INDEX events_received_at ON events (received_at);
    CREATE TABLE waits (
        instance_id TEXT NOT NULL,
        step INTEGER NOT NULL,
        type TEXT NOT NULL,
        subject TEXT,
        PRIMARY KEY (instance_id, step)
    ) WITHOUT ROWID, STRICT;
    CREATE INDEX waits_type_subject ON waits (type, subject);
    """,
)
"""Schema migrations; `PRAGMA user_version` is how many have been applied. Append, never edit."""

_LAST_SEQ = "SELECT last_seq FROM instances WHERE id = ?"
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
_ROW_COLUMNS = (
    "id, workflow, status, input, output, error, waiting_on, created_at, updated_at, last_seq"
)

# Errors that concern one append's values, not the transaction: roll back that append alone.
_APPEND_ERRORS = (
    apsw.ConstraintError,
    apsw.MismatchError,
    apsw.TooBigError,
    TypeError,
    ValueError,
    OverflowError,
)

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


_BATCH_REFUSED = (_BatchRefused, *_APPEND_ERRORS)


class SqliteStore:
    """A `Store` in one SQLite file (WAL). See the module docstring for the design.

    `write` must not run in two threads at once, and `close` must not run during a `write`: the
    journal writer guarantees both by being the only caller of `write` and finishing first.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["normal", "full"] = "normal",
    ) -> None:
        if synchronous not in ("normal", "full"):
            raise ValueError(f"synchronous must be 'normal' or 'full', not {synchronous!r}")
        filename = os.fspath(path)
        if filename in ("", ":memory:"):
            raise ValueError(
                "SqliteStore needs a database file, not an in-memory database"
                " (use a file in a temporary directory)"
            )
        self.path = filename
        self.synchronous = synchronous
        self._closed = False
        self._close_lock = threading.Lock()
        self._writer = _connect(filename, synchronous)
        try:
            mode = self._writer.pragma("journal_mode", "wal")
            if mode != "wal":
                raise StoreError(f"cannot use WAL journal mode on {filename!r} (got {mode!r})")
            _migrate(self._writer, filename)
            self._reader = _connect(filename, synchronous)
            self._reader.pragma("query_only", True)
        except BaseException:
            self._writer.close()
            raise

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def write(self, appends: Sequence[Write]) -> builtins.list[StoreError | None]:
        self._check_open()
        conn = self._writer
        cursor = conn.cursor()  # one cursor for the whole group: cheaper than one per statement
        cursor.execute("BEGIN IMMEDIATE")
        try:
            results = _write_batched(cursor, appends)
            if results is None:
                if conn.in_transaction:  # else an OR ROLLBACK statement ended it already
                    cursor.execute("ROLLBACK")
                cursor.execute("BEGIN IMMEDIATE")
                results = _write_one_by_one(cursor, appends)
            cursor.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results

    def read(
        self, instance_id: str, from_seq: int = 1, to_seq: int | None = None
    ) -> builtins.list[StoredRecord]:
        self._check_open()
        upper = _MAX_SEQ if to_seq is None else to_seq
        rows = self._reader.execute(
            "SELECT seq, kind, version, at, data FROM journal"
            " WHERE instance_id = ? AND seq >= ? AND seq <= ? ORDER BY seq",
            (instance_id, from_seq, upper),
        )
        return [
            StoredRecord(seq=seq, kind=kind, version=version, at=at, data=data)
            for seq, kind, version, at, data in rows
        ]

    def last_seq(self, instance_id: str) -> int:
        self._check_open()
        seq: int | None = self._reader.execute(_LAST_SEQ, (instance_id,)).get
        return 0 if seq is None else seq

    def get(self, instance_id: str) -> InstanceRow | None:
        self._check_open()
        for row in self._reader.execute(
            f"SELECT {_ROW_COLUMNS} FROM instances WHERE id = ?", (instance_id,)
        ):
            return _instance_row(row)
        return None

    def list(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        if not 1 <= limit <= _MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {_MAX_PAGE}, got {limit}")
        after = 0 if cursor is None else _decode_cursor(cursor)
        self._check_open()
        where = ["pk > ?"]
        bindings: list[Any] = [after]
        if status is not None:
            where.append("status = ?")
            bindings.append(status)
        if workflow is not None:
            where.append("workflow = ?")
            bindings.append(workflow)
        bindings.append(limit + 1)
        rows: list[Any] = self._reader.execute(
            f"SELECT pk, {_ROW_COLUMNS} FROM instances WHERE {' AND '.join(where)}"
            " ORDER BY pk LIMIT ?",
            bindings,
        ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(
            items=tuple(_instance_row(row[1:]) for row in rows),
            next_cursor=_encode_cursor(rows[-1][0]) if more else None,
        )

    def unfinished(self) -> builtins.list[str]:
        self._check_open()
        rows = self._reader.execute(
            "SELECT id FROM instances WHERE status IN ('running', 'waiting') ORDER BY pk"
        )
        return [instance_id for (instance_id,) in rows]

    def timers(self) -> builtins.list[TimerRow]:
        self._check_open()
        rows = self._reader.execute(
            "SELECT instance_id, step, fire_at FROM timers ORDER BY fire_at, instance_id, step"
        )
        return [
            TimerRow(instance_id=instance_id, step=step, fire_at=fire_at)
            for instance_id, step, fire_at in rows
        ]

    def waits_for(self, type: str, subject: str | None) -> builtins.list[WaitRow]:
        self._check_open()
        return waits_for(self._reader, type, subject)

    def waits_of(self, instance_id: str) -> builtins.list[WaitRow]:
        self._check_open()
        return waits_of(self._reader, instance_id)

    def events_for(
        self, type: str, subject: str | None, instance_id: str, since: float
    ) -> builtins.list[EventRow]:
        self._check_open()
        return events_for(self._reader, type, subject, instance_id, since)

    def counts_by_status(self) -> dict[str, int]:
        self._check_open()
        rows = self._reader.execute("SELECT status, count(*) FROM instances GROUP BY status")
        return {status: count for status, count in rows}

    @property
    def schema_version(self) -> int:
        """How many migrations the file has had (`PRAGMA user_version`)."""
        self._check_open()
        version: int = self._reader.pragma("user_version")
        return version

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._reader.close()
            self._writer.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")


def _connect(filename: str, synchronous: str) -> apsw.Connection:
    try:
        conn = apsw.Connection(filename)
    except apsw.Error as exc:
        raise StoreError(f"cannot open database {filename!r}: {exc}") from exc
    conn.set_busy_timeout(_BUSY_TIMEOUT_MS)
    conn.pragma("synchronous", synchronous)
    return conn


def _migrate(conn: apsw.Connection, filename: str) -> None:
    """Apply the migrations the file lacks, each in its own transaction."""
    known = len(MIGRATIONS)
    version: int = conn.pragma("user_version")
    while version < known:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            version = conn.pragma("user_version")
            if version < known:
                conn.execute(MIGRATIONS[version])
                version += 1
                conn.pragma("user_version", version)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    if version > known:
        raise StoreError(
            f"database {filename!r} has schema version {version}, newer than this version of"
            f" trioflow knows ({known}): upgrade trioflow to open it"
        )


def _write_batched(cursor: apsw.Cursor, group: Sequence[Write]) -> list[StoreError | None] | None:
    """Write `group` by the batched path (see the module docstring).

    Returns None if the database refused part of a batch: the transaction must then be rolled
    back (unless it ended already) and the group written one by one.
    """
    results: list[StoreError | None] = [None] * len(group)
    batch = _Batch()
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
            else:
                purge_events(cursor, item)
        batch.write(cursor)
    except _BATCH_REFUSED:
        return None
    return results


def _write_one_by_one(cursor: apsw.Cursor, group: Sequence[Write]) -> list[StoreError | None]:
    results: list[StoreError | None] = []
    for item in group:
        if isinstance(item, Append):
            results.append(_apply(cursor, item))
        elif isinstance(item, EventRow):
            results.append(insert_event(cursor, item))
        else:
            purge_events(cursor, item)
            results.append(None)
    return results


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
    _waits_set: list[tuple[str, int, str, str | None]] = attrs.Factory(list)
    _timers_cleared: list[tuple[str, int]] = attrs.Factory(list)
    _timers_set: list[tuple[str, int, float]] = attrs.Factory(list)

    def add(self, append: Append) -> bool:
        """Take `append` in; False, and the batch unchanged, if it must be applied one by one.

        Only what needs no database is checked here: a batch holds one append per instance,
        a new instance starts at seq 1, seqs are consecutive, timer rows are the instance's.
        """
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
            self._new_instances += (
                instance_id,
                new.workflow,
                summary.status,
                new.input,
                summary.output,
                summary.error,
                summary.waiting_on,
                new.created_at,
                summary.updated_at,
                last,
            )
        if summary.status in TERMINAL:
            self._ended.append(instance_id)
        else:
            self._add_waits_and_timers(append)
        self._ids.add(instance_id)
        return True

    def _add_waits_and_timers(self, append: Append) -> None:
        instance_id = append.instance_id
        if append.waits_cleared:
            self._waits_cleared += [(instance_id, step) for step in append.waits_cleared]
        if append.waits_set:
            self._waits_set += [(instance_id, w.step, w.type, w.subject) for w in append.waits_set]
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
    if not records and append.new is not None:
        return SequenceConflict(f"instance {instance_id!r}: a new instance needs a first record")
    first = records[0].seq if records else None
    for offset, record in enumerate(records):
        if record.seq != records[0].seq + offset:
            return SequenceConflict(
                f"instance {instance_id!r}: records must have consecutive seqs:"
                f" expected seq {records[0].seq + offset}, got {record.seq}"
            )
    for timer in append.timers_set:
        if timer.instance_id != instance_id:
            return StoreError(
                f"instance {instance_id!r}: a timer row must belong to the appending instance,"
                f" not {timer.instance_id!r}"
            )
    last: int | None = cursor.execute(_LAST_SEQ, (instance_id,)).get
    if append.new is not None:
        if last is not None:
            return InstanceExists(f"instance {instance_id!r} already exists")
        last = 0
    elif last is None:
        return UnknownInstance(
            f"instance {instance_id!r} does not exist (its first append must set `new`)"
        )
    if first is not None and first != last + 1:
        return SequenceConflict(f"instance {instance_id!r}: expected seq {last + 1}, got {first}")

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
                _INSERT_INSTANCE,
                (
                    instance_id,
                    new.workflow,
                    summary.status,
                    new.input,
                    summary.output,
                    summary.error,
                    summary.waiting_on,
                    new.created_at,
                    summary.updated_at,
                    records[-1].seq,
                ),
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
                    records[-1].seq if records else last,
                    instance_id,
                ),
            )
        if summary.status in TERMINAL:
            cursor.execute(_CLEAR_TIMERS, (instance_id,))
            cursor.execute(CLEAR_WAITS, (instance_id,))
        else:
            if append.waits_cleared:
                cursor.executemany(CLEAR_WAIT, [(instance_id, s) for s in append.waits_cleared])
            if append.waits_set:
                cursor.executemany(
                    SET_WAIT,
                    [(instance_id, w.step, w.type, w.subject) for w in append.waits_set],
                )
            if append.timers_cleared:
                cursor.executemany(_CLEAR_TIMER, [(instance_id, s) for s in append.timers_cleared])
            if append.timers_set:
                cursor.executemany(
                    _SET_TIMER, [(instance_id, t.step, t.fire_at) for t in append.timers_set]
                )
        cursor.execute("RELEASE append")
    except _APPEND_ERRORS as exc:
        cursor.execute("ROLLBACK TO append")
        cursor.execute("RELEASE append")
        error = StoreError(f"instance {instance_id!r}: the database refused the append: {exc}")
        error.__cause__ = exc
        return error
    return None


def _instance_row(row: Sequence[Any]) -> InstanceRow:
    (id_, workflow, status, input_, output, error, waiting_on, created, updated, last) = row
    return InstanceRow(
        id=id_,
        workflow=workflow,
        status=status,
        input=input_,
        output=output,
        error=error,
        waiting_on=waiting_on,
        created_at=created,
        updated_at=updated,
        last_seq=last,
    )


def _encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"after:{pk}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "after" or not number.isdigit():
            raise ValueError
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError("invalid cursor") from None
