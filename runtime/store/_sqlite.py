"""`SqliteStore`: the embedded `Store`, one SQLite file opened with apsw.

Theory of operation. The file runs in WAL mode, so readers never wait for the writer and the
writer never waits for readers. The store holds two connections: the *writer* is used only by
`write`, which the journal writer calls from a worker thread (a different one each time is
fine: apsw connections may move between threads, they just must not be used by two at once);
the *reader* serves every query from the Trio thread. A `write` is one `BEGIN IMMEDIATE ...
COMMIT`.

Writing a group (`_sqlite_write`): a few multi-row statements for the whole group, and
when the database refuses any of it, the group again one append at a time in a new
transaction, so that a refused append gets its own error and its neighbours commit.

`synchronous="normal"` loses nothing when the process dies (a commit is in the WAL before
`write` returns) but may lose the last commits on power loss; `"full"` fsyncs the WAL on every
commit and survives power loss too.

":memory:" is rejected: a private in-memory database cannot be shared by the two connections,
and SQLite's shared in-memory alternatives lock readers out during every write. Tests use a
file in a temporary directory instead (on tmpfs that is as fast).
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Collection, Sequence
from typing import Any, Literal

import apsw

from ._filelock import FileLock
from ._interface import (
    EventRow,
    InstanceRow,
    Page,
    StoredRecord,
    StoreError,
    TimerRow,
    WaitRow,
    Write,
)
from ._paging import MAX_PAGE, MAX_SEQ, after_prefix, keyset, page_of, page_request
from ._rows import instance_row
from ._sqlite_check import DatabaseCorrupt, quick_check
from ._sqlite_events import (
    events_for,
    messages_for,
    waits_for,
    waits_of,
)
from ._sqlite_prune import FINISHED_INDEX, count_expired_events, finished_query
from ._sqlite_write import LAST_SEQ, write_batched, write_one_by_one

_BUSY_TIMEOUT_MS = 5_000
_READ_WRITE = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
"""Orders of `list`: first created first, least recently updated first, most recently
updated first."""

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
    # 3: BPMN message subscriptions (one takes an event per workflow, oldest first), events
    # buffered for them (expires_at, from the event's ttl), and which workflow took which.
    # `opened` counts up in `wait_counter`, never reused when the newest wait goes, so a
    # group written at once numbers its waits as writing its appends one by one does.
    """
    ALTER TABLE waits ADD COLUMN message TEXT;
    ALTER TABLE waits ADD COLUMN opened INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX waits_opened ON waits (opened);
    CREATE TABLE wait_counter (last INTEGER NOT NULL) STRICT;
    INSERT INTO wait_counter VALUES (0);
    CREATE TRIGGER waits_opened_count AFTER INSERT ON waits
        BEGIN UPDATE wait_counter SET last = NEW.opened; END;
    ALTER TABLE events ADD COLUMN expires_at REAL;
    CREATE INDEX events_buffered ON events (type, subject, expires_at)
        WHERE expires_at IS NOT NULL;
    CREATE TABLE correlations (
        source TEXT NOT NULL,
        id TEXT NOT NULL,
        workflow TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        PRIMARY KEY (source, id, workflow)
    ) WITHOUT ROWID, STRICT;
    """,
    # 4: runs (continue_as_new): the current run's number and the seq of its first record.
    """
    ALTER TABLE instances ADD COLUMN run INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE instances ADD COLUMN run_seq INTEGER NOT NULL DEFAULT 1;
    """,
    # 5: retention finds the finished instances, oldest first (`_sqlite_prune`).
    FINISHED_INDEX,
)
"""Schema migrations; `PRAGMA user_version` is how many have been applied. Append, never edit."""

_ROW_COLUMNS = (
    "id, workflow, status, input, output, error, waiting_on, created_at, updated_at, last_seq,"
    " run, run_seq"
)


class SqliteStore:
    """A `Store` in one SQLite file (WAL). See the module docstring for the design.

    `write` must not run in two threads at once, and `close` must not run during a `write`: the
    journal writer guarantees both by being the only caller of `write` and finishing first.

    One store at a time may write a file: opening takes an exclusive lock on
    ``<path>.lock`` (`DatabaseLocked`, naming the holder's pid, when another has it).
    ``read_only=True`` takes no lock, applies no migration and refuses `write`: it reads
    beside a running service. Opening for writing first runs SQLite's ``quick_check``
    (about one read of the file) and refuses a damaged file (`DatabaseCorrupt`);
    ``check=False`` skips it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["normal", "full"] = "normal",
        read_only: bool = False,
        check: bool = True,
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
        self.read_only = read_only
        self._closed = False
        self._close_lock = threading.Lock()
        if read_only:
            self._lock = None
            self._reader = self._writer = _connect(filename, synchronous, read_only=True)
            try:
                _check_version(self._reader.pragma("user_version"), filename)
            except BaseException:
                self._reader.close()
                raise
            return
        self._lock = FileLock(filename)
        try:
            self._writer = _connect(filename, synchronous)
        except BaseException:
            self._lock.release()
            raise
        try:
            mode = self._writer.pragma("journal_mode", "wal")
            if mode != "wal":
                raise StoreError(f"cannot use WAL journal mode on {filename!r} (got {mode!r})")
            if check:
                quick_check(self._writer, filename)
            _migrate(self._writer, filename)
            self._reader = _connect(filename, synchronous)
            self._reader.pragma("query_only", True)
        except apsw.Error as exc:
            self._writer.close()
            self._lock.release()
            raise DatabaseCorrupt(
                f"cannot open database {filename!r}: {exc}; 'trioflow check --db {filename}'"
                " reports what is wrong"
            ) from exc
        except BaseException:
            self._writer.close()
            self._lock.release()
            raise

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def write(self, appends: Sequence[Write]) -> builtins.list[StoreError | None]:
        self._check_open()
        if self.read_only:
            raise StoreError(f"the store on {self.path!r} was opened read-only")
        conn = self._writer
        cursor = conn.cursor()  # one cursor for the whole group: cheaper than one per statement
        cursor.execute("BEGIN IMMEDIATE")
        try:
            results = write_batched(cursor, appends)
            if results is None:
                if conn.in_transaction:  # else an OR ROLLBACK statement ended it already
                    cursor.execute("ROLLBACK")
                cursor.execute("BEGIN IMMEDIATE")
                results = write_one_by_one(cursor, appends)
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
        upper = MAX_SEQ if to_seq is None else to_seq
        rows = self._reader.execute(
            "SELECT seq, kind, version, at, data FROM journal"
            " WHERE instance_id = ? AND seq >= ? AND seq <= ? ORDER BY seq",
            (instance_id, from_seq, upper),
        )
        return [
            StoredRecord(seq=seq, kind=kind, version=version, at=at, data=data)
            for seq, kind, version, at, data in rows
        ]

    def last_of_kind(
        self, instance_id: str, kind: str, from_seq: int = 1, to_seq: int | None = None
    ) -> StoredRecord | None:
        self._check_open()
        upper = MAX_SEQ if to_seq is None else to_seq
        for seq, version, at, data in self._reader.execute(
            "SELECT seq, version, at, data FROM journal"
            " WHERE instance_id = ? AND seq >= ? AND seq <= ? AND kind = ?"
            " ORDER BY seq DESC LIMIT 1",
            (instance_id, from_seq, upper, kind),
        ):
            return StoredRecord(seq=seq, kind=kind, version=version, at=at, data=data)
        return None

    def last_seq(self, instance_id: str) -> int:
        self._check_open()
        seq: int | None = self._reader.execute(LAST_SEQ, (instance_id,)).get
        return 0 if seq is None else seq

    def get(self, instance_id: str) -> InstanceRow | None:
        self._check_open()
        for row in self._reader.execute(
            f"SELECT {_ROW_COLUMNS} FROM instances WHERE id = ?", (instance_id,)
        ):
            return instance_row(row)
        return None

    def list(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        id_prefix: str | None = None,
        order: str = "created",
    ) -> Page:
        backwards, key = page_request(limit, order, cursor)
        self._check_open()
        where, bindings = _filters(status, workflow, id_prefix)
        after, sort = keyset(order, backwards, key, "?")
        if after is not None:
            where.append(after)
            bindings.extend(key or ())
        rows: list[Any] = self._reader.execute(
            f"SELECT pk, {_ROW_COLUMNS} FROM instances WHERE {' AND '.join(where) or '1'}"
            f" ORDER BY {sort} LIMIT ?",
            [*bindings, limit + 1],
        ).fetchall()
        return page_of(rows, limit, order, backwards, key is not None)

    def finished(
        self,
        *,
        before: float,
        limit: int,
        workflow: str | None = None,
        exclude: Collection[str] = (),
        after: tuple[float, str] | None = None,
    ) -> builtins.list[InstanceRow]:
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        self._check_open()
        sql, bindings = finished_query(_ROW_COLUMNS, before, limit, workflow, exclude, after)
        return [instance_row(row) for row in self._reader.execute(sql, bindings)]

    def expired_events(self, *, before: float, buffered_at: float, limit: int) -> int:
        self._check_open()
        return count_expired_events(self._reader, before, buffered_at, limit)

    def unfinished(self) -> builtins.list[str]:
        self._check_open()
        rows = self._reader.execute(
            "SELECT id FROM instances"
            " WHERE status IN ('running', 'waiting', 'incident') ORDER BY pk"
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

    def is_correlated(self, source: str, id: str, workflow: str) -> bool:
        self._check_open()
        rows = self._reader.execute(
            "SELECT 1 FROM correlations WHERE source = ? AND id = ? AND workflow = ?",
            (source, id, workflow),
        ).fetchall()
        return bool(rows)

    def messages_for(
        self, type: str, subject: str | None, workflow: str, now: float
    ) -> builtins.list[EventRow]:
        self._check_open()
        return messages_for(self._reader, type, subject, workflow, now)

    def has_event(self, source: str, id: str) -> bool:
        self._check_open()
        rows = self._reader.execute(
            "SELECT 1 FROM events WHERE source = ? AND id = ?", (source, id)
        ).fetchall()
        return bool(rows)

    def counts_by_status(
        self, *, workflow: str | None = None, id_prefix: str | None = None
    ) -> dict[str, int]:
        self._check_open()
        where, bindings = _filters(None, workflow, id_prefix)
        rows = self._reader.execute(
            f"SELECT status, count(*) FROM instances WHERE {' AND '.join(where) or '1'}"
            " GROUP BY status",
            bindings,
        )
        return {status: count for status, count in rows}

    def vacuum(self) -> None:
        """Rewrite the file without its free pages, and make it give the pages later
        deletes free back to the file system (``auto_vacuum = INCREMENTAL``) if it did not.

        It writes a copy of the whole database first (needs that much free disk) and holds
        the writer meanwhile: for a file no runtime is using (``trioflow prune --vacuum``).
        """
        self._check_open()
        if self.read_only:
            raise StoreError(f"the store on {self.path!r} was opened read-only")
        self._writer.pragma("auto_vacuum", "incremental")
        self._writer.execute("VACUUM")
        self._writer.pragma("wal_checkpoint", "truncate")

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
            if self._lock is not None:
                self._lock.release()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")


def _connect(filename: str, synchronous: str, *, read_only: bool = False) -> apsw.Connection:
    flags = apsw.SQLITE_OPEN_READONLY if read_only else _READ_WRITE
    try:
        conn = apsw.Connection(filename, flags=flags)
    except apsw.Error as exc:
        raise StoreError(f"cannot open database {filename!r}: {exc}") from exc
    conn.set_busy_timeout(_BUSY_TIMEOUT_MS)
    if not read_only:
        conn.pragma("synchronous", synchronous)
    return conn


def _check_version(version: int, filename: str) -> None:
    known = len(MIGRATIONS)
    if version > known:
        raise StoreError(
            f"database {filename!r} has schema version {version}, newer than this version of"
            f" trioflow knows ({known}): upgrade trioflow to open it"
        )


def _migrate(conn: apsw.Connection, filename: str) -> None:
    """Apply the migrations the file lacks, each in its own transaction."""
    known = len(MIGRATIONS)
    version: int = conn.pragma("user_version")
    if version == 0 and not conn.execute("SELECT 1 FROM sqlite_schema").fetchall():
        # The file gives the pages its deletes free back to the file system
        # (`_sqlite_prune`). In WAL mode the setting takes effect with a VACUUM: of a file
        # without tables, that costs nothing.
        conn.pragma("auto_vacuum", "incremental")
        conn.execute("VACUUM")
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
    _check_version(version, filename)


def _filters(
    status: str | None, workflow: str | None, id_prefix: str | None
) -> tuple[builtins.list[str], builtins.list[Any]]:
    """The WHERE conditions and bindings of `list` and `counts_by_status`."""
    where: builtins.list[str] = []
    bindings: builtins.list[Any] = []
    if status is not None:
        where.append("status = ?")
        bindings.append(status)
    if workflow is not None:
        where.append("workflow = ?")
        bindings.append(workflow)
    if id_prefix:
        # substr counts characters as Python's len does; LIKE would need its wildcards escaped
        # and ignores case. The range before it lets SQLite search the id index.
        upper = after_prefix(id_prefix)
        if upper is not None:
            where.append("id >= ? AND id < ?")
            bindings += [id_prefix, upper]
        where.append("substr(id, 1, ?) = ?")
        bindings += [len(id_prefix), id_prefix]
    return where, bindings
