"""`PostgresStore`: the `Store` in a PostgreSQL database, through psycopg 3.

Theory of operation. As `SqliteStore` does with apsw, the store holds two connections: the
*writer*, used only by `write`, which the journal writer calls from a worker thread (psycopg
has no Trio support; a blocking connection in a thread Trio waits on is how the SQLite writer
works too, and keeps one code path for both stores), and the *reader*, which serves every query
from the Trio thread. A `write` is one transaction of a few statements over arrays
(`_postgres_write`), so a group of a thousand appends costs a handful of round trips.

Reads are synchronous, on the Trio thread, as the `Store` protocol says. Each is one indexed
statement in autocommit mode (its own snapshot: never half of an append), answered on a local
server in about a tenth of a millisecond, less than handing it to a thread and back would
cost. The price is that a slow or distant server stalls the event loop for the length of a
query: run PostgreSQL near the process (same host or same rack).

Losing the connection (a restarted server, ``pg_terminate_backend``) fails the transaction
as a whole: the journal writer keeps the group and retries it, and the next `write` connects
anew. A commit whose answer was lost may have been applied: the retry then finds its records
stored already, byte for byte, and counts them as written (see `write`).

One store at a time writes a database: the writer's session holds a lock
(`_postgres_session`), `DatabaseLocked` for a second one, which may stand by instead
(``standby=True``) and take over once the first lets go. A writer that was silent longer
than its lease (paused, cut off) loses its session and the lock with it; a thread renews the
lease of a live one. A writer that finds its session gone and the lock taken writes nothing
more and calls ``on_lost``.

The URL is libpq's (``postgresql://user@host:port/database``), with one addition: a
``schema`` query parameter (``?schema=name``) puts the tables in that PostgreSQL schema, made
if missing, instead of ``public``.
"""

from __future__ import annotations

import builtins
import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

import psycopg

from ._filelock import DatabaseLocked
from ._interface import EventRow, InstanceRow, Page, StoredRecord, StoreError, TimerRow, WaitRow
from ._interface import Write as WriteItem
from ._paging import MAX_PAGE, MAX_SEQ, keyset, page_of, page_request
from ._postgres_link import PostgresLink
from ._postgres_prune import count_expired_events, finished_query
from ._postgres_read import events_for, filters, messages_for, waits_for, waits_of
from ._postgres_schema import check_version, migrate, schema_version
from ._postgres_session import (
    DEFAULT_LEASE,
    STANDBY_POLL,
    connect,
    describe,
    end_stalled_holder,
    lock_holder,
    split_url,
    try_lock,
    unlock,
)
from ._postgres_write import BATCH_REFUSED, LAST_SEQ, write_batched, write_one_by_one
from ._rows import instance_row

_T = TypeVar("_T")
_log = logging.getLogger("trioflow")
_ROW_COLUMNS = (
    "id, workflow, status, input, output, error, waiting_on, created_at, updated_at, last_seq,"
    " run, run_seq"
)


