"""The PostgreSQL schema of `PostgresStore`: its migrations and how they are applied.

The tables live in one PostgreSQL schema (``public`` unless the store is given another), so
that several trioflow databases, or a test run's, can share one PostgreSQL database. Text that
is compared or sorted (ids, types, subjects) uses the ``"C"`` collation: byte order, which for
UTF-8 is code point order, as in SQLite, so that ``list`` pages, prefixes and cursors behave
the same whatever collation the database was created with.

The version is the one row of ``trioflow_schema``. Migrations run under a transaction-scoped
advisory lock, so two processes opening one database at once apply each migration once.
"""

from __future__ import annotations

from typing import Any

from ._interface import StoreError
from ._postgres_owners import OWNER_SESSIONS, OWNERS_HEARTBEAT, OWNERS_TABLE
from ._postgres_prune import FINISHED_INDEX
from ._postgres_routing import EVENTS_STORED_BY, ROUTING_MIGRATION

MIGRATIONS: tuple[str, ...] = (
    # 1: instances, journal, timers, events, waits, correlations (SQLite's migrations 1-3).
    """
    CREATE TABLE instances (
        pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT COLLATE "C" NOT NULL UNIQUE,
        workflow TEXT COLLATE "C" NOT NULL,
        status TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        waiting_on TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        last_seq BIGINT NOT NULL
    );
    CREATE INDEX instances_status ON instances (status, pk);
    CREATE INDEX instances_workflow ON instances (workflow, pk);
    CREATE TABLE journal (
        instance_id TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        version BIGINT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (instance_id, seq)
    );
    CREATE TABLE timers (
        instance_id TEXT COLLATE "C" NOT NULL,
        step BIGINT NOT NULL,
        fire_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (instance_id, step)
    );
    CREATE INDEX timers_fire_at ON timers (fire_at);
    CREATE TABLE events (
        pos BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        source TEXT COLLATE "C" NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        type TEXT COLLATE "C" NOT NULL,
        subject TEXT COLLATE "C",
        instanceid TEXT COLLATE "C",
        event TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION,
        UNIQUE (source, id)
    );
    CREATE INDEX events_type_subject ON events (type, subject);
    CREATE INDEX events_instanceid ON events (instanceid) WHERE instanceid IS NOT NULL;
    CREATE INDEX events_received_at ON events (received_at);
    CREATE INDEX events_buffered ON events (type, subject, expires_at)
        WHERE expires_at IS NOT NULL;
    CREATE SEQUENCE wait_opened;
    CREATE TABLE waits (
        instance_id TEXT COLLATE "C" NOT NULL,
        step BIGINT NOT NULL,
        type TEXT COLLATE "C" NOT NULL,
        subject TEXT COLLATE "C",
        message TEXT COLLATE "C",
        opened BIGINT NOT NULL DEFAULT nextval('wait_opened'),
        PRIMARY KEY (instance_id, step)
    );
    CREATE INDEX waits_type_subject ON waits (type, subject);
    CREATE INDEX waits_opened ON waits (opened);
    CREATE TABLE correlations (
        source TEXT COLLATE "C" NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        workflow TEXT COLLATE "C" NOT NULL,
        instance_id TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (source, id, workflow)
    );
    """,
    # 2: runs (continue_as_new): the current run's number and the seq of its first record.
    """
    ALTER TABLE instances ADD COLUMN run BIGINT NOT NULL DEFAULT 1;
    ALTER TABLE instances ADD COLUMN run_seq BIGINT NOT NULL DEFAULT 1;
    """,
    # 3: retention finds the finished instances, oldest first (`_postgres_prune`).
    FINISHED_INDEX,
    # 4: events carry their transaction for the routing poll; commands for other processes
    # wait in an inbox (`_postgres_routing`).
    ROUTING_MIGRATION,
    # 5: the processes sharing the database, and which one drives each instance
    # (`_postgres_owners`).
    OWNERS_TABLE,
    # 6: an owner that died is gone before its lease runs out (`_postgres_owners`).
    OWNERS_HEARTBEAT,
    # 7: which process stored each event; its own routing poll skips it (`_postgres_routing`).
    EVENTS_STORED_BY,
    # 8: the sessions of each owner, which a claimer ends once it is gone (`_postgres_owners`).
    OWNER_SESSIONS,
)
"""Schema migrations; ``trioflow_schema.version`` is how many have been applied. Append, never
edit: a database made by an older trioflow is upgraded by the ones it lacks."""

_MIGRATION_LOCK = 7_366_151_262_001
"""The advisory lock key taken while migrating (any constant other software is unlikely to use)."""


def quote_identifier(name: str) -> str:
    """``name`` as a PostgreSQL identifier (double-quoted), for a schema name in SQL text."""
    if not name or "\x00" in name:
        raise ValueError(f"invalid PostgreSQL schema name {name!r}")
    return '"' + name.replace('"', '""') + '"'


def schema_version(conn: Any) -> int | None:
    """How many migrations the store's schema has had; None when it has no trioflow tables."""
    row = conn.execute("SELECT to_regclass('trioflow_schema') IS NOT NULL").fetchone()
    if not row[0]:
        return None
    version = conn.execute("SELECT version FROM trioflow_schema").fetchone()
    return None if version is None else int(version[0])


def check_version(version: int | None, where: str) -> None:
    known = len(MIGRATIONS)
    if version is not None and version > known:
        raise StoreError(
            f"{where} has schema version {version}, newer than this version of trioflow"
            f" knows ({known}): upgrade trioflow to open it"
        )


def migrate(conn: Any, schema: str | None, where: str) -> int:
    """Create `schema` if it is named and missing, then apply the migrations it lacks, all in
    one transaction under an advisory lock. Returns the version reached."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        if schema is not None:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
        version = schema_version(conn)
        check_version(version, where)
        if version is None:
            conn.execute("CREATE TABLE trioflow_schema (version INTEGER NOT NULL)")
            conn.execute("INSERT INTO trioflow_schema VALUES (0)")
            version = 0
        while version < len(MIGRATIONS):
            conn.execute(MIGRATIONS[version])
            version += 1
        conn.execute("UPDATE trioflow_schema SET version = %s", (version,))
    return version
