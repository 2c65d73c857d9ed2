"""What every `Store` does, on SQLite and on PostgreSQL alike: appends, their refusals,
events, reads, pages, timers."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from runtime.store import (
    TERMINAL,
    Append,
    DuplicateEvents,
    EventBatch,
    EventRow,
    InstanceExists,
    InstanceRow,
    MessageTaken,
    NewInstance,
    NewRun,
    SequenceConflict,
    Store,
    StoredRecord,
    StoreError,
    Summary,
    TimerRow,
    UnknownInstance,
    WaitRow,
)


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


def test_new_instance_stores_records_and_row(store: Store) -> None:
    assert store.write([append("a", 1, 2, new=True, status="waiting")]) == [None]

    assert store.read("a") == [record(1), record(2)]
    assert store.last_seq("a") == 2
    assert store.get("a") == InstanceRow(
        id="a",
        workflow="wf",
        status="waiting",
        input='{"x": 1}',
        output=None,
        error=None,
        waiting_on=None,
        created_at=1000.0,
        updated_at=2001.0,
        last_seq=2,
    )


def test_continuing_append_extends_journal_and_replaces_summary(store: Store) -> None:
    store.write([append("a", 1, 2, new=True)])
    done = Append(
        instance_id="a",
        records=(record(3, kind="completed"),),
        summary=Summary(status="completed", output='{"ok": true}', updated_at=3000.0),
    )
    assert store.write([done]) == [None]

    assert [r.seq for r in store.read("a")] == [1, 2, 3]
    row = store.get("a")
    assert row is not None
    assert (row.status, row.output, row.updated_at, row.last_seq) == (
        "completed",
        '{"ok": true}',
        3000.0,
        3,
    )
    assert row.created_at == 1000.0


def test_unknown_instance_reads_as_empty(store: Store) -> None:
    assert store.read("nope") == []
    assert store.last_seq("nope") == 0
    assert store.get("nope") is None


def test_new_append_for_existing_instance_is_refused(store: Store) -> None:
    store.write([append("a", 1, new=True)])
    [error] = store.write([append("a", 1, new=True, workflow="other")])
    assert isinstance(error, InstanceExists)
    assert str(error) == "instance 'a' already exists"
    row = store.get("a")
    assert row is not None and row.workflow == "wf"


def test_append_for_unknown_instance_is_refused(store: Store) -> None:
    [error] = store.write([append("ghost", 1)])
    assert isinstance(error, UnknownInstance)
    assert "'ghost' does not exist" in str(error)
    assert store.get("ghost") is None


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ((record(4),), "instance 'a': expected seq 3, got 4"),  # gap
        ((record(2), record(3)), "instance 'a': expected seq 3, got 2"),  # overlap
        ((record(3), record(5)), "expected seq 4, got 5"),  # not consecutive
    ],
    ids=["gap", "overlap", "not-consecutive"],
)
def test_sequence_conflict_is_rolled_back_alone(
    store: Store, records: tuple[StoredRecord, ...], message: str
) -> None:
    store.write(
        [append("a", 1, 2, new=True, timers_set=(TimerRow(instance_id="a", step=1, fire_at=5.0),))]
    )
    before = store.get("a")
    bad = Append(
        instance_id="a",
        records=records,
        summary=Summary(status="failed", error="x", updated_at=9.0),
        timers_cleared=(1,),
    )

    results = store.write([append("b", 1, new=True), bad, append("c", 1, new=True)])

    assert results[0] is None and results[2] is None
    assert isinstance(results[1], SequenceConflict)
    assert message in str(results[1])
    assert store.get("a") == before
    assert [r.seq for r in store.read("a")] == [1, 2]
    assert store.timers() == [TimerRow(instance_id="a", step=1, fire_at=5.0)]
    assert store.last_seq("b") == 1 and store.last_seq("c") == 1


def test_summary_only_append_updates_the_row_and_keeps_the_journal(store: Store) -> None:
    store.write([append("a", 1, 2, new=True)])
    summary = Summary(status="suspended", error='{"type":"X"}', updated_at=7.0)
    [error] = store.write([Append(instance_id="a", records=(), summary=summary)])
    assert error is None
    row = store.get("a")
    assert row is not None and (row.status, row.error, row.last_seq) == (
        "suspended",
        '{"type":"X"}',
        2,
    )
    assert [r.seq for r in store.read("a")] == [1, 2]
    [error] = store.write(
        [
            Append(
                instance_id="new",
                records=(),
                summary=summary,
                new=NewInstance(workflow="w", input="null", created_at=1.0),
            )
        ]
    )
    assert isinstance(error, SequenceConflict)


def test_later_append_in_a_group_continues_an_earlier_one(store: Store) -> None:
    results = store.write([append("a", 1, new=True), append("a", 2, 2), append("a", 4)])
    assert results == [None, None, None]
    assert [r.seq for r in store.read("a")] == [1, 2, 3, 4]


def test_append_the_database_refuses_leaves_no_record_and_no_summary(store: Store) -> None:
    store.write([append("a", 1, new=True)])
    before = store.get("a")
    # The second record's payload is not text: the journal refuses it after the first record
    # was already inserted, so only the savepoint can undo that.
    bad = Append(
        instance_id="a",
        records=(record(2), attrs.evolve(record(3), data=b"\x00")),
        summary=Summary(status="completed", updated_at=5.0),
    )

    results = store.write([bad, append("b", 1, new=True)])

    assert type(results[0]) is StoreError
    assert results[0].__cause__ is not None  # the database's own words
    assert results[1] is None
    assert store.read("a") == [record(1)]
    assert store.get("a") == before
    assert store.write([append("a", 2)]) == [None]


def event_row(id_: str, source: str = "s") -> EventRow:
    return EventRow(
        source=source,
        id=id_,
        type="paid",
        subject=None,
        instanceid=None,
        event="{}",
        received_at=1.0,
    )


def test_an_event_batch_is_stored_whole_or_not_at_all(store: Store) -> None:
    # The second event's source is no text a UTF-8 column takes: the first was inserted
    # already, and only the batch's savepoint can undo that; its neighbours commit.
    refused = EventBatch(events=(event_row("1"), event_row("2", source="\ud800")))
    results = store.write([append("a", 1, new=True), refused, event_row("3")])

    assert type(results[1]) is StoreError and "refused" in str(results[1])
    assert results[0] is None and results[2] is None
    assert not store.has_event("s", "1") and store.has_event("s", "3")
    assert [r.seq for r in store.read("a")] == [1]

    results = store.write([EventBatch(events=(event_row("1"), event_row("3"), event_row("1")))])
    assert isinstance(results[0], DuplicateEvents) and results[0].indexes == (1, 2)
    assert store.has_event("s", "1")


def test_an_event_the_database_refuses_fails_alone(store: Store) -> None:
    results = store.write([append("a", 1, new=True), event_row("\udfff"), event_row("2")])
    assert results[0] is None and type(results[1]) is StoreError and results[2] is None
    assert store.read("a") == [record(1)] and store.has_event("s", "2")


def test_read_returns_an_inclusive_range(store: Store) -> None:
    store.write([append("a", 1, 5, new=True)])
    assert [r.seq for r in store.read("a", 2, 4)] == [2, 3, 4]
    assert [r.seq for r in store.read("a", 4)] == [4, 5]
    assert [r.seq for r in store.read("a", to_seq=1)] == [1]
    assert store.read("a", 4, 3) == []
    assert store.read("a", 6) == []


def test_last_of_kind_is_the_latest_record_of_that_kind_in_a_range(store: Store) -> None:
    kinds = ["started", "snapshot", "step", "snapshot", "step", "step"]
    records = tuple(record(seq, kind) for seq, kind in enumerate(kinds, start=1))
    store.write(
        [
            Append(
                instance_id="a",
                records=records,
                summary=Summary(status="running", updated_at=2000.0),
                new=NewInstance(workflow="wf", input="{}", created_at=1000.0),
            )
        ]
    )
    store.write([append("b", 1, new=True)])

    assert store.last_of_kind("a", "snapshot") == record(4, "snapshot")
    assert store.last_of_kind("a", "snapshot", to_seq=3) == record(2, "snapshot")
    assert store.last_of_kind("a", "snapshot", from_seq=3, to_seq=3) is None
    assert store.last_of_kind("a", "snapshot", from_seq=5) is None
    assert store.last_of_kind("a", "step", 1, 5) == record(5, "step")
    assert store.last_of_kind("a", "snapshot", 4, 2) is None
    assert store.last_of_kind("a", "other") is None
    assert store.last_of_kind("b", "snapshot") is None  # another instance's records do not count
    assert store.last_of_kind("ghost", "snapshot") is None


def test_list_pages_in_creation_order(store: Store) -> None:
    ids = [f"i{n:02}" for n in range(7)]
    store.write([append(i, 1, new=True) for i in reversed(ids[:4])])
    store.write([append(i, 1, new=True) for i in ids[4:]])
    order = [*reversed(ids[:4]), *ids[4:]]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.list(limit=3, cursor=cursor)
        pages += 1
        assert len(page.items) <= 3
        seen += [row.id for row in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == order
    assert pages == 3
    assert store.list(limit=7).next_cursor is None


def test_list_filters_by_status_and_workflow(store: Store) -> None:
    store.write(
        [
            append("a", 1, new=True, status="running", workflow="orders"),
            append("b", 1, new=True, status="completed", workflow="orders"),
            append("c", 1, new=True, status="running", workflow="billing"),
            append("d", 1, new=True, status="running", workflow="orders"),
        ]
    )

    def ids(**filters: Any) -> list[str]:
        return [row.id for row in store.list(**filters).items]

    assert ids(status="running") == ["a", "c", "d"]
    assert ids(workflow="orders") == ["a", "b", "d"]
    assert ids(status="running", workflow="orders") == ["a", "d"]
    assert ids(status="failed") == []
    first = store.list(status="running", workflow="orders", limit=1)
    assert [r.id for r in first.items] == ["a"]
    second = store.list(status="running", workflow="orders", limit=1, cursor=first.next_cursor)
    assert [r.id for r in second.items] == ["d"] and second.next_cursor is None


@pytest.mark.parametrize("limit", [0, 501, -1])
def test_list_limit_is_checked(store: Store, limit: int) -> None:
    with pytest.raises(ValueError, match="limit must be between 1 and 500"):
        store.list(limit=limit)


@pytest.mark.parametrize("cursor", ["", "garbage!", "bm90LWEtY3Vyc29y", "YWZ0ZXI6LTE"])
def test_list_rejects_a_cursor_it_did_not_make(store: Store, cursor: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid cursor$"):
        store.list(cursor=cursor)


def test_unfinished_and_counts(store: Store) -> None:
    statuses = ["running", "completed", "waiting", "suspended", "failed", "running", "cancelled"]
    store.write([append(f"i{n}", 1, new=True, status=s) for n, s in enumerate(statuses)])
    assert store.unfinished() == ["i0", "i2", "i5"]
    assert store.counts_by_status() == {
        "running": 2,
        "completed": 1,
        "waiting": 1,
        "suspended": 1,
        "failed": 1,
        "cancelled": 1,
    }


def test_timers_are_set_upserted_and_cleared(store: Store) -> None:
    def timer(instance_id: str, step: int, fire_at: float) -> TimerRow:
        return TimerRow(instance_id=instance_id, step=step, fire_at=fire_at)

    store.write(
        [
            append("a", 1, new=True, timers_set=(timer("a", 1, 30.0), timer("a", 2, 10.0))),
            append("b", 1, new=True, timers_set=(timer("b", 1, 20.0),)),
        ]
    )
    assert store.timers() == [timer("a", 2, 10.0), timer("b", 1, 20.0), timer("a", 1, 30.0)]

    store.write([append("a", 2, timers_set=(timer("a", 1, 5.0),), timers_cleared=(2,))])
    assert store.timers() == [timer("a", 1, 5.0), timer("b", 1, 20.0)]

    # Cleared first, then set: a step in both ends up set.
    store.write([append("b", 2, timers_set=(timer("b", 1, 1.0),), timers_cleared=(1,))])
    assert store.timers() == [timer("b", 1, 1.0), timer("a", 1, 5.0)]


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_terminal_status_drops_remaining_timers(store: Store, status: str) -> None:
    timers = (TimerRow(instance_id="a", step=1, fire_at=5.0),)
    store.write([append("a", 1, new=True, timers_set=timers), append("b", 1, new=True)])
    store.write([append("b", 2, timers_set=(TimerRow(instance_id="b", step=1, fire_at=6.0),))])
    store.write([append("a", 2, status=status)])
    assert store.timers() == [TimerRow(instance_id="b", step=1, fire_at=6.0)]


def test_timer_row_of_another_instance_is_refused(store: Store) -> None:
    stray = (TimerRow(instance_id="b", step=1, fire_at=5.0),)
    [error] = store.write([append("a", 1, new=True, timers_set=stray)])
    assert type(error) is StoreError
    assert "must belong to the appending instance" in str(error)
    assert store.get("a") is None and store.timers() == []


def test_an_append_that_begins_a_run_moves_the_run_and_drops_the_old_rows(store: Store) -> None:
    first = append(
        "a",
        1,
        2,
        new=True,
        status="waiting",
        timers_set=(TimerRow(instance_id="a", step=1, fire_at=5.0),),
        waits_set=(WaitRow(instance_id="a", step=2, type="t", subject=None),),
    )
    assert store.write([first]) == [None]
    row = store.get("a")
    assert row is not None and (row.run, row.run_seq) == (1, 1)
    (refused,) = store.write([append("a", 3, 2, status="waiting", run=NewRun(run=2, seq=5))])
    assert isinstance(refused, SequenceConflict) and "run 2" in str(refused)
    assert store.last_seq("a") == 2
    begins = append(
        "a",
        3,
        2,
        status="waiting",
        run=NewRun(run=2, seq=4),
        timers_set=(TimerRow(instance_id="a", step=3, fire_at=9.0),),
    )
    assert store.write([begins]) == [None]
    row = store.get("a")
    assert row is not None
    assert (row.run, row.run_seq, row.last_seq, row.input) == (2, 4, 4, '{"x": 1}')
    assert store.timers() == [TimerRow(instance_id="a", step=3, fire_at=9.0)]
    assert store.waits_of("a") == []
    assert [r.seq for r in store.read("a")] == [1, 2, 3, 4]  # the old run's records stay


def test_a_message_taken_by_one_instance_refuses_another_instance_of_its_workflow(
    store: Store,
) -> None:
    message = ("bank", "paid-1", "wf")
    store.write([append("a", 1, new=True), append("b", 1, new=True)])
    assert store.write([append("a", 2, correlated=(message,))]) == [None]
    [refused] = store.write([append("b", 2, correlated=(message,))])
    assert isinstance(refused, MessageTaken)
    assert store.last_seq("b") == 1  # nothing of it was written
    assert store.write([append("a", 3, correlated=(message,))]) == [None]  # its own, again
    # The same two in one group: the first to be applied has it.
    other = ("bank", "paid-2", "wf")
    results = store.write(
        [append("b", 2, correlated=(other,)), append("a", 4, correlated=(other,))]
    )
    assert results[0] is None and isinstance(results[1], MessageTaken)
    assert (store.last_seq("a"), store.last_seq("b")) == (3, 2)
    assert store.is_correlated("bank", "paid-2", "wf")
