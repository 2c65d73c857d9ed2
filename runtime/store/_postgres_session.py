"""The sessions of `PostgresStore`: its URL, and connecting with it."""

from __future__ import annotations

import os
import socket
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ._interface import StoreError
from ._postgres_schema import quote_identifier

_T = TypeVar("_T")

DEFAULT_LEASE = 10.0
"""Seconds after its last renewal when a process's instances may be claimed by others."""


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


def run_reconnecting(
    conn: psycopg.Connection[Any] | None,
    reconnect: Callable[[], psycopg.Connection[Any]],
    call: Callable[[psycopg.Connection[Any]], _T],
    failure: str,
) -> tuple[psycopg.Connection[Any], _T]:
    """``call(conn)``, on a new connection from `reconnect` where `conn` is missing or closed,
    and once more on a new one where the connection is lost during the call: the connection
    that answered, and its answer. A second loss is ``StoreError(f"{failure}: ...")``, with
    the lost connection closed (the next call makes a new one)."""
    for attempt in (1, 2):
        if conn is None or conn.closed:
            conn = reconnect()
        try:
            return conn, call(conn)
        except psycopg.OperationalError as exc:
            conn.close()
            if attempt == 2:
                raise StoreError(f"{failure}: {exc}") from exc
    raise AssertionError("unreachable")


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
