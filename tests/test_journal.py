from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

from runtime._journal import JournalClosed, JournalFull, JournalWriter
from runtime.store import (
    Append,
    NewInstance,
    SequenceConflict,
    SqliteStore,
    Store,
    StoredRecord,
    StoreError,
    Summary,
    UnknownInstance,
)


def append(instance_id: str, first: int = 1, count: int = 1) -> Append:
    return Append(
        instance_id=instance_id,
        records=tuple(
            StoredRecord(seq=seq, kind="step", version=1, at=1.0, data=f'{{"seq": {seq}}}')
            for seq in range(first, first + count)
        ),
        summary=Summary(status="running", updated_at=2.0),
        new=NewInstance(workflow="wf", input="{}", created_at=1.0) if first == 1 else None,
    )


class GatedStore:
    """Delegates to a real store, but each `write` waits for `gate` (or fails, when told to)."""

    def __init__(self, store: Store, *, closed: bool = False) -> None:
        self.store = store
        self.gate = threading.Event()
        if not closed:
            self.gate.set()
        self.entered = threading.Event()
        self.fail_next: Exception | None = None
        self.writes: list[int] = []

    def write(self, appends: Sequence[Append]) -> list[StoreError | None]:
        self.entered.set()
        assert self.gate.wait(10), "the test never opened the gate"
        self.writes.append(len(appends))
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        return self.store.write(appends)

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


async def entered(gated: GatedStore) -> None:
    """Wait until the writer's worker thread is inside `write`."""
    assert await trio.to_thread.run_sync(gated.entered.wait, 10)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(path) as store:
        yield store


async def test_append_returns_only_after_its_transaction_committed(
    path: Path, store: SqliteStore
) -> None:
    gated = GatedStore(store, closed=True)
    writer = JournalWriter(gated)
    acknowledged = trio.Event()

    async def client() -> None:
        await writer.append(append("a", 1, 2))
        acknowledged.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        nursery.start_soon(client)
        await entered(gated)
        await trio.testing.wait_all_tasks_blocked()
        assert not acknowledged.is_set()
        assert writer.queued == 1

        gated.gate.set()
        await acknowledged.wait()
        with SqliteStore(
            path, read_only=True
        ) as other:  # a separate connection sees it: it is committed
            assert [r.seq for r in other.read("a")] == [1, 2]
            assert other.last_seq("a") == 2
        assert writer.queued == 0

        await writer.append(append("a", 3))
        with SqliteStore(path, read_only=True) as other:
            assert other.last_seq("a") == 3
        writer.close()


async def test_concurrent_appends_share_few_transactions(store: SqliteStore) -> None:
    writer = JournalWriter(store, max_batch=150)

    async def client(instance_id: str) -> None:
        for first in range(1, 11, 2):
            await writer.append(append(instance_id, first, 2))

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        async with trio.open_nursery() as clients:
            for n in range(200):
                clients.start_soon(client, f"i{n}")
        writer.close()

    stats = writer.stats
    assert stats.appends == 1_000
    assert stats.batches <= 30  # about 2 batches per round of 200
    assert stats.failed_batches == 0
    assert stats.last_batch_size <= 150
    assert stats.commit_seconds > 0
    assert all(store.last_seq(f"i{n}") == 10 for n in range(200))


async def test_max_batch_splits_a_large_group(store: SqliteStore) -> None:
    gated = GatedStore(store, closed=True)
    writer = JournalWriter(gated, max_batch=300)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        nursery.start_soon(writer.append, append("first"))
        await entered(gated)
        for n in range(1_000):
            nursery.start_soon(writer.append, append(f"i{n}"))
        await trio.testing.wait_all_tasks_blocked()
        assert writer.queued == 1_001
        gated.gate.set()
        writer.close()
    assert gated.writes == [1, 300, 300, 300, 100]
    assert writer.stats.batches == 5 and writer.stats.appends == 1_001


