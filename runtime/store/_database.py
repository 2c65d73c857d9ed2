"""A database named by a path or a URL: the store it is opened with, by the runtime and by
the commands that only read it (``trioflow check``, ``instances``, ``show``, ...).

A path names a SQLite file; ``postgresql://...`` (or ``postgres://...``) a PostgreSQL
database, whose store needs the psycopg driver (the ``postgres`` extra).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from ._interface import StoreError
from ._sqlite import MIGRATIONS, SqliteStore
from ._sqlite_check import CheckReport, check

if TYPE_CHECKING:
    from ._postgres import PostgresStore


def is_postgres_url(path: str) -> bool:
    """Whether ``path`` names a PostgreSQL database rather than a SQLite file."""
    return path.startswith(("postgresql://", "postgres://"))


def postgres_store() -> type[PostgresStore]:
    """The `PostgresStore` class; a clear error when its driver is not installed."""
    try:
        from ._postgres import PostgresStore
    except ImportError as exc:
        if not (exc.name or "").startswith("psycopg"):
            raise
        raise StoreError(
            "a PostgreSQL database needs the psycopg driver: pip install 'trioflow[postgres]'"
        ) from exc
    return PostgresStore


def open_store(
    path: str,
    *,
    synchronous: Literal["normal", "full"] = "normal",
    check: bool = True,
    lease: float | None = None,
    address: str | None = None,
) -> SqliteStore | PostgresStore:
    """The store for writing the database at ``path`` (a SQLite file) or URL (PostgreSQL).
    ``synchronous`` and ``check`` concern SQLite only; ``lease`` (seconds after which the
    instances of a paused or dead process are claimed by the others; default 10) and ``address``
    (where this process serves, shown to the others) PostgreSQL only."""
    if is_postgres_url(path):
        if lease is None:
            return postgres_store()(path, address=address)
        return postgres_store()(path, lease=lease, address=address)
    if lease is not None:
        raise ValueError(
            "a lease needs a PostgreSQL database (postgresql://...): a SQLite file is"
            " written by one process, which holds it until it exits"
        )
    return SqliteStore(path, synchronous=synchronous, check=check)


def open_read_only(path: str) -> SqliteStore | PostgresStore:
    """The store at ``path``, read-only (no lock, no migration), so it works beside the
    runtime that has it open. A SQLite file must exist: reading makes no new one."""
    if is_postgres_url(path):
        return postgres_store()(path, read_only=True)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no database at {path!r} (--db names it)")
    return SqliteStore(path, read_only=True)


def check_database(path: str) -> CheckReport:
    """SQLite's full ``integrity_check`` of the file at ``path``, and its schema version
    beside the one this trioflow knows (read-only, no lock). For a PostgreSQL database
    (whose integrity is the server's business) its schema version only."""
    if is_postgres_url(path):
        postgres_store()  # the clear error when psycopg is missing
        from ._postgres_admin import check as check_postgres

        return check_postgres(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no database at {path!r} (--db names it)")
    return check(path, len(MIGRATIONS))


def upgrade_database(path: str) -> tuple[int | None, int]:
    """Create or upgrade the schema of the database at ``path``: its version before (None:
    it had none) and after. A SQLite file is made if missing."""
    if is_postgres_url(path):
        postgres_store()
        from ._postgres_admin import upgrade

        return upgrade(path)
    before = None
    if os.path.exists(path):
        before = check(path, len(MIGRATIONS)).schema_version
    with SqliteStore(path) as store:
        return before, store.schema_version
