"""`SqliteStore.write`'s batched path and its fallback to one append at a time.

Each test writes a group to two stores, one through `write` and one append at a time (what `write`
falls back to), and expects the same results, the same errors and the same rows in every table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from test_sqlite_store import append, dump, outcome, record, statements, write_one_by_one

from runtime.store import (
    Append,
    DuplicateEvent,
    EventRow,
    InstanceExists,
    PurgeEvents,
    SequenceConflict,
    SqliteStore,
    StoreError,
    Summary,
    TimerRow,
    UnknownInstance,
    WaitRow,
    Write,
)

Stores = tuple[SqliteStore, SqliteStore]


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    with (
        SqliteStore(tmp_path / "batched.db") as batched,
        SqliteStore(tmp_path / "reference.db") as reference,
    ):
        yield batched, reference


def write_both(stores: Stores, group: Sequence[Write]) -> tuple[list[StoreError | None], list[str]]:
    """Write `group` to both stores, check that they agree, and return the batched store's
    results and the statements it ran."""
    batched, reference = stores
    with statements(batched) as seen:
        results = batched.write(group)
    assert outcome(results) == outcome(write_one_by_one(reference, group))
    assert dump(batched) == dump(reference)
    return results, seen


def redone(seen: list[str]) -> bool:
    """Whether the batched path was refused and the group written again one by one."""
    return seen.count("BEGIN IMMEDIATE") == 2


def new_instances(prefix: str, count: int) -> list[Append]:
    return [append(f"{prefix}{n:03}", 1, 2, new=True) for n in range(count)]


def event_row(source: str, id_: str) -> EventRow:
    return EventRow(
        source=source,
        id=id_,
        type="paid",
        subject=None,
        instanceid=None,
        event="{}",
        received_at=100.0,
    )


def test_a_group_nothing_refuses_runs_no_statement_per_append(stores: Stores) -> None:
    ids = [f"i{n:03}" for n in range(150)]
    started = [
        append(
            i,
            1,
            2,
            new=True,
            timers_set=(TimerRow(instance_id=i, step=1, fire_at=float(n)),),
            waits_set=(WaitRow(instance_id=i, step=2, type="paid", subject=i),),
        )
        for n, i in enumerate(ids)
    ]
    results, seen = write_both(stores, started)
    assert results == [None] * len(ids)
    assert not redone(seen) and "SAVEPOINT append" not in seen

    def next_step(n: int, i: str) -> Append:
        """Completed (timers and waits go), waiting (a timer and a wait swapped), running."""
        if n % 3 == 0:
            return append(i, 3, 2, status="completed")
        if n % 3 == 1:
            return append(
                i,
                3,
                2,
                status="waiting",
                timers_cleared=(1,),
                timers_set=(TimerRow(instance_id=i, step=3, fire_at=1.0),),
                waits_cleared=(2,),
                waits_set=(WaitRow(instance_id=i, step=3, type="shipped", subject=None),),
            )
        return append(i, 3, 2)

    continued = [next_step(n, i) for n, i in enumerate(ids)]
    results, seen = write_both(stores, continued)
    assert results == [None] * len(ids)
    assert not redone(seen) and "SAVEPOINT append" not in seen
    batched, _ = stores
    assert batched.counts_by_status() == {"completed": 50, "waiting": 50, "running": 50}
    assert len(batched.timers()) == 100


@pytest.mark.parametrize("count", [1, 2, 3, 63, 64, 65, 127, 129, 200])
def test_groups_of_any_size_are_cut_into_statements_of_known_sizes(
    stores: Stores, count: int
) -> None:
    results, seen = write_both(stores, new_instances("i", count))
    assert results == [None] * count
    continued = [append(f"i{n:03}", 3, 3, status="completed") for n in range(count)]
    results, seen = write_both(stores, continued)
    assert results == [None] * count and not redone(seen)
    assert stores[0].counts_by_status() == {"completed": count}


def _bad_record(**changes: Any) -> Append:
    return Append(
        instance_id="c",
        records=(record(3), attrs.evolve(record(4), **changes)),
        summary=Summary(status="completed", updated_at=5.0),
    )


REFUSALS = {
    # Refused by the database: the batch is rolled back and the group written one by one.
    "existing-instance": (
        append("c", 1, new=True),
        InstanceExists,
        "instance 'c' already exists",
        True,
    ),
    "unknown-instance": (append("ghost", 1), UnknownInstance, "'ghost' does not exist", True),
    "gap": (append("c", 4), SequenceConflict, "instance 'c': expected seq 3, got 4", True),
    "overlap": (append("c", 2), SequenceConflict, "instance 'c': expected seq 3, got 2", True),
    "payload-the-database-refuses": (
        _bad_record(data=b"\x00"),
        StoreError,
        "cannot store BLOB value in TEXT column journal.data",
        True,
    ),
    "value-apsw-cannot-bind": (
        _bad_record(data=object()),
        StoreError,
        "the database refused the append",
        True,
    ),
    "summary-the-database-refuses": (
        attrs.evolve(append("c", 3), summary=Summary(status=None, updated_at=1.0)),
        StoreError,
        "NOT NULL constraint failed: instances.status",
        True,
    ),
    # Refused before anything is written: the batch goes on.
    "new-instance-not-at-seq-1": (
        append("z", 2, new=True),
        SequenceConflict,
        "instance 'z': expected seq 1, got 2",
        False,
    ),
    "seqs-out-of-order": (
        _bad_record(seq=5),
        SequenceConflict,
        "records must have consecutive seqs: expected seq 4, got 5",
        False,
    ),
    "timer-of-another-instance": (
        append("c", 3, timers_set=(TimerRow(instance_id="a", step=1, fire_at=1.0),)),
        StoreError,
        "must belong to the appending instance",
        False,
    ),
}


@pytest.mark.parametrize(
    ("refused", "error", "message", "is_redone"), REFUSALS.values(), ids=list(REFUSALS)
)
def test_a_refused_append_gets_its_own_error_and_its_neighbours_commit(
    stores: Stores, refused: Append, error: type[StoreError], message: str, is_redone: bool
) -> None:
    write_both(stores, [append(i, 1, 2, new=True) for i in "abc"])
    before = stores[0].get("c")
    group = [
        *new_instances("n", 70),
        append("a", 3, 2),
        refused,
        append("b", 3, 2, status="completed"),
        *new_instances("m", 70),
    ]

    results, seen = write_both(stores, group)

    position = group.index(refused)
    assert type(results[position]) is error
    assert message in str(results[position])
    assert results[:position] + results[position + 1 :] == [None] * (len(group) - 1)
    assert redone(seen) is is_redone
    batched, _ = stores
    assert batched.get("c") == before and batched.last_seq("c") == 2
    assert batched.last_seq("a") == 4 and batched.last_seq("b") == 4
    assert batched.counts_by_status() == {"running": 142, "completed": 1}


def test_later_appends_of_an_instance_wait_for_the_batch_holding_its_earlier_one(
    stores: Stores,
) -> None:
    group = [append("x", 1, 2, new=True), append("y", 1, new=True), append("x", 3, 2)]
    results, seen = write_both(stores, [*group, append("x", 5, status="completed")])
    assert results == [None] * 4 and not redone(seen)
    assert [r.seq for r in stores[0].read("x")] == [1, 2, 3, 4, 5]

    group = [append("y", 2), append("y", 9), append("y", 3, status="failed")]
    results, seen = write_both(stores, group)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], SequenceConflict)
    assert redone(seen)


def test_a_summary_only_append_is_applied_one_by_one_inside_a_batched_group(
    stores: Stores,
) -> None:
    write_both(stores, [append("a", 1, 2, new=True)])
    suspended = Append(
        instance_id="a", records=(), summary=Summary(status="suspended", updated_at=9.0)
    )
    results, seen = write_both(stores, [append("n", 1, new=True), suspended, append("a", 3)])
    assert results == [None] * 3
    assert not redone(seen) and seen.count("SAVEPOINT append") == 1
    row = stores[0].get("a")
    assert row is not None and (row.status, row.last_seq) == ("running", 3)


@pytest.mark.parametrize("with_refusal", [False, True], ids=["batched", "redone"])
def test_events_and_purges_among_appends_keep_their_results(
    stores: Stores, with_refusal: bool
) -> None:
    write_both(stores, [append("a", 1, 2, new=True), event_row("s", "old")])
    group: list[Write] = [
        append("n", 1, 2, new=True),
        event_row("s", "e1"),
        append("a", 3),
        event_row("s", "e1"),
        PurgeEvents(before=200.0),
        event_row("s", "e2"),
        append("ghost", 1) if with_refusal else append("m", 1, new=True),
        event_row("s", "old"),
        append("n", 3, status="completed"),
    ]
    results, seen = write_both(stores, group)
    assert [type(r) for r in results] == [
        type(None),
        type(None),
        type(None),
        DuplicateEvent,
        type(None),
        type(None),
        UnknownInstance if with_refusal else type(None),
        type(None),  # purged above, so stored again
        type(None),
    ]
    assert redone(seen) is with_refusal
    stored = stores[0]._reader.execute("SELECT id FROM events ORDER BY pos").fetchall()
    assert stored == [("e2",), ("old",)]
