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

Several processes write one database at once, each driving instances of its own: a store
opened for writing is an *owner* (`_postgres_owners`), with a lease that a third connection,
in a thread of its own, renews every heartbeat (and whose session holds the owner's lock,
which tells the others at once when the process dies). Every append is fenced: an instance that
another process claimed (after this one's lease ran out) refuses it with `NotOwner`. The
runtime claims the orphans of dead owners (`claim_orphans`, which first ends the sessions a
gone owner left behind, such as a write it was paused in that holds its rows) and replays
them. Closing the store releases its unfinished instances, for others to claim at once.

Ownership API (what a process sharing the database uses): `owner` (this store's id),
`owner_of(instance_id)` (the `Owner` driving an instance: id, host, pid, advertised URL,
lease), `owners()` (every registered process), `advertise(address)`, `claim(instance_id)`,
`claim_orphans(limit)` and `release()`. The claims block on the database: call them from a
worker thread.

The URL is libpq's (``postgresql://user@host:port/database``), with one addition: a
``schema`` query parameter (``?schema=name``) puts the tables in that PostgreSQL schema, made
if missing, instead of ``public``.
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

import psycopg

from . import _postgres_owners as owners
from ._interface import (
    EventRow,
    InstanceRow,
    Owner,
    Page,
    StoredRecord,
    StoreError,
    TimerRow,
    WaitRow,
)
from ._interface import Write as WriteItem
from ._paging import MAX_PAGE, MAX_SEQ, keyset, page_of, page_request
from ._postgres_link import PostgresLink
from ._postgres_prune import count_expired_events, finished_query
from ._postgres_read import events_for, filters, messages_for, waits_for, waits_of
from ._postgres_schema import check_version, migrate, schema_version
from ._postgres_session import DEFAULT_LEASE, connect, describe, run_reconnecting, split_url
from ._postgres_write import BATCH_REFUSED, LAST_SEQ, write_batched, write_one_by_one
from ._rows import instance_row

_T = TypeVar("_T")
FORGET_AFTER = 3600.0
"""Seconds after its lease ran out when the row of an owner that holds nothing unfinished is
deleted (until then `owners` shows it, and `owner_of` its finished instances')."""
_log = logging.getLogger("trioflow")
_ROW_COLUMNS = (
    "id, workflow, status, input, output, error, waiting_on, created_at, updated_at, last_seq,"
    " run, run_seq"
)


class PostgresStore:
    """A `Store` in a PostgreSQL database. See the module docstring for the design.

    ``read_only=True`` registers no owner, applies no migration and refuses `write`: it
    reads beside running services (the CLI's queries). ``lease``: seconds after the last
    renewal of this store's lease (a paused or cut-off process renews nothing) when other
    processes may claim its instances. ``address``: where this process serves HTTP, shown
    to the others (`Owner.url`).
    """

    def __init__(
        self,
        url: str,
        *,
        read_only: bool = False,
        schema: str | None = None,
        lease: float = DEFAULT_LEASE,
        address: str | None = None,
    ) -> None:
        if not (0 < lease < 86400):
            raise ValueError(f"lease must be between 0 and 86400 seconds, got {lease!r}")
        self.lease = lease
        self._writer_lock = threading.Lock()
        self._stopping = threading.Event()
        conninfo, url_schema = split_url(url)
        self._address = address
        self.owner: str | None = None
        """This store's owner id (`_postgres_owners`); None when read-only."""
        self._owner_conn: psycopg.Connection[Any] | None = None
        self._owner_lock = threading.Lock()
        self._holding: psycopg.Connection[Any] | None = None
        """The owner's connection whose session holds the owner's lock."""
        self._recorded: psycopg.Connection[Any] | None = None
        """The owner's connection whose session is recorded in the owner's row."""
        self.schema = schema if schema is not None else url_schema
        self.read_only = read_only
        self._conninfo = conninfo
        self._where = describe(url)
        self._closed = False
        self._close_lock = threading.Lock()
        self._reader = self._connect()
        self._writer: psycopg.Connection[Any] | None = None
        try:
            if read_only:
                version = schema_version(self._reader)
                if version is None:
                    raise StoreError(f"{self._where} holds no trioflow tables")
                check_version(version, self._where)
            else:
                migrate(self._reader, self.schema, self._where)
                self._writer = self._connect_writer()
                self.owner = owners.new_owner_id()
                self._owner_conn = self._connect_owner()
                owners.register(self._owner_conn, self.owner, lease, address)
                owners.record_session(self._owner_conn, self.owner, owners.LEASE_SESSION)
                owners.record_session(self._writer, self.owner, owners.WRITER_SESSION)
                if owners.hold(self._owner_conn, self.owner):
                    self._holding = self._owner_conn
                self._recorded = self._owner_conn
        except BaseException:
            for conn in (self._reader, self._writer, self._owner_conn):
                if conn is not None:
                    conn.close()
            raise
        self._ambiguous = False
        self._writer_recorded = True
        if self.owner is not None:
            threading.Thread(target=self._renew, name="trioflow-lease", daemon=True).start()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connect(self) -> psycopg.Connection[Any]:
        return connect(self._conninfo, self.schema, self._where)

    def _connect_writer(self) -> psycopg.Connection[Any]:
        """A connection for writing: a transaction left open by a paused process is ended
        after the lease, so that its row locks do not hold up the others' claims."""
        conn = self._connect()
        try:
            lease_ms = max(1, round(self.lease * 1000))
            conn.execute(f"SET idle_in_transaction_session_timeout = {lease_ms}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect_owner(self) -> psycopg.Connection[Any]:
        """The connection of the lease and the claims: a claim does not wait long for a row
        another process's write holds (`owners.CLAIM_LOCK_TIMEOUT_MS`)."""
        conn = self._connect_writer()
        try:
            conn.execute(f"SET lock_timeout = {owners.CLAIM_LOCK_TIMEOUT_MS}")
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

    def _renew(self) -> None:
        """Renew this store's lease every heartbeat while the process runs, on a connection
        of its own (a long write does not hold it up), which holds the owner's lock too."""
        while not self._stopping.wait(owners.heartbeat(self.lease)):
            try:
                self._on_owner_connection(self._beat)
            except StoreError as exc:
                if not self._stopping.is_set():  # closing, it has nothing more to renew
                    _log.warning("%s: renewing this lease failed: %s", self._where, exc)

    def _beat(self, conn: psycopg.Connection[Any], owner: str) -> None:
        if owners.renew(conn, owner, self.lease, self._address):  # its row was forgotten
            owners.record_session(conn, owner, owners.LEASE_SESSION)
            self._writer_recorded = False  # by the next write
        if self._holding is not conn:
            # A new connection (the last one was lost): its session takes the lock over.
            self._holding = conn if owners.hold(conn, owner) else None

    def _on_owner_connection(self, work: Callable[[psycopg.Connection[Any], str], _T]) -> _T:
        """Run `work` on the owner's connection (made again if it was lost)."""
        with self._owner_lock:
            self._check_open()
            if self.owner is None:
                raise StoreError(f"the store on {self._where} was opened read-only")
            for attempt in (1, 2):
                if self._owner_conn is None or self._owner_conn.closed:
                    self._owner_conn = self._connect_owner()
                try:
                    if self._owner_conn is not self._recorded:
                        owners.record_session(self._owner_conn, self.owner, owners.LEASE_SESSION)
                        self._recorded = self._owner_conn
                    return work(self._owner_conn, self.owner)
                except psycopg.OperationalError as exc:
                    self._owner_conn.close()
                    if attempt == 2:
                        raise StoreError(f"{self._where} cannot be written: {exc}") from exc
            raise AssertionError("unreachable")

    # --- ownership --------------------------------------------------------------------

    def claim_orphans(self, limit: int = 500) -> builtins.list[str]:
        """Make at most `limit` orphans this store's: unfinished instances (not suspended)
        released by their owner or whose owner's lease ran out. Their ids, oldest first;
        replay them. Blocks on the database: call it from a worker thread."""
        claimed = self._on_owner_connection(
            lambda conn, owner: owners.claim_orphans(conn, owner, limit)
        )
        if len(claimed) < limit:  # all taken: the rows of long-dead owners may go
            self._on_owner_connection(lambda conn, _: owners.forget_dead(conn, FORGET_AFTER))
        return claimed

    def claim(self, instance_id: str) -> Owner | None:
        """Make `instance_id` this store's unless another live process owns it: None when
        this store owns it now (or there is no such instance), else that owner. Blocks on
        the database: call it from a worker thread."""
        return self._on_owner_connection(lambda conn, owner: owners.claim(conn, owner, instance_id))

    def release(self) -> None:
        """Let go of this store's unfinished instances, for other processes to claim at once
        (`close` does it too). Appends for them are refused afterwards."""
        self._on_owner_connection(owners.release)

    def advertise(self, address: str | None) -> None:
        """Tell the other processes where this one serves HTTP (`Owner.url`)."""
        self._address = address
        self._on_owner_connection(lambda conn, owner: owners.advertise(conn, owner, address))

    def owner_of(self, instance_id: str) -> Owner | None:
        """The process driving `instance_id` (live or not: see `Owner.live`); None for an
        instance nobody owns (released, or created before ownership) or an unknown one."""
        return self._run(lambda conn: owners.owner_of(conn, instance_id), None)

    def owners(self) -> builtins.list[Owner]:
        """Every process registered on the database, the oldest first."""
        return self._run(owners.owners, [])

    def _write(self, appends: Sequence[WriteItem]) -> builtins.list[StoreError | None]:
        owner = self.owner
        assert owner is not None
        if self._writer is None or self._writer.closed:
            self._writer = self._connect_writer()
            self._writer_recorded = False
        conn = self._writer
        try:
            if not self._writer_recorded:  # a claimer ends it if this process is gone
                owners.record_session(conn, owner, owners.WRITER_SESSION)
                self._writer_recorded = True
            with conn.cursor() as cursor:
                if not self._ambiguous:
                    try:
                        with conn.transaction():
                            return write_batched(cursor, appends, owner)
                    except BATCH_REFUSED:
                        pass
                with conn.transaction():
                    results = write_one_by_one(
                        cursor, appends, owner, already_written=self._ambiguous
                    )
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
        rows = self._query(
            f"SELECT {_ROW_COLUMNS}, owner FROM instances WHERE id = %s", (instance_id,)
        )
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
            self._stopping.set()
            if self.owner is not None:
                try:
                    self._on_owner_connection(owners.leave)
                except StoreError as exc:  # others claim them once the lease runs out
                    _log.warning("%s: releasing instances failed: %s", self._where, exc)
            self._closed = True
            self._reader.close()
            with self._owner_lock:  # not in the middle of a renewal
                if self._owner_conn is not None:
                    self._owner_conn.close()
            with self._writer_lock:  # not in the middle of a write
                if self._writer is not None:
                    self._writer.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[Any]:
        return self._run(lambda conn: conn.execute(sql, params).fetchall(), [])

    def _run(self, query: Callable[[psycopg.Connection[Any]], _T], empty: _T) -> _T:
        """Run a query on the reader; once more on a new connection if the old one was lost."""
        self._check_open()

        def answer(conn: psycopg.Connection[Any]) -> _T:
            try:
                return query(conn)
            except (psycopg.DataError, UnicodeEncodeError):
                # A value PostgreSQL cannot hold (a NUL character, a lone surrogate) names
                # nothing stored: the answer is the one about no rows.
                return empty

        self._reader, result = run_reconnecting(
            self._reader, self._connect, answer, f"{self._where} cannot be read"
        )
        return result
