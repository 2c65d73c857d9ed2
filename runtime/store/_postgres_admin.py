"""``trioflow check`` and ``trioflow upgrade`` on a PostgreSQL database: its schema version,
and the migrations it lacks applied (beside running servers: the migrations take their own
lock, not the writer's)."""

from __future__ import annotations

from ._postgres_schema import MIGRATIONS, migrate, schema_version
from ._postgres_session import connect, describe, split_url
from ._sqlite_check import CheckReport


def check(url: str) -> CheckReport:
    """The schema version of the database at ``url`` beside the one this trioflow knows
    (its integrity is PostgreSQL's business)."""
    conninfo, schema = split_url(url)
    where = describe(url)
    with connect(conninfo, schema, where) as conn:
        version = schema_version(conn)
    problems: tuple[str, ...] = ()
    if version is None:
        problems = ("it holds no trioflow tables ('trioflow upgrade' creates them)",)
    elif version > len(MIGRATIONS):
        problems = (
            f"schema version {version} is newer than this trioflow knows ({len(MIGRATIONS)})",
        )
    return CheckReport(
        path=where,
        ok=not problems,
        schema_version=version,
        known_version=len(MIGRATIONS),
        problems=problems,
    )


def upgrade(url: str) -> tuple[int | None, int]:
    """Create or upgrade the schema at ``url``; its version before (None: none) and after."""
    conninfo, schema = split_url(url)
    where = describe(url)
    with connect(conninfo, schema, where) as conn:
        before = schema_version(conn)
        return before, migrate(conn, schema, where)
