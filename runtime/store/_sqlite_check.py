"""Is a SQLite file whole? ``PRAGMA integrity_check`` for ``trioflow check``, and the
cheaper ``quick_check`` that ``SqliteStore`` runs when it opens a file for writing.

SQLite reports damage either as rows of text (anything but a single ``ok``) or, when a
page is too damaged to walk, by raising ``apsw.CorruptError`` from the check itself: both
count. ``quick_check`` reads every page once (it skips the index-against-table
comparisons of ``integrity_check``), so it costs about one read of the file: on a 170 MB
file, 0.2 s from the page cache and 2.8 s from a cold cache on a slow disk
(``benchmarks/README.md``).
"""

from __future__ import annotations

import apsw
import attrs

from ._interface import StoreError

MAX_PROBLEMS = 20


class DatabaseCorrupt(StoreError):
    """The database file is damaged: SQLite's own check found pages it cannot trust."""


@attrs.frozen(kw_only=True)
class CheckReport:
    """What ``trioflow check`` found in a database file."""

    path: str
    ok: bool
    schema_version: int | None
    known_version: int
    problems: tuple[str, ...]


def problems_of(conn: apsw.Connection, pragma: str = "integrity_check") -> tuple[str, ...]:
    """What ``PRAGMA <pragma>`` finds wrong in ``conn``'s database (nothing when it is whole)."""
    try:
        rows = [row[0] for row in conn.execute(f"PRAGMA {pragma}({MAX_PROBLEMS})")]
    except apsw.Error as exc:
        return (f"{type(exc).__name__}: {exc}",)
    return () if rows == ["ok"] else tuple(str(row) for row in rows)


def quick_check(conn: apsw.Connection, filename: str) -> None:
    """Refuse a damaged file (``DatabaseCorrupt``) before anything is read from or written to it."""
    problems = problems_of(conn, "quick_check")
    if problems:
        raise DatabaseCorrupt(
            f"database {filename!r} is damaged ({problems[0]}); it is not served:"
            f" 'trioflow check --db {filename}' reports what is wrong"
        )


def check(path: str, known_version: int) -> CheckReport:
    """Run SQLite's full ``integrity_check`` on the file at ``path`` (read-only, no lock)."""
    try:
        conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    except apsw.Error as exc:
        raise StoreError(f"cannot open database {path!r}: {exc}") from exc
    try:
        problems = problems_of(conn)
        try:
            version: int | None = conn.pragma("user_version")
        except apsw.Error as exc:
            version = None
            problems = (*problems, f"the schema version cannot be read: {exc}")
        if version is not None and version > known_version:
            problems = (
                *problems,
                f"schema version {version} is newer than this trioflow knows ({known_version})",
            )
    finally:
        conn.close()
    return CheckReport(
        path=path,
        ok=not problems,
        schema_version=version,
        known_version=known_version,
        problems=problems,
    )
