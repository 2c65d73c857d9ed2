from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import apsw
import pytest

from runtime.store import (
    Append,
    DatabaseLocked,
    NewInstance,
    SqliteStore,
    StoredRecord,
    StoreError,
    Summary,
    Write,
    _sqlite,
    _sqlite_write,
)
from runtime.store._sqlite import MIGRATIONS


def record(seq: int, kind: str = "step", data: str = '{"n": 1}') -> StoredRecord:
    return StoredRecord(seq=seq, kind=kind, version=1, at=1000.0 + seq, data=data)


def append(
    instance_id: str,
    first: int,
    count: int = 1,
    *,
    new: bool = False,
    status: str = "running",
    workflow: str = "wf",
    **extra: Any,
) -> Append:
    return Append(
        instance_id=instance_id,
        records=tuple(record(seq) for seq in range(first, first + count)),
        summary=Summary(status=status, updated_at=2000.0 + first),
        new=NewInstance(workflow=workflow, input='{"x": 1}', created_at=1000.0) if new else None,
        **extra,
    )


def write_one_by_one(store: SqliteStore, group: Sequence[Write]) -> list[StoreError | None]:
    """Write `group` as `write` does after its batched path was refused: the reference outcome."""
    cursor = store._writer.cursor()
    cursor.execute("BEGIN IMMEDIATE")
    results = _sqlite_write.write_one_by_one(cursor, group)
    cursor.execute("COMMIT")
    return results


def outcome(results: list[StoreError | None]) -> list[tuple[type[StoreError], str] | None]:
    return [None if r is None else (type(r), str(r)) for r in results]


def dump(store: SqliteStore) -> dict[str, list[Any]]:
    """Every row of every table, with the keys SQLite assigned (instances.pk, events.pos)."""
    tables = ("instances", "journal", "timers", "waits", "events")
    return {t: store._reader.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables}


@contextlib.contextmanager
def statements(store: SqliteStore) -> Iterator[list[str]]:
    """The SQL statements the store's writer runs inside the block."""
    seen: list[str] = []

    def trace(cursor: apsw.Cursor, sql: str, bindings: Any) -> bool:
        seen.append(sql)
        return True

    store._writer.exec_trace = trace
    try:
        yield seen
    finally:
        store._writer.exec_trace = None


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "trioflow.db") as store:
        yield store


def test_failed_transaction_commits_nothing_and_store_stays_usable(store: SqliteStore) -> None:
    def refuse_commit(cursor: apsw.Cursor, sql: str, bindings: Any) -> bool:
        return not sql.startswith("COMMIT")

    store._writer.exec_trace = refuse_commit
    with pytest.raises(apsw.ExecTraceAbort):
        store.write([append("a", 1, new=True), append("b", 1, new=True)])
    store._writer.exec_trace = None

    assert store.get("a") is None and store.read("b") == []
    assert store.write([append("a", 1, new=True)]) == [None]


def test_a_read_only_store_on_the_same_file_sees_commits(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "db") as one, SqliteStore(tmp_path / "db", read_only=True) as two:
        one.write([append("a", 1, 3, new=True)])
        assert two.last_seq("a") == 3
        with pytest.raises(StoreError, match="opened read-only"):
            two.write([append("b", 1, new=True)])
        assert one.get("b") is None


def test_a_second_writing_store_on_one_file_is_refused_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with SqliteStore(path) as one:
        with pytest.raises(DatabaseLocked, match=rf"in use by process {os.getpid()} .*db\.lock"):
            SqliteStore(path)
        one.write([append("a", 1, new=True)])  # the holder goes on undisturbed
        assert (tmp_path / "db.lock").read_text() == f"{os.getpid()}\n"
    with SqliteStore(path) as again:  # closing let go of the lock
        assert again.last_seq("a") == 1


def test_a_read_only_store_neither_creates_nor_migrates(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        SqliteStore(tmp_path / "none.db", read_only=True)
    assert not (tmp_path / "none.db").exists()


def test_reopening_keeps_data_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with SqliteStore(path) as store:
        store.write([append("a", 1, 2, new=True)])
        assert store.schema_version == len(MIGRATIONS)
    with SqliteStore(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.read("a") == [record(1), record(2)]


def test_opening_an_older_file_applies_the_new_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db"
    with SqliteStore(path) as store:
        store.write([append("a", 1, new=True)])
    monkeypatch.setattr(_sqlite, "MIGRATIONS", (*MIGRATIONS, "CREATE TABLE later (x INTEGER);"))
    with SqliteStore(path) as store:
        assert store.schema_version == len(MIGRATIONS) + 1
        assert store.last_seq("a") == 1
        assert store._reader.execute("SELECT count(*) FROM later").get == 0


def test_a_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db"
    SqliteStore(path).close()
    conn = apsw.Connection(str(path))
    conn.pragma("user_version", len(MIGRATIONS) + 1)
    conn.close()
    known = len(MIGRATIONS)
    with pytest.raises(
        StoreError, match=rf"schema version {known + 1}, newer than .* knows \({known}\)"
    ):
        SqliteStore(path)


@pytest.mark.parametrize(("synchronous", "level"), [("normal", 1), ("full", 2)])
def test_wal_and_synchronous_are_set(tmp_path: Path, synchronous: Any, level: int) -> None:
    with SqliteStore(tmp_path / "db", synchronous=synchronous) as store:
        assert store._writer.pragma("journal_mode") == "wal"
        assert store._writer.pragma("synchronous") == level


@pytest.mark.parametrize("synchronous", ["off", "FULL", "extra", ""])
def test_synchronous_is_checked(tmp_path: Path, synchronous: Any) -> None:
    with pytest.raises(ValueError, match="synchronous must be 'normal' or 'full'"):
        SqliteStore(tmp_path / "db", synchronous=synchronous)
    assert not (tmp_path / "db").exists()


@pytest.mark.parametrize("path", [":memory:", ""])
def test_in_memory_database_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="needs a database file"):
        SqliteStore(path)


def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        SqliteStore(tmp_path / "missing-dir" / "db")


def test_close_is_idempotent_and_final(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="the store is closed"):
        store.get("a")
    with pytest.raises(StoreError, match="the store is closed"):
        store.write([append("a", 1, new=True)])
