"""What a store does for retention (each test over every `Store` takes the `store` fixture):
deleting finished instances whole, purging events a batch at a time, and, in SQLite, giving
the space back to the file system."""

from __future__ import annotations

import os
from pathlib import Path

import apsw
import attrs
import pytest

from runtime.store import (
    Append,
    DeleteInstances,
    EventRow,
    NewInstance,
    PurgeEvents,
    SqliteStore,
    Store,
    StoredRecord,
    Summary,
    TimerRow,
    WaitRow,
)
from runtime.store._sqlite import MIGRATIONS


def started(instance_id: str, *, status: str, at: float, workflow: str = "wf") -> Append:
    return Append(
        instance_id=instance_id,
        records=(StoredRecord(seq=1, kind="started", version=1, at=at, data='{"n": 1}'),),
        summary=Summary(status=status, updated_at=at),
        new=NewInstance(workflow=workflow, input="{}", created_at=at),
        timers_set=(TimerRow(instance_id=instance_id, step=1, fire_at=at + 60),),
        waits_set=(WaitRow(instance_id=instance_id, step=2, type="paid", subject=None),),
    )


def event(key: str, at: float, expires_at: float | None = None) -> EventRow:
    return EventRow(
        source="s",
        id=key,
        type="paid",
        subject=None,
        instanceid=None,
        event="{}",
        received_at=at,
        expires_at=expires_at,
    )


def test_delete_takes_finished_old_instances_whole_and_leaves_the_others(
    store: Store,
) -> None:
    store.write(
        [
            started("old-done", status="completed", at=100.0),
            started("old-failed", status="failed", at=100.0),
            started("recent-done", status="cancelled", at=500.0),
            started("old-waiting", status="waiting", at=100.0),
            started("old-suspended", status="suspended", at=100.0),
        ]
    )
    every = ("old-done", "old-failed", "recent-done", "old-waiting", "old-suspended", "nobody")
    assert store.write([DeleteInstances(ids=every, finished_before=200.0)]) == [None]

    for gone in ("old-done", "old-failed"):
        assert store.get(gone) is None
        assert store.read(gone) == []
        assert store.waits_of(gone) == []
    for kept in ("recent-done", "old-waiting", "old-suspended"):
        row = store.get(kept)
        assert row is not None and row.last_seq == 1
        assert len(store.read(kept)) == 1
    assert {t.instance_id for t in store.timers()} == {"old-waiting", "old-suspended"}
    assert store.counts_by_status() == {"cancelled": 1, "waiting": 1, "suspended": 1}


def test_finished_lists_the_oldest_first_by_workflow_and_checks_its_limit(
    store: Store,
) -> None:
    store.write(
        [
            started("c", status="completed", at=300.0, workflow="orders"),
            started("a", status="completed", at=100.0, workflow="billing"),
            started("b", status="failed", at=200.0, workflow="orders"),
            started("w", status="waiting", at=50.0, workflow="orders"),
        ]
    )
    assert [r.id for r in store.finished(before=1000.0, limit=10)] == ["a", "b", "c"]
    assert [r.id for r in store.finished(before=250.0, limit=10)] == ["a", "b"]
    assert [r.id for r in store.finished(before=1e9, limit=10, workflow="orders")] == ["b", "c"]
    assert [r.id for r in store.finished(before=1e9, limit=10, exclude={"orders"})] == ["a"]
    assert [r.id for r in store.finished(before=1e9, limit=10, after=(100.0, "a"))] == ["b", "c"]
    for limit in (0, 501):
        with pytest.raises(ValueError, match="limit must be between 1 and 500"):
            store.finished(before=1.0, limit=limit)


def test_a_purge_keeps_events_still_buffered_and_goes_oldest_first(store: Store) -> None:
    store.write(
        [
            event("old", 100.0),
            event("older", 50.0),
            event("buffered", 10.0, expires_at=10_000.0),
            event("new", 900.0),
        ]
    )
    assert store.expired_events(before=500.0, buffered_at=1000.0, limit=10) == 2
    assert store.expired_events(before=500.0, buffered_at=1000.0, limit=1) == 1

    store.write([PurgeEvents(before=500.0, limit=1, buffered_at=1000.0)])
    assert not store.has_event("s", "older")
    assert store.has_event("s", "old")

    store.write([PurgeEvents(before=500.0, buffered_at=1000.0)])
    assert not store.has_event("s", "old")
    assert store.has_event("s", "buffered") and store.has_event("s", "new")

    store.write([PurgeEvents(before=500.0, buffered_at=20_000.0)])  # its ttl has passed
    assert not store.has_event("s", "buffered")


def test_a_taken_message_stays_taken_until_its_event_is_purged(store: Store) -> None:
    store.write([event("m", 100.0, expires_at=5000.0)])
    append = started("taker", status="completed", at=100.0, workflow="orders")
    store.write([attrs.evolve(append, correlated=(("s", "m", "orders"),))])
    store.write([DeleteInstances(ids=("taker",), finished_before=200.0)])
    assert store.get("taker") is None
    assert store.is_correlated("s", "m", "orders")  # no second instance of orders takes it

    store.write([PurgeEvents(before=200.0, buffered_at=6000.0)])
    assert not store.has_event("s", "m")
    assert not store.is_correlated("s", "m", "orders")


def _size(path: str) -> int:
    return os.path.getsize(path)


def test_deleting_gives_the_space_back_to_the_file_system(tmp_path: Path) -> None:
    path = str(tmp_path / "trioflow.db")
    big = "x" * 2000
    with SqliteStore(path) as store:
        for group in range(20):
            store.write(
                [
                    Append(
                        instance_id=f"i{group}-{n}",
                        records=tuple(
                            StoredRecord(seq=s, kind="k", version=1, at=1.0, data=f'"{big}"')
                            for s in range(1, 6)
                        ),
                        summary=Summary(status="completed", updated_at=1.0),
                        new=NewInstance(workflow="wf", input="{}", created_at=1.0),
                    )
                    for n in range(100)
                ]
            )
        store._writer.pragma("wal_checkpoint", "truncate")
        full = _size(path)
        while rows := store.finished(before=2.0, limit=500):
            store.write([DeleteInstances(ids=tuple(r.id for r in rows), finished_before=2.0)])
        store._writer.pragma("wal_checkpoint", "truncate")
        emptied = _size(path)
    assert full > 20_000_000
    assert emptied < full / 3


def test_an_older_file_is_converted_by_vacuum(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    conn = apsw.Connection(path)  # a file as versions without retention made it
    conn.pragma("journal_mode", "wal")
    for version, migration in enumerate(MIGRATIONS[:3], start=1):
        conn.execute(migration)
        conn.pragma("user_version", version)
    conn.close()
    with SqliteStore(path) as store:
        assert store._writer.pragma("auto_vacuum") == 0
        store.write([started("a", status="completed", at=1.0)])
        store.vacuum()
        assert store._writer.pragma("auto_vacuum") == 2
        assert store.schema_version == len(MIGRATIONS)
        assert store.get("a") is not None


def test_a_new_file_gives_space_back_incrementally(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "trioflow.db") as store:
        assert store._writer.pragma("auto_vacuum") == 2
