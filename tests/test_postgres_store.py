"""What only the PostgreSQL store has: its URL, its schema in a database others share,
several writers at once, a lost connection survived, and the driver as an optional dependency.
(Which writer owns which instance: `test_postgres_owners`.)"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trio
import trio.lowlevel
from _stores import POSTGRES_URL, fresh_postgres_url
from test_store_contract import append

from api._cli import main
from runtime import Runtime, WorkflowContext, activity, workflow
from runtime.store import (
    PostgresStore,
    StoreError,
    open_read_only,
    open_store,
)
from runtime.store._postgres_schema import MIGRATIONS


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_postgres_url() as fresh:
        yield fresh


def terminate(*connections: psycopg.Connection[Any]) -> None:
    """End the server side of `connections`, as a restarted server or an operator would."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        for conn in connections:
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))


def test_the_url_picks_the_store_and_its_schema(url: str) -> None:
    with open_store(url) as store:
        assert isinstance(store, PostgresStore)
        assert store.schema is not None and store.schema.startswith("test_")
        assert store.schema_version == len(MIGRATIONS)
        assert store.write([append("a", 1, new=True)]) == [None]
    with psycopg.connect(POSTGRES_URL) as conn:
        rows = conn.execute(f'SELECT id FROM "{store.schema}".instances').fetchall()
    assert rows == [("a",)]


def test_several_stores_write_one_schema_at_once(url: str) -> None:
    with PostgresStore(url) as first, PostgresStore(url) as second:
        assert first.owner != second.owner
        assert first.write([append("a", 1, new=True)]) == [None]
        assert second.write([append("b", 1, new=True)]) == [None]
        assert first.write([append("a", 2)]) == [None]
        assert second.last_seq("a") == 2 and first.last_seq("b") == 1


def test_a_read_only_store_sees_commits_and_refuses_writes(url: str) -> None:
    with PostgresStore(url) as writer, open_read_only(url) as reader:
        writer.write([append("a", 1, 2, new=True)])
        assert reader.last_seq("a") == 2
        with pytest.raises(StoreError, match="read-only"):
            reader.write([append("b", 1, new=True)])


def test_a_read_only_store_on_an_empty_schema_says_so(url: str) -> None:
    with pytest.raises(StoreError, match="holds no trioflow tables"):
        open_read_only(url)


def test_a_schema_from_a_newer_version_is_refused(url: str) -> None:
    with PostgresStore(url) as store:
        assert store._writer is not None
        store._writer.execute("UPDATE trioflow_schema SET version = version + 1")
    known = rf"newer than this version of trioflow knows \({len(MIGRATIONS)}\)"
    with pytest.raises(StoreError, match=known):
        PostgresStore(url)


def test_the_cli_creates_checks_and_upgrades_a_schema(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check", "--db", url])
    assert exited.value.code == 1
    assert "holds no trioflow tables" in capsys.readouterr().out
    main(["upgrade", "--db", url])
    assert capsys.readouterr().out == f"schema version none -> {len(MIGRATIONS)}\n"
    main(["upgrade", "--db", url])
    assert capsys.readouterr().out == f"schema version {len(MIGRATIONS)}: up to date\n"
    main(["check", "--db", url])
    assert "integrity: ok" in capsys.readouterr().out


def test_a_lost_connection_is_replaced_by_the_next_write_and_read(url: str) -> None:
    with PostgresStore(url) as store:
        assert store.write([append("a", 1, new=True)]) == [None]
        assert store._writer is not None
        terminate(store._writer, store._reader)
        assert store.write([append("a", 2), append("b", 1, new=True)]) == [None, None]
        assert [r.seq for r in store.read("a")] == [1, 2] and store.last_seq("b") == 1


def test_a_server_that_does_not_answer_fails_the_write_whole(url: str) -> None:
    with PostgresStore(url) as store:
        store._conninfo = "postgresql://postgres@127.0.0.1:1/none"  # nothing listens there
        assert store._writer is not None
        terminate(store._writer)
        with pytest.raises(StoreError, match="cannot connect"):
            store.write([append("a", 1, new=True)])
        assert store.get("a") is None  # the reader's connection still answers


def test_a_commit_whose_answer_was_lost_counts_as_written_on_the_retry(url: str) -> None:
    with PostgresStore(url) as store:
        group = [append("a", 1, 2, new=True), append("b", 1, new=True)]
        assert store.write(group) == [None, None]
        # As if the connection had dropped after the server applied the COMMIT.
        store._ambiguous = True
        assert store.write(group) == [None, None]
        assert [r.seq for r in store.read("a")] == [1, 2]
        # Only the same records count: other ones at those seqs are a conflict still.
        store._ambiguous = True
        [error] = store.write([append("a", 2, workflow="other", status="failed")])
        assert error is None  # same records (the status is the summary, not a record)
        store._ambiguous = True
        different = append("a", 2)
        different = type(different)(
            instance_id="a",
            records=(type(different.records[0])(seq=2, kind="x", version=1, at=0.0, data="{}"),),
            summary=different.summary,
        )
        [error] = store.write([different])
        assert error is not None and "expected seq 3, got 2" in str(error)


def test_without_the_driver_a_postgres_url_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "runtime.store._postgres")
    with pytest.raises(StoreError, match=r"pip install 'trioflow\[postgres\]'"):
        open_store("postgresql://nobody@127.0.0.1/none")


@activity
async def pg_double(n: int) -> int:
    return n * 2


@workflow
async def pg_doubled_twice(ctx: WorkflowContext, n: int) -> int:
    first: Any = await ctx.run(pg_double, n)
    return int(await ctx.run(pg_double, first))


async def test_a_runtime_survives_its_connections_being_dropped(url: str) -> None:
    """A dropped connection is a storage fault: the journal writer retries, nothing is lost."""
    async with Runtime.open(url) as runtime:
        store = runtime._services.store
        assert isinstance(store, PostgresStore)
        ids = [await runtime.start(pg_doubled_twice, n) for n in range(20)]
        for _ in range(3):
            assert store._writer is not None
            terminate(store._writer, store._reader)
            ids += [await runtime.start(pg_doubled_twice, n) for n in range(20, 25)]
            await trio.lowlevel.checkpoint()
        results = [await runtime.result(i, timeout=30) for i in ids]
    assert results == [n * 4 for n in range(20)] + [n * 4 for _ in range(3) for n in range(20, 25)]
    with open_read_only(url) as reader:
        assert reader.counts_by_status() == {"completed": 35}


@pytest.mark.parametrize("lease", [0, -1, float("nan"), 86400])
def test_the_lease_is_checked(url: str, lease: float) -> None:
    with pytest.raises(ValueError, match="lease must be between 0 and 86400 seconds"):
        PostgresStore(url, lease=lease)


def test_a_lease_is_refused_for_a_sqlite_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="a lease needs a PostgreSQL database"):
        open_store(str(tmp_path / "a.db"), lease=3.0)
    assert not (tmp_path / "a.db").exists()
