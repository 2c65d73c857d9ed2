"""Several processes on one PostgreSQL database: each instance is owned by one store, every
append is fenced by that ownership, and the instances of a store whose lease ran out (or that
closed) are claimed by another, each by one claimer only."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import trio
import trio.testing
from _stores import POSTGRES_URL, fresh_postgres_url
from test_store_contract import append

from runtime import Event, Runtime, WorkflowContext, workflow
from runtime.store import NotOwner, PostgresStore, WaitRow
from runtime.store import _postgres_owners as owners
from runtime.store._postgres_routing import owners_of


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_postgres_url() as fresh:
        yield fresh


def expire(store: PostgresStore) -> None:
    """As if `store`'s process were paused past its lease: it renews nothing, and its lease
    is over (set in the past rather than waited for)."""
    store._stopping.set()
    assert store.owner is not None
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(
            f"UPDATE \"{store.schema}\".owners SET expires_at = now() - interval '1 second'"
            " WHERE id = %s",
            (store.owner,),
        )


def stale(store: PostgresStore) -> None:
    """As if `store` had missed many heartbeats (its lease still runs)."""
    store._stopping.set()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(
            f"UPDATE \"{store.schema}\".owners SET renewed_at = now() - interval '1 minute'"
            " WHERE id = %s",
            (store.owner,),
        )


def end_session(conn: psycopg.Connection[Any] | None) -> None:
    """End the server side of `conn` (its process was killed), and wait until it is gone."""
    assert conn is not None
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (conn.info.backend_pid,))


def journal_kinds(store: PostgresStore, instance_id: str) -> list[str]:
    return [r.kind for r in store.read(instance_id)]


def test_a_new_instance_is_owned_by_the_store_that_created_it(url: str) -> None:
    with PostgresStore(url, address="http://127.0.0.1:8001") as first, PostgresStore(url) as second:
        assert first.write([append("a", 1, new=True)]) == [None]
        owner = second.owner_of("a")
        assert owner is not None and owner.id == first.owner
        assert owner.live and owner.pid == os.getpid() and owner.host == socket.gethostname()
        assert owner.url == "http://127.0.0.1:8001"
        assert owner.expires_at > time.time()
        assert [o.id for o in second.owners()] == [first.owner, second.owner]
        assert second.owner_of("nobody") is None
        second.advertise("http://127.0.0.1:8002")
        assert [o.url for o in first.owners()] == ["http://127.0.0.1:8001", "http://127.0.0.1:8002"]


def test_a_live_owners_instances_are_not_claimed(url: str) -> None:
    with PostgresStore(url) as first, PostgresStore(url) as second:
        first.write([append("a", 1, new=True, status="waiting")])
        assert second.claim_orphans() == []
        held = second.claim("a")
        assert held is not None and held.id == first.owner
        [refused] = second.write([append("a", 2)])
        assert isinstance(refused, NotOwner) and refused.owner == first.owner
        assert second.claim("unknown") is None


def test_a_stale_owners_append_is_refused_and_the_rest_of_its_group_commits(url: str) -> None:
    with PostgresStore(url) as first, PostgresStore(url) as second:
        group = [append(i, 1, new=True, status="waiting") for i in ("a", "b", "c")]
        assert first.write(group) == [None, None, None]
        expire(first)
        assert second.claim_orphans(limit=2) == ["a", "b"]
        owner = first.owner_of("a")
        assert owner is not None and owner.id == second.owner
        refused, *rest = first.write([append("a", 2), append("c", 2), append("d", 1, new=True)])
        assert isinstance(refused, NotOwner) and rest == [None, None]
        assert refused.instance_id == "a" and refused.owner == second.owner
        # Not a record of the stale owner reached the instance another one took.
        assert journal_kinds(second, "a") == ["step"]
        assert second.write([append("a", 2), append("b", 2)]) == [None, None]
        [refused] = first.write([append("b", 3)])
        assert isinstance(refused, NotOwner)
        assert second.last_seq("b") == 2


def test_each_claim_counts_one_more_epoch(url: str) -> None:
    def epoch(instance_id: str) -> int:
        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            row = conn.execute(
                f'SELECT epoch FROM "{first.schema}".instances WHERE id = %s', (instance_id,)
            ).fetchone()
        assert row is not None
        return int(row[0])

    with PostgresStore(url) as first:
        first.write([append("a", 1, new=True)])
        assert epoch("a") == 1
        with PostgresStore(url) as second:
            expire(first)
            assert second.claim("a") is None
            assert epoch("a") == 2
        first.release()  # second closed: it released "a", which nobody owns now
        assert first.owner_of("a") is None
        first.write([append("a", 2)])  # a released instance is the next writer's
        assert epoch("a") == 3


def test_two_claimers_take_different_orphans_without_waiting(url: str) -> None:
    with PostgresStore(url) as first:
        first.write([append(f"i{n}", 1, new=True, status="waiting") for n in range(6)])
        expire(first)
        with PostgresStore(url) as second, PostgresStore(url) as third:
            assert second.owner is not None
            with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
                conn.execute(f'SET search_path TO "{first.schema}"')
                with conn.transaction():
                    # The second's claim is not committed yet: its rows stay locked.
                    taken = owners.claim_orphans(conn, second.owner, 4)
                    assert taken == ["i0", "i1", "i2", "i3"]
                    began = time.monotonic()
                    assert third.claim_orphans(limit=10) == ["i4", "i5"]
                    assert time.monotonic() - began < 1.0  # skipped, not waited for
            assert third.claim_orphans() == []
            held = {i: third.owner_of(i) for i in ("i0", "i4")}
            assert [o.id if o else None for o in held.values()] == [second.owner, third.owner]


def test_closing_releases_the_unfinished_instances_at_once(url: str) -> None:
    with PostgresStore(url) as second:
        with PostgresStore(url) as first:
            first.write(
                [
                    append("a", 1, new=True, status="waiting"),
                    append("b", 1, new=True, status="completed"),
                    append("s", 1, new=True, status="suspended"),
                ]
            )
            assert second.claim_orphans() == []
        assert second.owner_of("a") is None
        assert [o.id for o in second.owners()] == [second.owner]
        # Finished and suspended instances are nobody's to drive: not claimed.
        assert second.claim_orphans() == ["a"]
        assert second.write([append("a", 2)]) == [None]


def test_an_owner_whose_lease_ran_out_keeps_what_nobody_took(url: str) -> None:
    with PostgresStore(url) as first:
        first.write([append("a", 1, new=True)])
        expire(first)
        assert first.write([append("a", 2)]) == [None]
        owner = first.owner_of("a")
        assert owner is not None and not owner.live


def test_an_append_to_a_dead_owners_instance_takes_it(url: str) -> None:
    with PostgresStore(url) as first, PostgresStore(url) as second:
        first.write([append("a", 1, new=True)])
        expire(first)
        assert second.write([append("a", 2)]) == [None]
        owner = second.owner_of("a")
        assert owner is not None and owner.id == second.owner
        [refused] = first.write([append("a", 3)])
        assert isinstance(refused, NotOwner)


def test_the_lease_is_renewed_while_the_store_is_open(url: str) -> None:
    with PostgresStore(url, lease=0.4) as first, PostgresStore(url) as second:
        first.write([append("a", 1, new=True, status="waiting")])
        time.sleep(1.2)  # three leases: only the renewals keep it
        assert second.claim_orphans() == []
        owner = second.owner_of("a")
        assert owner is not None and owner.live


def test_a_read_only_store_owns_nothing(url: str) -> None:
    with PostgresStore(url) as first, PostgresStore(url, read_only=True) as reader:
        assert reader.owner is None
        assert [o.id for o in reader.owners()] == [first.owner]
        with pytest.raises(Exception, match="read-only"):
            reader.claim_orphans()


@workflow
async def owners_parked(ctx: WorkflowContext, n: int) -> int:
    event = await ctx.wait_event("owners.go", subject=str(n))
    return n + int(event.data)


@workflow
async def owners_napping(ctx: WorkflowContext, n: int) -> int:
    await ctx.sleep(10)
    return n


async def waiting(runtime: Runtime, ids: list[str]) -> None:
    await trio.testing.wait_all_tasks_blocked()
    assert {(await runtime.get(i)).status for i in ids} == {"waiting"}


async def test_a_runtime_takes_over_a_dead_processs_instances_every_quarter_lease(
    url: str, autojump_clock: trio.testing.MockClock
) -> None:
    dead = PostgresStore(url)
    async with Runtime.open(url, lease=4.0) as second:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(owners, "leave", lambda conn, owner: None)  # killed: it leaves nothing
            async with Runtime.open(url, store=dead) as first:
                ids = [await first.start(owners_parked, n) for n in range(3)]
                await waiting(first, ids)
        store = second._services.store
        assert isinstance(store, PostgresStore)
        assert [store.owner_of(i).id for i in ids] == [dead.owner] * 3  # type: ignore[union-attr]
        expire(dead)
        await trio.sleep(1.5)  # a quarter lease: one round of claims at least
        assert [store.owner_of(i).id for i in ids] == [store.owner] * 3  # type: ignore[union-attr]
        for n in range(3):
            await second.publish(Event(type="owners.go", subject=str(n), data=10))
        assert [await second.result(i, timeout=5) for i in ids] == [10, 11, 12]


async def test_a_runtime_that_closes_hands_its_instances_over_at_once(
    url: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(url, lease=400.0) as second:
        async with Runtime.open(url) as first:
            ids = [await first.start(owners_parked, n) for n in range(2)]
            await waiting(first, ids)
        await trio.sleep(101)  # a quarter lease: no lease ran out, the close released them
        store = second._services.store
        assert isinstance(store, PostgresStore)
        assert [store.owner_of(i).id for i in ids] == [store.owner] * 2  # type: ignore[union-attr]
        for n in range(2):
            await second.publish(Event(type="owners.go", subject=str(n), data=1))
        assert [await second.result(i, timeout=5) for i in ids] == [1, 2]


async def test_a_runtime_drops_an_instance_another_process_took_and_writes_nothing_to_it(
    url: str, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with Runtime.open(url) as first:
        store = first._services.store
        assert isinstance(store, PostgresStore)
        iid = await first.start(owners_napping, 7)
        await waiting(first, [iid])
        with PostgresStore(url) as other:
            expire(store)  # paused past its lease, as far as the others can tell
            assert other.claim_orphans() == [iid]
            before = other.read(iid)
            await trio.sleep(11)  # its timer fires here: the append is refused
            assert other.read(iid) == before
            assert (await first.get(iid)).status == "waiting"
            assert not first._services.system.is_resident(iid)
    assert f"instance {iid} was taken over by {other.owner}" in caplog.text


def test_the_rows_of_long_dead_owners_that_hold_nothing_unfinished_go(url: str) -> None:
    with PostgresStore(url) as first, PostgresStore(url) as second:
        first.write([append("a", 1, new=True, status="waiting")])
        first._stopping.set()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(
                f"UPDATE \"{first.schema}\".owners SET expires_at = now() - interval '2 hours'"
                " WHERE id = %s",
                (first.owner,),
            )
        assert second.claim_orphans(limit=1) == ["a"]  # a full batch: it looks no further
        assert len(second.owners()) == 2
        assert second.claim_orphans() == []
        assert [o.id for o in second.owners()] == [second.owner]


def test_a_killed_owner_is_gone_before_its_lease_runs_out(url: str) -> None:
    with PostgresStore(url, lease=600) as first, PostgresStore(url) as second:
        first.write([append("a", 1, new=True, status="waiting")])
        stale(first)
        # Paused (silent, but its session holds its lock): it keeps its instances.
        assert second.claim_orphans() == []
        owner = second.owner_of("a")
        assert owner is not None and owner.live
        assert owners_of(second._reader, ["a"]) == {"a": first.owner}  # routing's view
        # Killed: its sessions end, and its lock with them.
        end_session(first._owner_conn)
        owner = second.owner_of("a")
        assert owner is not None and not owner.live
        assert owners_of(second._reader, ["a"]) == {"a": None}
        assert second.claim_orphans() == ["a"]


def test_a_live_owner_whose_connection_dropped_takes_its_lock_again(url: str) -> None:
    with PostgresStore(url, lease=600) as first, PostgresStore(url) as second:
        first.write([append("a", 1, new=True, status="waiting")])
        lost = first._owner_conn
        end_session(lost)
        deadline = time.monotonic() + 10
        while first._holding in (None, lost):  # its next heartbeat (another thread's)
            assert time.monotonic() < deadline, "the lock was not taken again"
            time.sleep(0.05)
        stale(first)
        assert second.claim_orphans() == []
        owner = second.owner_of("a")
        assert owner is not None and owner.live


def test_a_claim_does_not_wait_for_a_row_a_paused_writer_holds(url: str) -> None:
    with PostgresStore(url) as first, PostgresStore(url) as second:
        first.write([append("a", 1, new=True, status="waiting")])
        expire(first)
        with psycopg.connect(url.split("?")[0], autocommit=True) as writer:
            writer.execute(f'SET search_path TO "{first.schema}"')
            writer.execute("SET idle_in_transaction_session_timeout = 10000")  # bounds a failure
            with writer.transaction():
                # The first, paused in the middle of a write: the row stays locked.
                writer.execute("SELECT 1 FROM instances WHERE id = 'a' FOR UPDATE")
                began = time.monotonic()
                held = second.claim("a")
                assert time.monotonic() - began < 5
                assert held is not None and held.id == first.owner
                assert second.claim_orphans() == []  # skipped, not waited for
        assert second.claim("a") is None  # the write ended: the instance is the second's


def test_a_wait_is_read_with_the_live_owner_of_its_instance(url: str) -> None:
    def opened(instance_id: str) -> Any:
        return append(
            instance_id,
            1,
            new=True,
            status="waiting",
            waits_set=(WaitRow(instance_id=instance_id, step=1, type="t", subject="s"),),
        )

    with PostgresStore(url) as first, PostgresStore(url) as second:
        assert first.write([opened("a")]) == [None]
        assert second.write([opened("b")]) == [None]
        assert {w.instance_id: w.owner for w in first.waits_for("t", "s")} == {
            "a": first.owner,
            "b": second.owner,
        }
        assert [w.owner for w in first.waits_of("b")] == [second.owner]
        expire(second)  # gone: nobody drives "b" now, the next to send it something takes it
        assert {w.instance_id: w.owner for w in first.waits_for("t", "s")} == {
            "a": first.owner,
            "b": None,
        }
        assert [w.owner for w in first.waits_of("b")] == [None]


@contextlib.contextmanager
def paused_in_a_write(store: PostgresStore, instance_id: str) -> Iterator[None]:
    """As if `store`'s process were stopped in the middle of a write of `instance_id` (its
    session active, sending the journal by COPY, the instance's row locked); its session
    must be ended from outside before the block ends."""
    writer = store._writer
    assert writer is not None
    with (
        store._writer_lock,
        writer.cursor() as cursor,
        pytest.raises(psycopg.OperationalError),  # its session was ended
        writer.transaction(),
    ):
        cursor.execute("UPDATE instances SET updated_at = updated_at WHERE id = %s", (instance_id,))
        with cursor.copy("COPY journal (instance_id) FROM STDIN"):
            yield


def test_an_owner_paused_in_the_middle_of_a_write_is_claimed_after_its_lease(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        PostgresStore(url) as first,
        PostgresStore(url) as second,
        PostgresStore(url) as third,
    ):
        first.write([append("a", 1, new=True, status="waiting")])
        third.write([append("c", 1, new=True, status="waiting")])
        writer, lease = first._writer, first._owner_conn
        assert writer is not None and lease is not None
        ended = sorted({writer.info.backend_pid, lease.info.backend_pid})
        with paused_in_a_write(first, "a"):
            assert second.claim_orphans() == []  # its lease still runs
            expire(first)
            with caplog.at_level("WARNING", logger="trioflow"):
                assert second.claim_orphans() == ["a"]
            assert f"backend pids {ended[0]}, {ended[1]}" in caplog.text
            assert f"of owner {first.owner}," in caplog.text
        # Nobody else's session was ended: the live third still writes on its own.
        assert third.write([append("c", 2)]) == [None]
        assert second.write([append("a", 2)]) == [None]
        # Woken, the first connects anew; what was taken is refused, nothing is taken back.
        results = first.write([append("a", 2), append("b", 1, new=True)])
        assert isinstance(results[0], NotOwner) and results[1] is None
        assert first.claim_orphans() == []
        owner = second.owner_of("a")
        assert owner is not None and owner.id == second.owner
        assert [r.seq for r in second.read("a")] == [1, 2]


def test_a_claim_of_an_instance_a_gone_owner_was_paused_writing_takes_it(url: str) -> None:
    with PostgresStore(url) as first, PostgresStore(url) as second:
        first.write([append("a", 1, new=True, status="waiting")])
        with paused_in_a_write(first, "a"):
            held = second.claim("a")  # live: it keeps it
            assert held is not None and held.id == first.owner
            expire(first)
            assert second.claim("a") is None
        owner = second.owner_of("a")
        assert owner is not None and owner.id == second.owner


def test_an_owner_whose_row_was_forgotten_records_its_sessions_again(url: str) -> None:
    with PostgresStore(url) as first, PostgresStore(url) as second:
        first._stopping.set()  # its heartbeats are the test's
        first.write([append("a", 1, new=True)])
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DELETE FROM "{first.schema}".owners WHERE id = %s', (first.owner,))
        first._on_owner_connection(first._beat)
        first.write([append("a", 2)])
        expire(first)
        with paused_in_a_write(first, "a"):
            assert second.claim_orphans() == ["a"]
