from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import apsw
import attrs
import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from runtime.store import (
    TERMINAL,
    Append,
    DatabaseLocked,
    DeleteInstances,
    DuplicateEvent,
    DuplicateEvents,
    EventBatch,
    EventRow,
    InstanceExists,
    InstanceRow,
    NewInstance,
    PurgeEvents,
    SequenceConflict,
    SqliteStore,
    StoredRecord,
    StoreError,
    Summary,
    TimerRow,
    UnknownInstance,
    WaitRow,
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


def test_new_instance_stores_records_and_row(store: SqliteStore) -> None:
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


def test_continuing_append_extends_journal_and_replaces_summary(store: SqliteStore) -> None:
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


def test_unknown_instance_reads_as_empty(store: SqliteStore) -> None:
    assert store.read("nope") == []
    assert store.last_seq("nope") == 0
    assert store.get("nope") is None


def test_new_append_for_existing_instance_is_refused(store: SqliteStore) -> None:
    store.write([append("a", 1, new=True)])
    [error] = store.write([append("a", 1, new=True, workflow="other")])
    assert isinstance(error, InstanceExists)
    assert str(error) == "instance 'a' already exists"
    row = store.get("a")
    assert row is not None and row.workflow == "wf"


def test_append_for_unknown_instance_is_refused(store: SqliteStore) -> None:
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
    store: SqliteStore, records: tuple[StoredRecord, ...], message: str
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


def test_summary_only_append_updates_the_row_and_keeps_the_journal(store: SqliteStore) -> None:
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


def test_later_append_in_a_group_continues_an_earlier_one(store: SqliteStore) -> None:
    results = store.write([append("a", 1, new=True), append("a", 2, 2), append("a", 4)])
    assert results == [None, None, None]
    assert [r.seq for r in store.read("a")] == [1, 2, 3, 4]


def test_append_the_database_refuses_leaves_no_record_and_no_summary(store: SqliteStore) -> None:
    store.write([append("a", 1, new=True)])
    before = store.get("a")
    # The second record's payload is not text: the STRICT journal table refuses it after the
    # first record was already inserted, so only the savepoint can undo that.
    bad = Append(
        instance_id="a",
        records=(record(2), attrs.evolve(record(3), data=b"\x00")),
        summary=Summary(status="completed", updated_at=5.0),
    )

    results = store.write([bad, append("b", 1, new=True)])

    assert type(results[0]) is StoreError
    assert isinstance(results[0].__cause__, apsw.ConstraintError)
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


def test_an_event_batch_is_stored_whole_or_not_at_all(store: SqliteStore) -> None:
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


def test_an_event_the_database_refuses_fails_alone(store: SqliteStore) -> None:
    results = store.write([append("a", 1, new=True), event_row("\udfff"), event_row("2")])
    assert results[0] is None and type(results[1]) is StoreError and results[2] is None
    assert store.read("a") == [record(1)] and store.has_event("s", "2")


def test_failed_transaction_commits_nothing_and_store_stays_usable(store: SqliteStore) -> None:
    def refuse_commit(cursor: apsw.Cursor, sql: str, bindings: Any) -> bool:
        return not sql.startswith("COMMIT")

    store._writer.exec_trace = refuse_commit
    with pytest.raises(apsw.ExecTraceAbort):
        store.write([append("a", 1, new=True), append("b", 1, new=True)])
    store._writer.exec_trace = None

    assert store.get("a") is None and store.read("b") == []
    assert store.write([append("a", 1, new=True)]) == [None]


def test_read_returns_an_inclusive_range(store: SqliteStore) -> None:
    store.write([append("a", 1, 5, new=True)])
    assert [r.seq for r in store.read("a", 2, 4)] == [2, 3, 4]
    assert [r.seq for r in store.read("a", 4)] == [4, 5]
    assert [r.seq for r in store.read("a", to_seq=1)] == [1]
    assert store.read("a", 4, 3) == []
    assert store.read("a", 6) == []


def test_list_pages_in_creation_order(store: SqliteStore) -> None:
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


def test_list_filters_by_status_and_workflow(store: SqliteStore) -> None:
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
def test_list_limit_is_checked(store: SqliteStore, limit: int) -> None:
    with pytest.raises(ValueError, match="limit must be between 1 and 500"):
        store.list(limit=limit)


@pytest.mark.parametrize("cursor", ["", "garbage!", "bm90LWEtY3Vyc29y", "YWZ0ZXI6LTE"])
def test_list_rejects_a_cursor_it_did_not_make(store: SqliteStore, cursor: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid cursor$"):
        store.list(cursor=cursor)


def test_unfinished_and_counts(store: SqliteStore) -> None:
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


def test_timers_are_set_upserted_and_cleared(store: SqliteStore) -> None:
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
def test_terminal_status_drops_remaining_timers(store: SqliteStore, status: str) -> None:
    timers = (TimerRow(instance_id="a", step=1, fire_at=5.0),)
    store.write([append("a", 1, new=True, timers_set=timers), append("b", 1, new=True)])
    store.write([append("b", 2, timers_set=(TimerRow(instance_id="b", step=1, fire_at=6.0),))])
    store.write([append("a", 2, status=status)])
    assert store.timers() == [TimerRow(instance_id="b", step=1, fire_at=6.0)]


def test_timer_row_of_another_instance_is_refused(store: SqliteStore) -> None:
    stray = (TimerRow(instance_id="b", step=1, fire_at=5.0),)
    [error] = store.write([append("a", 1, new=True, timers_set=stray)])
    assert type(error) is StoreError
    assert "must belong to the appending instance" in str(error)
    assert store.get("a") is None and store.timers() == []


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


# --- the store against a model ---------------------------------------------------------------

IDS = ("a", "b", "c", "d", "e")
STATUSES = ("running", "waiting", "suspended", "completed", "failed", "cancelled")
WORKFLOWS = ("orders", "billing")
FAULTS = (
    "gap",
    "overlap",
    "not-consecutive",
    "empty",
    "wrong-new",
    "bad-payload",
    "unbindable",
    "bad-summary",
)
EVENT_KEYS = (("s1", "e1"), ("s1", "e2"), ("s2", "e1"))

texts = st.text(max_size=8).map(json.dumps)
times = st.floats(min_value=0, max_value=4e9, allow_nan=False)


class StoreMachine(RuleBasedStateMachine):
    """Random groups of appends (valid and not) and events against a plain-Python model of the
    store, and against a second store that writes every group one append at a time."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp(prefix="trioflow-store-")
        self.path = f"{self.directory}/store.db"
        self.reference_path = f"{self.directory}/reference.db"
        self.store = SqliteStore(self.path)
        self.reference = SqliteStore(self.reference_path)
        self.rows: dict[str, InstanceRow] = {}  # in creation order
        self.journals: dict[str, list[StoredRecord]] = {}
        self.timer_rows: dict[tuple[str, int], float] = {}
        self.wait_rows: dict[tuple[str, int], tuple[str, str | None]] = {}
        self.events: dict[tuple[str, str], float] = {}  # in arrival order

    def teardown(self) -> None:
        self.store.close()
        self.reference.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _draw_append(self, data: st.DataObject) -> tuple[Append, type[StoreError] | None]:
        instance_id = data.draw(st.sampled_from(IDS))
        exists = instance_id in self.rows
        expected = len(self.journals.get(instance_id, ())) + 1
        fault = data.draw(st.none() | st.sampled_from(FAULTS))
        count = data.draw(st.integers(1, 3))
        first = expected
        if fault == "gap":
            first = expected + data.draw(st.integers(1, 3))
        elif fault == "overlap":
            first = data.draw(st.integers(max(0, expected - 3), expected - 1))
        seqs = list(range(first, first + count))
        if fault == "not-consecutive":
            seqs.append(seqs[-1] + data.draw(st.sampled_from([0, 2, -1])))
        elif fault == "empty":
            seqs = []
        records = [
            StoredRecord(
                seq=seq,
                kind=data.draw(st.sampled_from(["started", "step", "done"])),
                version=data.draw(st.integers(1, 3)),
                at=data.draw(times),
                data=data.draw(texts),
            )
            for seq in seqs
        ]
        if fault == "bad-payload":
            records[-1] = attrs.evolve(records[-1], data=b"not text")
        elif fault == "unbindable":
            records[-1] = attrs.evolve(records[-1], data=object())
        new = not exists
        if fault == "wrong-new":
            new = exists
        summary = Summary(
            status=None if fault == "bad-summary" else data.draw(st.sampled_from(STATUSES)),
            waiting_on=data.draw(st.none() | st.sampled_from(["timer:3", "event:paid"])),
            output=data.draw(st.none() | texts),
            error=data.draw(st.none() | st.just("boom")),
            updated_at=data.draw(times),
        )
        steps = st.integers(0, 3)
        built = Append(
            instance_id=instance_id,
            records=tuple(records),
            summary=summary,
            new=NewInstance(
                workflow=data.draw(st.sampled_from(WORKFLOWS)),
                input=data.draw(texts),
                created_at=data.draw(times),
            )
            if new
            else None,
            timers_set=tuple(
                TimerRow(instance_id=instance_id, step=step, fire_at=data.draw(times))
                for step in data.draw(st.lists(steps, max_size=3))
            ),
            timers_cleared=tuple(data.draw(st.lists(steps, max_size=2))),
            waits_set=tuple(
                WaitRow(
                    instance_id=instance_id,
                    step=step,
                    type=data.draw(st.sampled_from(["paid", "shipped"])),
                    subject=data.draw(st.none() | st.just("A-1")),
                )
                for step in data.draw(st.lists(steps, max_size=2))
            ),
            waits_cleared=tuple(data.draw(st.lists(steps, max_size=2))),
        )
        error: type[StoreError] | None = {
            None: None,
            "gap": SequenceConflict,
            "overlap": SequenceConflict,
            "not-consecutive": SequenceConflict,
            # An empty append is a summary-only update; a new instance needs a record.
            "empty": None if exists else SequenceConflict,
            "wrong-new": UnknownInstance if not exists else InstanceExists,
            "bad-payload": StoreError,
            "unbindable": StoreError,
            "bad-summary": StoreError,
        }[fault]
        return built, error

    def _apply(self, a: Append) -> None:
        old = self.rows.get(a.instance_id)
        s = a.summary
        if a.new is not None:
            workflow, input_, created_at = a.new.workflow, a.new.input, a.new.created_at
        else:
            assert old is not None
            workflow, input_, created_at = old.workflow, old.input, old.created_at
        self.rows[a.instance_id] = InstanceRow(
            id=a.instance_id,
            workflow=workflow,
            status=s.status,
            input=input_,
            output=s.output,
            error=s.error,
            waiting_on=s.waiting_on,
            created_at=created_at,
            updated_at=s.updated_at,
            last_seq=a.records[-1].seq if a.records else old.last_seq if old else 0,
        )
        self.journals.setdefault(a.instance_id, []).extend(a.records)
        if s.status in TERMINAL:
            for rows in (self.timer_rows, self.wait_rows):
                for key in [k for k in rows if k[0] == a.instance_id]:
                    del rows[key]
            return
        for step in a.waits_cleared:
            self.wait_rows.pop((a.instance_id, step), None)
        for wait in a.waits_set:
            self.wait_rows[(a.instance_id, wait.step)] = (wait.type, wait.subject)
        for step in a.timers_cleared:
            self.timer_rows.pop((a.instance_id, step), None)
        for timer in a.timers_set:
            self.timer_rows[(a.instance_id, timer.step)] = timer.fire_at

    def _draw_event(self, data: st.DataObject) -> tuple[EventRow, type[StoreError] | None]:
        source, id_ = data.draw(st.sampled_from(EVENT_KEYS))
        row = EventRow(
            source=source,
            id=id_,
            type="paid",
            subject=None,
            instanceid=None,
            event="{}",
            received_at=data.draw(times),
        )
        if (source, id_) in self.events:
            return row, DuplicateEvent
        self.events[(source, id_)] = row.received_at
        return row, None

    def _draw_purge(self, data: st.DataObject) -> PurgeEvents:
        before = data.draw(times)
        limit = data.draw(st.none() | st.integers(0, 3))
        # Oldest first, ties in arrival order (the model's dict order).
        old = sorted((at, n, key) for n, (key, at) in enumerate(self.events.items()) if at < before)
        for _, _, key in old[:limit]:
            del self.events[key]
        return PurgeEvents(before=before, limit=limit)

    def _draw_delete(self, data: st.DataObject) -> DeleteInstances:
        ids = tuple(data.draw(st.lists(st.sampled_from(IDS), max_size=4)))
        before = data.draw(times)
        for instance_id in ids:
            row = self.rows.get(instance_id)
            if row is not None and row.status in TERMINAL and row.updated_at < before:
                del self.rows[instance_id], self.journals[instance_id]
                event("a finished instance deleted")
        return DeleteInstances(ids=ids, finished_before=before)

    @rule(data=st.data())
    def write(self, data: st.DataObject) -> None:
        group: list[Write] = []
        expected: list[type[StoreError] | None] = []
        for _ in range(data.draw(st.integers(1, 6), label="writes")):
            kind = data.draw(
                st.sampled_from(["append", "append", "append", "event", "purge", "delete"])
            )
            if kind == "append":
                built, error = self._draw_append(data)
                if error is None:
                    self._apply(built)
                group.append(built)
                expected.append(error)
            elif kind == "event":
                row, error = self._draw_event(data)
                group.append(row)
                expected.append(error)
            elif kind == "purge":
                group.append(self._draw_purge(data))
                expected.append(None)
            else:
                group.append(self._draw_delete(data))
                expected.append(None)
        for error in expected:
            event("write committed" if error is None else f"write refused: {error.__name__}")
        with statements(self.store) as seen:
            results = self.store.write(group)
        # A second BEGIN means the batched path was refused and the group written one by one.
        event("group redone one by one" if seen.count("BEGIN IMMEDIATE") > 1 else "group batched")
        assert [None if r is None else type(r) for r in results] == expected
        assert outcome(results) == outcome(write_one_by_one(self.reference, group))

    @rule(data=st.data())
    def read_range(self, data: st.DataObject) -> None:
        instance_id = data.draw(st.sampled_from(IDS))
        top = len(self.journals.get(instance_id, ())) + 2
        low = data.draw(st.integers(-1, top))
        high = data.draw(st.none() | st.integers(-1, top))
        expected = [
            r
            for r in self.journals.get(instance_id, ())
            if r.seq >= low and (high is None or r.seq <= high)
        ]
        assert self.store.read(instance_id, low, high) == expected

    @rule(
        status=st.none() | st.sampled_from(STATUSES),
        workflow=st.none() | st.sampled_from(WORKFLOWS),
        limit=st.integers(1, 3),
    )
    def page_through(self, status: str | None, workflow: str | None, limit: int) -> None:
        expected = [
            i
            for i, row in self.rows.items()
            if status in (None, row.status) and workflow in (None, row.workflow)
        ]
        seen: list[str] = []
        cursor = None
        while True:
            page = self.store.list(status=status, workflow=workflow, limit=limit, cursor=cursor)
            assert len(page.items) <= limit
            seen += [row.id for row in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == expected

    @rule(
        before=times,
        workflow=st.none() | st.sampled_from(WORKFLOWS),
        exclude=st.sets(st.sampled_from(WORKFLOWS), max_size=1),
        limit=st.integers(1, 3),
    )
    def page_through_finished(
        self, before: float, workflow: str | None, exclude: set[str], limit: int
    ) -> None:
        expected = sorted(
            (row.updated_at, i)
            for i, row in self.rows.items()
            if row.status in TERMINAL
            and row.updated_at < before
            and workflow in (None, row.workflow)
            and row.workflow not in exclude
        )
        seen: list[tuple[float, str]] = []
        after = None
        while page := self.store.finished(
            before=before, limit=limit, workflow=workflow, exclude=exclude, after=after
        ):
            assert len(page) <= limit
            seen += [(row.updated_at, row.id) for row in page]
            after = seen[-1]
        assert seen == expected

    @rule(before=times, buffered_at=times, limit=st.integers(1, 4))
    def count_expired_events(self, before: float, buffered_at: float, limit: int) -> None:
        # The model's events are never buffered (no expires_at).
        old = sum(1 for at in self.events.values() if at < before)
        counted = self.store.expired_events(before=before, buffered_at=buffered_at, limit=limit)
        assert counted == min(old, limit)

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = SqliteStore(self.path)

    @invariant()
    def instances_match(self) -> None:
        for instance_id in IDS:
            assert self.store.get(instance_id) == self.rows.get(instance_id)
            assert self.store.last_seq(instance_id) == len(self.journals.get(instance_id, ()))

    @invariant()
    def journals_match(self) -> None:
        for instance_id in IDS:
            assert self.store.read(instance_id) == self.journals.get(instance_id, [])

    @invariant()
    def derived_views_match(self) -> None:
        assert self.store.unfinished() == [
            i for i, row in self.rows.items() if row.status in ("running", "waiting")
        ]
        expected = sorted((fire_at, i, step) for (i, step), fire_at in self.timer_rows.items())
        assert self.store.timers() == [
            TimerRow(instance_id=i, step=step, fire_at=fire_at) for fire_at, i, step in expected
        ]
        for instance_id in IDS:
            assert self.store.waits_of(instance_id) == [
                WaitRow(instance_id=i, step=step, type=type_, subject=subject)
                for (i, step), (type_, subject) in sorted(self.wait_rows.items())
                if i == instance_id
            ]
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[row.status] = counts.get(row.status, 0) + 1
        assert self.store.counts_by_status() == counts

    @invariant()
    def events_match(self) -> None:
        stored = self.store._reader.execute("SELECT source, id FROM events ORDER BY pos")
        assert [tuple(key) for key in stored] == list(self.events)

    @invariant()
    def store_matches_the_one_by_one_reference(self) -> None:
        assert dump(self.store) == dump(self.reference)


StoreMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)
TestStoreModel = StoreMachine.TestCase
