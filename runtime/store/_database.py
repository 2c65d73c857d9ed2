"""A database opened from outside a runtime: by the commands that only read it, and by
``trioflow check``."""

from __future__ import annotations

import os

from ._sqlite import MIGRATIONS, SqliteStore
from ._sqlite_check import CheckReport, check


def open_read_only(path: str) -> SqliteStore:
    """The store in the SQLite file at ``path``, read-only (no lock, no migration), so it
    works beside the runtime that has the file open. The file must exist: reading makes
    no new one."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no database at {path!r} (--db names it)")
    return SqliteStore(path, read_only=True)


def check_database(path: str) -> CheckReport:
    """SQLite's full ``integrity_check`` of the file at ``path``, and its schema version
    beside the one this trioflow knows (read-only, no lock)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no database at {path!r} (--db names it)")
    return check(path, len(MIGRATIONS))
