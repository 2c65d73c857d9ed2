"""The journal writer when the store fails whole transactions (disk full, I/O error, busy).

The store here is a real `SqliteStore` whose `write` raises `apsw.FullError` for its first
`failures` calls, the way SQLite reports a full disk, and then writes for real. A full tmpfs
would need root and cannot be timed to a given attempt; the end-to-end test with a real full
disk is `test_disk_full.py`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from pathlib import Path

import apsw
import pytest
import trio
import trio.testing

from runtime import StorageUnavailable
from runtime._journal import JournalWriter
from runtime.store import (
    Append,
    EventRow,
    NewInstance,
    SqliteStore,
    StoredRecord,
    StoreError,
    Summary,
    Write,
)


class FullDisk(SqliteStore):
    """Fails the first `failures` transactions as a full disk does; notes when each came."""

    failures = 0
    attempts: builtins.list[float]

    def write(self, appends: Sequence[Write]) -> builtins.list[StoreError | None]:
        self.attempts.append(trio.current_time())
        if self.failures > 0:
            self.failures -= 1
            raise apsw.FullError("database or disk is full")
        return super().write(appends)


@pytest.fixture
def store(tmp_path: Path) -> FullDisk:
    store = FullDisk(tmp_path / "journal.db")
    store.attempts = []
    return store


def append(instance_id: str, seq: int = 1) -> Append:
    return Append(
        instance_id=instance_id,
        records=(StoredRecord(seq=seq, kind="step", version=1, at=1.0, data="{}"),),
        summary=Summary(status="running", updated_at=2.0),
        new=NewInstance(workflow="wf", input="{}", created_at=1.0) if seq == 1 else None,
    )


def event(event_id: str) -> EventRow:
    return EventRow(
        source="test",
        id=event_id,
        type="t",
        subject=None,
        instanceid=None,
        event="{}",
        received_at=1.0,
    )


async def test_a_failed_transaction_is_written_again_with_doubling_backoff_until_it_commits(
    store: FullDisk, autojump_clock: trio.testing.MockClock
) -> None:
    store.failures = 9
    writer = JournalWriter(store, now=lambda: 1000.0, commit_inline=True)
    committed: list[str] = []

    async def client(instance_id: str) -> None:
        await writer.append(append(instance_id))
        committed.append(instance_id)

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for instance_id in ("a", "b", "c"):
            nursery.start_soon(client, instance_id)
        await trio.sleep(0.07)  # attempts at 0 and 0.05 s failed
        assert len(store.attempts) == 2
        # Waiting, not failed: the instances are blocked, with the store's reason.
        assert writer.failure == "database or disk is full"
        assert set(writer.blocked) == {"a", "b", "c"}
        assert writer.blocked["a"].reason == "database or disk is full"
        assert writer.blocked["a"].since == 1000.0
        assert committed == []
        await trio.sleep(30)
        writer.close()

    waits = [round(b - a, 3) for a, b in zip(store.attempts, store.attempts[1:], strict=False)]
    assert waits == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert sorted(committed) == ["a", "b", "c"]
    assert [store.last_seq(i) for i in ("a", "b", "c")] == [1, 1, 1]
    assert writer.failure is None and dict(writer.blocked) == {}
    assert (writer.stats.batches, writer.stats.failed_batches) == (10, 9)


async def test_fail_fast_appends_are_refused_while_waiting_appends_are_kept(
    store: FullDisk, autojump_clock: trio.testing.MockClock
) -> None:
    store.failures = 1
    writer = JournalWriter(store, commit_inline=True)
    outcomes: dict[str, object] = {}

    async def client(name: str, write: Write, fail_fast: bool) -> None:
        try:
            await writer.append(write, fail_fast=fail_fast)
        except StorageUnavailable as exc:
            outcomes[name] = exc
        else:
            outcomes[name] = "committed"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(client, "start", append("new"), True)
        nursery.start_soon(client, "event", event("e1"), True)
        nursery.start_soon(client, "step", append("old"), False)
        await trio.testing.wait_all_tasks_blocked()
        await nursery.start(writer.run)
        await trio.testing.wait_all_tasks_blocked()
        # The first attempt failed: new work hears so at once, the step waits.
        refused = outcomes["start"]
        assert isinstance(refused, StorageUnavailable)
        assert "database or disk is full" in str(refused) and refused.retry_after == 1.0
        assert isinstance(outcomes["event"], StorageUnavailable)
        assert "step" not in outcomes and set(writer.blocked) == {"old"}
        # While it fails, new work is refused before it is queued: no write is tried for it.
        with pytest.raises(StorageUnavailable):
            await writer.append(append("newer"), fail_fast=True)
        assert len(store.attempts) == 1
        await trio.sleep(0.1)
        writer.close()

    assert outcomes["step"] == "committed"
    assert store.get("new") is None and store.events_for("t", None, "x", 0.0) == []
    assert store.last_seq("old") == 1
    assert len(store.attempts) == 2


async def test_new_work_finds_out_that_the_store_took_writes_again(
    store: FullDisk, autojump_clock: trio.testing.MockClock
) -> None:
    # Only fail-fast appends fail: nothing is kept for a retry, so the first new append after
    # the backoff is the one that tries the store again.
    store.failures = 2
    writer = JournalWriter(store, commit_inline=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for _ in range(2):
            with pytest.raises(StorageUnavailable):
                await writer.append(append("a"), fail_fast=True)
            with pytest.raises(StorageUnavailable):  # refused at once: the retry is not due
                await writer.append(append("a"), fail_fast=True)
            await trio.sleep(0.2)
        await writer.append(append("a"), fail_fast=True)
        assert writer.failure is None
        writer.close()
    assert len(store.attempts) == 3 and store.last_seq("a") == 1


async def test_closing_a_failing_writer_tries_once_more_then_fails_what_waits(
    store: FullDisk, autojump_clock: trio.testing.MockClock
) -> None:
    store.failures = 100
    writer = JournalWriter(store, commit_inline=True)
    errors: list[StoreError] = []

    async def client() -> None:
        with pytest.raises(StoreError) as caught:
            await writer.append(append("a"))
        errors.append(caught.value)

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        nursery.start_soon(client)
        await trio.sleep(0.2)  # attempts at 0, 0.05 and 0.15 s failed
        writer.close()
    assert len(store.attempts) == 4
    assert isinstance(errors[0].__cause__, apsw.FullError)
    assert "the journal transaction failed" in str(errors[0])