async def test_refused_append_fails_alone_in_its_batch(store: SqliteStore) -> None:
    writer = JournalWriter(store)
    outcomes: dict[str, BaseException | None] = {}

    async def client(name: str, item: Append) -> None:
        try:
            await writer.append(item)
        except StoreError as exc:
            outcomes[name] = exc
        else:
            outcomes[name] = None

    async with trio.open_nursery() as service:
        async with trio.open_nursery() as clients:
            for name, item in [
                ("new a", append("a", 1, 2)),
                ("gap in a", append("a", 5)),
                ("new b", append("b")),
                ("ghost", append("ghost", 3)),
                ("continue a", append("a", 3)),
            ]:
                clients.start_soon(client, name, item)
                await trio.testing.wait_all_tasks_blocked()  # queued in this order
            await service.start(writer.run)  # everything above is queued: one batch
        writer.close()

    assert writer.stats.batches == 1
    assert outcomes["new a"] is None
    assert outcomes["new b"] is None
    assert outcomes["continue a"] is None
    assert isinstance(outcomes["gap in a"], SequenceConflict)
    assert "expected seq 3, got 5" in str(outcomes["gap in a"])
    assert isinstance(outcomes["ghost"], UnknownInstance)
    assert [r.seq for r in store.read("a")] == [1, 2, 3]
    assert store.get("ghost") is None


async def test_full_queue_refuses_appends(store: SqliteStore) -> None:
    writer = JournalWriter(store, max_queue=2)
    async with trio.open_nursery() as service:
        async with trio.open_nursery() as clients:
            clients.start_soon(writer.append, append("a"))
            clients.start_soon(writer.append, append("b"))
            await trio.testing.wait_all_tasks_blocked()
            assert writer.queued == 2
            with pytest.raises(JournalFull, match="the journal queue is full"):
                await writer.append(append("c"))
            await service.start(writer.run)
        assert writer.queued == 0
        await writer.append(append("c"))
        writer.close()
    assert [store.last_seq(i) for i in "abc"] == [1, 1, 1]


async def test_wait_for_room_returns_as_soon_as_the_queue_has_room(store: SqliteStore) -> None:
    writer = JournalWriter(store, max_queue=1)
    roomy = trio.Event()

    async def when_room() -> None:
        await writer.wait_for_room()
        roomy.set()

    async with trio.open_nursery() as service:
        async with trio.open_nursery() as clients:
            clients.start_soon(writer.append, append("a"))
            await trio.testing.wait_all_tasks_blocked()
            clients.start_soon(when_room)
            await trio.testing.wait_all_tasks_blocked()
            assert not roomy.is_set()  # full, and nothing commits until the writer runs
            await service.start(writer.run)
            await roomy.wait()
        assert writer.queued == 0
        writer.close()
        await writer.wait_for_room()  # closed: returns, the next append says why
        with pytest.raises(JournalClosed):
            await writer.append(append("b"))


async def test_close_drains_what_is_queued(store: SqliteStore) -> None:
    writer = JournalWriter(store)
    async with trio.open_nursery() as nursery:
        for n in range(5):
            nursery.start_soon(writer.append, append(f"i{n}"))
        await trio.testing.wait_all_tasks_blocked()
        writer.close()
        writer.close()
        with pytest.raises(JournalClosed):
            await writer.append(append("late"))
        await writer.run()  # commits the five, then returns
    assert writer.queued == 0
    assert [store.last_seq(f"i{n}") for n in range(5)] == [1] * 5
    assert store.get("late") is None


async def test_cancelling_run_drains_what_is_queued(store: SqliteStore) -> None:
    gated = GatedStore(store, closed=True)
    writer = JournalWriter(gated, max_batch=2)
    async with trio.open_nursery() as clients:
        async with trio.open_nursery() as service:
            await service.start(writer.run)
            clients.start_soon(writer.append, append("first"))
            await entered(gated)  # the first commit is under way
            for n in range(5):
                clients.start_soon(writer.append, append(f"i{n}"))
            await trio.testing.wait_all_tasks_blocked()
            service.cancel_scope.cancel()
            gated.gate.set()
        assert writer.queued == 0
        with pytest.raises(JournalClosed):
            await writer.append(append("late"))
    assert gated.writes == [1, 2, 2, 1]
    assert store.last_seq("first") == 1
    assert [store.last_seq(f"i{n}") for n in range(5)] == [1] * 5


async def test_run_can_only_start_once(store: SqliteStore) -> None:
    writer = JournalWriter(store)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        with pytest.raises(RuntimeError, match="only be called once"):
            await writer.run()
        writer.close()


@pytest.mark.parametrize("option", ["max_queue", "max_batch"])
def test_limits_must_be_positive(store: SqliteStore, option: str) -> None:
    with pytest.raises(ValueError, match=f"{option} must be >= 1, got 0"):
        JournalWriter(store, **{option: 0})
