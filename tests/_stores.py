"""Both stores for the tests that hold for every `Store`: a `store` fixture over SQLite and
PostgreSQL, and the few things a test needs to look inside one (its rows, in the order the
database keeps them; the one-by-one write that is the reference outcome of a group).

PostgreSQL comes from ``TRIOFLOW_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1/
test``). Each store gets a PostgreSQL schema of its own with a unique name, dropped afterwards,
so that runs on one server never meet. Tests on PostgreSQL are skipped, saying why, only when
no server answers there.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from runtime.store import PostgresStore, SqliteStore, Store, StoreError, Write, _sqlite_write

POSTGRES_URL = os.environ.get("TRIOFLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1/test")
KINDS = ("sqlite", "postgres")


@functools.cache
def postgres_unreachable() -> str | None:
    """Why no PostgreSQL server answers at `POSTGRES_URL`; None when one does."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"no PostgreSQL server answers at {POSTGRES_URL} ({first})"
    return None


def skip_without_postgres() -> None:
    reason = postgres_unreachable()
    if reason is not None:
        pytest.skip(reason)


def schema_url(schema: str) -> str:
    """`POSTGRES_URL` on `schema`. Its commits do not wait for the WAL's flush: a test never
    survives the server's own crash, and the model test commits some thousand times."""
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}schema={schema}&options=-csynchronous_commit%3Doff"


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.contextmanager
def fresh_postgres_url() -> Iterator[str]:
    """The URL of a new PostgreSQL schema with a unique name, dropped on exit."""
    skip_without_postgres()
    schema = f"test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    try:
        yield schema_url(schema)
    finally:
        drop_schema(schema)


_REUSED: dict[str, str] = {}
"""Schemas a test reuses by name in this process (emptied each time; dropped at exit)."""


def emptied_postgres_url(name: str) -> str:
    """The URL of this process's schema called `name`, emptied: the tables of a store that was
    there are truncated (much cheaper than a new schema, for a test that needs hundreds)."""
    skip_without_postgres()
    schema = _REUSED.get(name)
    if schema is None:
        schema = _REUSED[name] = f"test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        atexit.register(drop_schema, schema)
    else:
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            tables = ", ".join(
                f'"{schema}".{table}'
                for table in (
                    "instances",
                    "journal",
                    "timers",
                    "events",
                    "waits",
                    "correlations",
                    "inbox",
                    "owners",
                )
            )
            conn.execute(f"TRUNCATE {tables}")
    return schema_url(schema)


@contextlib.contextmanager
def fresh_database(kind: str, reuse: str | None = None) -> Iterator[str]:
    """Where a new, empty store of `kind` opens: a SQLite file or a PostgreSQL schema URL
    (with `reuse`, the schema of that name, emptied: see `emptied_postgres_url`)."""
    if kind == "postgres":
        if reuse is not None:
            yield emptied_postgres_url(reuse)
            return
        with fresh_postgres_url() as url:
            yield url
        return
    directory = tempfile.mkdtemp(prefix="trioflow-store-")
    try:
        yield os.path.join(directory, "store.db")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def open_store(kind: str, where: str) -> SqliteStore | PostgresStore:
    return PostgresStore(where) if kind == "postgres" else SqliteStore(where)


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """An empty store of each kind."""
    with fresh_database(request.param) as where, open_store(request.param, where) as opened:
        yield opened


def write_one_by_one(store: Store, group: Sequence[Write]) -> list[StoreError | None]:
    """Write `group` as `write` does after its batched path was refused: the reference outcome."""
    if isinstance(store, PostgresStore):
        from runtime.store import _postgres_write

        conn = store._writer
        assert conn is not None and store.owner is not None
        with conn.transaction(), conn.cursor() as cursor:
            return _postgres_write.write_one_by_one(cursor, group, store.owner)
    assert isinstance(store, SqliteStore)
    cursor = store._writer.cursor()
    cursor.execute("BEGIN IMMEDIATE")
    results = _sqlite_write.write_one_by_one(cursor, group)
    cursor.execute("COMMIT")
    return results


_TABLES = {
    # The columns compared, without the keys the database numbers itself (PostgreSQL does
    # not give back a number a rolled-back insert took), in the order they were numbered.
    "instances": ("id, workflow, status, input, output, error, waiting_on, created_at,"
                  " updated_at, last_seq", "pk"),
    "journal": ("*", "instance_id, seq"),
    "timers": ("*", "instance_id, step"),
    "waits": ("instance_id, step, type, subject, message", "opened, instance_id, step"),
    "events": ("source, id, type, subject, instanceid, event, received_at, expires_at", "pos"),
}  # fmt: skip


def dump(store: Store) -> dict[str, list[Any]]:
    """Every row of every table, in the order the database numbered them where it does."""
    rows: dict[str, list[Any]] = {}
    for table, (columns, order) in _TABLES.items():
        sql = f"SELECT {columns} FROM {table} ORDER BY {order}"
        if isinstance(store, PostgresStore):
            rows[table] = [tuple(row) for row in store._reader.execute(sql).fetchall()]
        else:
            assert isinstance(store, SqliteStore)
            rows[table] = [tuple(row) for row in store._reader.execute(sql).fetchall()]
    return rows


def event_keys(store: Store) -> list[tuple[str, str]]:
    """``(source, id)`` of the stored events, in arrival order."""
    return [(row[0], row[1]) for row in dump(store)["events"]]