class PostgresStore:
    """A `Store` in a PostgreSQL database. See the module docstring for the design.

    ``read_only=True`` takes no lock, applies no migration and refuses `write`: it reads
    beside running services (the CLI's queries). ``standby=True`` makes the constructor wait
    (blocking: call it from a thread) while another process writes the database. ``lease``:
    seconds of silence after which PostgreSQL ends the writer's session, so that a paused
    process loses the database to a standby; ``on_lost`` is called (from the writing or the
    renewing thread) when this store finds it lost the database so.
    """

    def __init__(
        self,
        url: str,
        *,
        read_only: bool = False,
        schema: str | None = None,
        standby: bool = False,
        on_lost: Callable[[], None] | None = None,
        lease: float = DEFAULT_LEASE,
    ) -> None:
        if not (0 < lease < 86400):
            raise ValueError(f"lease must be between 0 and 86400 seconds, got {lease!r}")
        self.lease = lease
        self._writer_lock = threading.Lock()
        self._stopping = threading.Event()
        conninfo, url_schema = split_url(url)
        self._on_lost = on_lost
        self._lost = False
        self.schema = schema if schema is not None else url_schema
        self.read_only = read_only
        self._conninfo = conninfo
        self._where = describe(url)
        self._closed = False
        self._close_lock = threading.Lock()
        self._reader = self._connect()
        try:
            if read_only:
                version = schema_version(self._reader)
                if version is None:
                    raise StoreError(f"{self._where} holds no trioflow tables")
                check_version(version, self._where)
                self._writer: psycopg.Connection[Any] | None = None
            else:
                migrate(self._reader, self.schema, self._where)
                self._writer = self._connect_writer(standby=standby)
        except BaseException:
            self._reader.close()
            raise
        self._ambiguous = False
        if self._writer is not None:
            threading.Thread(target=self._renew, name="trioflow-lease", daemon=True).start()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connect(self) -> psycopg.Connection[Any]:
        return connect(self._conninfo, self.schema, self._where)

    def _connect_writer(self, *, standby: bool = False) -> psycopg.Connection[Any]:
        """A connection holding the writer's lock. `standby`: wait until the process that
        holds it lets go (or dies: PostgreSQL ends its session, and the lock with it)."""
        conn = self._connect()
        try:
            announced = False
            while not try_lock(conn):
                holder = lock_holder(conn)
                if not standby:
                    raise DatabaseLocked(
                        f"{self._where} is open for writing by {holder} (one process at a"
                        " time writes a trioflow database; --standby waits for it)"
                    )
                if not announced:
                    _log.warning("%s is served by %s; standing by", self._where, holder)
                    announced = True
                stalled = end_stalled_holder(conn, self.lease)
                if stalled is not None:
                    _log.warning(
                        "%s: %s has been stuck in one statement, waiting on its process, for"
                        " longer than the lease (paused?): its session is ended",
                        self._where,
                        stalled,
                    )
                time.sleep(STANDBY_POLL)
            if announced:
                _log.warning("%s: taking over", self._where)
            # The lease: a session that says nothing for this long (its process is paused,
            # or cut off) is ended by the server, and its lock with it, so that a standby
            # takes over; `_renew` speaks often enough for a live process to keep it.
            lease_ms = max(1, round(self.lease * 1000))
            conn.execute(f"SET idle_session_timeout = {lease_ms}")
            conn.execute(f"SET idle_in_transaction_session_timeout = {lease_ms}")
        except BaseException:
            conn.close()
            raise
        return conn

    def write(self, appends: Sequence[WriteItem]) -> builtins.list[StoreError | None]:
        self._check_open()
        if self._writer is None:
            raise StoreError(f"the store on {self._where} was opened read-only")
        with self._writer_lock:
            try:
                return self._write(appends)
            except psycopg.OperationalError:
                # Once more on a new connection at once: a dropped connection (a server
                # restarted, an idle session ended) is then no failure to the caller. If this
                # one fails too, the journal writer retries with a backoff.
                return self._write(appends)

    def _reconnect_writer(self) -> None:
        try:
            self._writer = self._connect_writer()
        except DatabaseLocked:
            # Our session ended (the lease ran out while this process was paused, say) and
            # another process took the lock since: it serves the database now. Nothing more
            # is written from here.
            if not self._lost:
                self._lost = True
                _log.error("%s: another process took over; this one writes no more", self._where)
                if self._on_lost is not None:
                    self._on_lost()
            raise

    def _renew(self) -> None:
        """Keep the writer's session, and so its lock, alive while the process runs: one
        statement every quarter lease unless a write is going on (which renews it too)."""
        while not self._stopping.wait(self.lease / 4):
            if not self._writer_lock.acquire(blocking=False):
                continue
            try:
                if self._closed or self._lost:
                    return
                if self._writer is None or self._writer.closed:
                    self._reconnect_writer()
                else:
                    self._writer.execute("SELECT 1")
            except DatabaseLocked:
                return
            except (psycopg.Error, StoreError) as exc:
                _log.warning("%s: renewing the writer's lease failed: %s", self._where, exc)
                if self._writer is not None:
                    unlock(self._writer)
                    self._writer.close()
            finally:
                self._writer_lock.release()

    def _write(self, appends: Sequence[WriteItem]) -> builtins.list[StoreError | None]:
        if self._writer is None or self._writer.closed:
            self._reconnect_writer()
        conn = self._writer
        assert conn is not None
        try:
            with conn.cursor() as cursor:
                if not self._ambiguous:
                    try:
                        with conn.transaction():
                            return write_batched(cursor, appends)
                    except BATCH_REFUSED:
                        pass
                with conn.transaction():
                    results = write_one_by_one(cursor, appends, already_written=self._ambiguous)
                self._ambiguous = False
                return results
        except psycopg.OperationalError:
            # The connection is gone, perhaps after the server applied the COMMIT: the next
            # write counts records it finds stored already, identical, as written.
            self._ambiguous = True
            conn.close()
            raise

    def read(
        self, instance_id: str, from_seq: int = 1, to_seq: int | None = None
    ) -> builtins.list[StoredRecord]:
        upper = MAX_SEQ if to_seq is None else to_seq
        if from_seq > MAX_SEQ or upper < 1 or from_seq > upper:
            return []
        rows = self._query(
            "SELECT seq, kind, version, at, data FROM journal"
            " WHERE instance_id = %s AND seq >= %s AND seq <= %s ORDER BY seq",
            (instance_id, max(from_seq, 0), upper),
        )
        return [
            StoredRecord(seq=seq, kind=kind, version=version, at=at, data=data)
            for seq, kind, version, at, data in rows
        ]

    def last_of_kind(
        self, instance_id: str, kind: str, from_seq: int = 1, to_seq: int | None = None
    ) -> StoredRecord | None:
        upper = MAX_SEQ if to_seq is None else to_seq
        if from_seq > MAX_SEQ or upper < 1 or from_seq > upper:
            return None
        rows = self._query(
            "SELECT seq, version, at, data FROM journal"
            " WHERE instance_id = %s AND seq >= %s AND seq <= %s AND kind = %s"
            " ORDER BY seq DESC LIMIT 1",
            (instance_id, max(from_seq, 0), upper, kind),
        )
        if not rows:
            return None
        seq, version, at, data = rows[0]
        return StoredRecord(seq=seq, kind=kind, version=version, at=at, data=data)

    def last_seq(self, instance_id: str) -> int:
        rows = self._query(LAST_SEQ, (instance_id,))
        return 0 if not rows else int(rows[0][0])

    def get(self, instance_id: str) -> InstanceRow | None:
        rows = self._query(f"SELECT {_ROW_COLUMNS} FROM instances WHERE id = %s", (instance_id,))
        return instance_row(rows[0]) if rows else None

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
        where, bindings = filters(status, workflow, id_prefix)
        after, sort = keyset(order, backwards, key, "%s")
        if after is not None:
            where.append(after)
            bindings.extend(key or ())
        rows: builtins.list[Any] = self._query(
            f"SELECT pk, {_ROW_COLUMNS} FROM instances WHERE {' AND '.join(where) or 'TRUE'}"
            f" ORDER BY {sort} LIMIT %s",
            (*bindings, limit + 1),
        )
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
        sql, bindings = finished_query(_ROW_COLUMNS, before, limit, workflow, exclude, after)
        return [instance_row(row) for row in self._query(sql, bindings)]

    def expired_events(self, *, before: float, buffered_at: float, limit: int) -> int:
        return self._run(lambda conn: count_expired_events(conn, before, buffered_at, limit), 0)

    def unfinished(self) -> builtins.list[str]:
        rows = self._query(
            "SELECT id FROM instances"
            " WHERE status IN ('running', 'waiting', 'incident') ORDER BY pk"
        )
        return [instance_id for (instance_id,) in rows]

    def timers(self) -> builtins.list[TimerRow]:
        rows = self._query(
            "SELECT instance_id, step, fire_at FROM timers ORDER BY fire_at, instance_id, step"
        )
        return [
            TimerRow(instance_id=instance_id, step=step, fire_at=fire_at)
            for instance_id, step, fire_at in rows
        ]

    def waits_for(self, type: str, subject: str | None) -> builtins.list[WaitRow]:
        return self._run(lambda conn: waits_for(conn, type, subject), [])

    def waits_of(self, instance_id: str) -> builtins.list[WaitRow]:
        return self._run(lambda conn: waits_of(conn, instance_id), [])

    def events_for(
        self, type: str, subject: str | None, instance_id: str, since: float
    ) -> builtins.list[EventRow]:
        return self._run(lambda conn: events_for(conn, type, subject, instance_id, since), [])

    def messages_for(
        self, type: str, subject: str | None, workflow: str, now: float
    ) -> builtins.list[EventRow]:
        return self._run(lambda conn: messages_for(conn, type, subject, workflow, now), [])

    def is_correlated(self, source: str, id: str, workflow: str) -> bool:
        return bool(
            self._query(
                "SELECT 1 FROM correlations WHERE source = %s AND id = %s AND workflow = %s",
                (source, id, workflow),
            )
        )

    def has_event(self, source: str, id: str) -> bool:
        return bool(self._query("SELECT 1 FROM events WHERE source = %s AND id = %s", (source, id)))

    def counts_by_status(
        self, *, workflow: str | None = None, id_prefix: str | None = None
    ) -> dict[str, int]:
        where, bindings = filters(None, workflow, id_prefix)
        rows = self._query(
            f"SELECT status, count(*) FROM instances WHERE {' AND '.join(where) or 'TRUE'}"
            " GROUP BY status",
            bindings,
        )
        return {status: count for status, count in rows}

    def writing_process(self) -> str:
        """The process that writes the database now, as its connection named itself
        ("trioflow pid 4242 on host-a"); "another process" when none holds the lock."""
        return self._run(lock_holder, "another process")

    def link(self, owner: str) -> PostgresLink:
        """What process `owner` needs to reach the others on this database (its own
        connection: close it when done). See `_postgres_routing`."""
        self._check_open()
        return PostgresLink(self._conninfo, self.schema, self._where, owner)

    @property
    def schema_version(self) -> int:
        """How many migrations the schema has had."""
        return self._run(lambda conn: schema_version(conn) or 0, 0)

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._stopping.set()
            self._reader.close()
            with self._writer_lock:  # not in the middle of a renewal
                if self._writer is not None:
                    unlock(self._writer)
                    self._writer.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[Any]:
        return self._run(lambda conn: conn.execute(sql, params).fetchall(), [])

    def _run(self, query: Callable[[psycopg.Connection[Any]], _T], empty: _T) -> _T:
        """Run a query on the reader; once more on a new connection if the old one was lost."""
        self._check_open()
        for attempt in (1, 2):
            if self._reader.closed:
                self._reader = self._connect()
            try:
                return query(self._reader)
            except psycopg.OperationalError as exc:
                self._reader.close()
                if attempt == 2:
                    raise StoreError(f"{self._where} cannot be read: {exc}") from exc
            except (psycopg.DataError, UnicodeEncodeError):
                # A value PostgreSQL cannot hold (a NUL character, a lone surrogate) names
                # nothing stored: the answer is the one about no rows.
                return empty
        raise AssertionError("unreachable")
