"""The sessions of `PostgresStore`: connecting, and the writer's lock that makes one process
at a time write a database.

The lock is a session-level advisory lock keyed by the schema, held by the writer's
connection: every write goes through that session, so a process writes only while it holds
the lock, and PostgreSQL lets go of it when the session ends (the process died, or it was
silent longer than its lease: ``idle_session_timeout``). A new session must take the lock
again, and cannot while another process has it.

One silence those timeouts miss: a process paused in the middle of a ``COPY`` leaves its
session *active*, reading the rest from its client, for as long as the pause lasts (neither
``idle_session_timeout``, ``idle_in_transaction_session_timeout`` nor ``statement_timeout``
ends it). A standby ends such a session itself once it has waited longer than the lease
(`end_stalled_holder`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import urllib.parse
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ._interface import StoreError
from ._postgres_schema import quote_identifier

DEFAULT_LEASE = 10.0
"""Seconds a paused or cut-off writer keeps the database before a standby may take over."""
STANDBY_POLL = 0.2
"""Seconds between a standby's tries for the writer's lock: how soon after the writing
process dies another takes over (PostgreSQL ends a killed process's session at once)."""
OWNER_LOCK = 7_366_151
"""First key of the writer's advisory lock; the second is the schema's oid."""


_NETWORK_DEFAULTS = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
}
"""libpq settings used unless the URL gives its own: a server that stops answering (its
host lost, the network cut) fails a query within about ten seconds instead of hanging it,
which matters most for the reads on the event loop's thread."""


def connect(conninfo: str, schema: str | None, where: str) -> psycopg.Connection[Any]:
    """An autocommit connection named after this process, its search path on `schema`."""
    try:
        settings = {**_NETWORK_DEFAULTS, **conninfo_to_dict(conninfo)}
        settings.setdefault(
            "application_name", f"trioflow pid {os.getpid()} on {socket.gethostname()}"[:63]
        )
        conn = psycopg.connect(make_conninfo("", **settings), autocommit=True)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {where}: {exc}") from exc
    if schema is not None:
        # The search path is set for the session, not per statement: every query of the
        # store names its tables unqualified.
        conn.execute(f"SET search_path TO {quote_identifier(schema)}")
    return conn


def try_lock(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT pg_try_advisory_lock(%s, current_schema()::regnamespace::oid::int)",
        (OWNER_LOCK,),
    ).fetchone()
    return bool(row and row[0])


def unlock(conn: psycopg.Connection[Any]) -> None:
    """Let go of the writer's lock before the connection closes: PostgreSQL ends a closed
    session a moment later, and a process reopening the database at once would find the
    lock still held. A connection already lost holds nothing any more."""
    with contextlib.suppress(psycopg.Error):
        conn.execute("SELECT pg_advisory_unlock_all()")


def lock_holder(conn: psycopg.Connection[Any]) -> str:
    """Who holds the writer's lock, as its connection named itself ("trioflow pid N on
    host"), for messages."""
    row = conn.execute(
        "SELECT a.application_name, a.client_addr FROM pg_locks AS l"
        " JOIN pg_stat_activity AS a ON a.pid = l.pid WHERE l.locktype = 'advisory'"
        " AND l.granted AND l.classid::bigint = %s"
        " AND l.objid = current_schema()::regnamespace::oid",
        (OWNER_LOCK,),
    ).fetchone()
    if row is None:
        return "another process"
    return str(row[0] or f"a process at {row[1]}")


def end_stalled_holder(conn: psycopg.Connection[Any], lease: float) -> str | None:
    """End the session holding the writer's lock if it has waited on its client in the
    middle of one statement for longer than `lease` seconds (its process is paused mid-COPY):
    who it was, as `lock_holder` names it; None if it was not so, or may not be ended."""
    try:
        row = conn.execute(
            "SELECT a.application_name, pg_terminate_backend(a.pid) FROM pg_locks AS l"
            " JOIN pg_stat_activity AS a ON a.pid = l.pid WHERE l.locktype = 'advisory'"
            " AND l.granted AND l.classid::bigint = %s"
            " AND l.objid = current_schema()::regnamespace::oid"
            " AND a.state = 'active' AND a.wait_event = 'ClientRead'"
            " AND a.state_change < now() - make_interval(secs => %s)",
            (OWNER_LOCK, lease),
        ).fetchone()
    except psycopg.errors.InsufficientPrivilege:
        return None  # another role's session: its process must come back, or die
    if row is None or not row[1]:
        return None
    return str(row[0] or "another process")


def split_url(url: str) -> tuple[str, str | None]:
    """The libpq URL without its ``schema`` parameter, and that parameter (None: ``public``)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    if len(schemas) > 1:
        raise ValueError(f"the database URL names more than one schema: {schemas}")
    if schemas and not schemas[0]:
        raise ValueError("the database URL's schema parameter is empty")
    rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "schema"])
    return urllib.parse.urlunsplit(parts._replace(query=rest)), (schemas[0] if schemas else None)


def describe(url: str) -> str:
    """The database a URL names, for messages: without its password."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "localhost"
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"PostgreSQL database {user}{host}{port}{parts.path or '/'}"
