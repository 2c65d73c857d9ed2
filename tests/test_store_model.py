"""Every store against a plain-Python model of it: random groups of appends (valid and
not), events and purges, checked after each step; and against a second store of the same kind
that writes each group one append at a time (the outcome the batched path must reach)."""

from __future__ import annotations

import contextlib
import json

import attrs
from _stores import dump, event_keys, fresh_database, open_store, write_one_by_one
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from runtime.store import (
    TERMINAL,
    Append,
    DeleteInstances,
    DuplicateEvent,
    EventRow,
    InstanceExists,
    InstanceRow,
    NewInstance,
    NewRun,
    PurgeEvents,
    SequenceConflict,
    StoredRecord,
    StoreError,
    Summary,
    TimerRow,
    UnknownInstance,
    WaitRow,
    Write,
)


def outcome(results: list[StoreError | None]) -> list[tuple[type[StoreError], str] | None]:
    return [None if r is None else (type(r), str(r)) for r in results]


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

    kind = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.databases = contextlib.ExitStack()
        self.path = self.databases.enter_context(fresh_database(self.kind, reuse="model"))
        reference = self.databases.enter_context(fresh_database(self.kind, reuse="reference"))
        self.store = open_store(self.kind, self.path)
        self.reference = open_store(self.kind, reference)
        self.rows: dict[str, InstanceRow] = {}  # in creation order
        self.journals: dict[str, list[StoredRecord]] = {}
        self.timer_rows: dict[tuple[str, int], float] = {}
        self.wait_rows: dict[tuple[str, int], tuple[str, str | None]] = {}
        self.events: dict[tuple[str, str], float] = {}  # in arrival order

    def teardown(self) -> None:
        self.store.close()
        self.reference.close()
        self.databases.close()

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
        run = None
        if records and data.draw(st.integers(0, 3)) == 0:  # the append begins a new run
            outside = fault is None and data.draw(st.booleans())
            if outside:
                fault = "run-outside"
            at = seqs[-1] + 1 if outside else data.draw(st.sampled_from(seqs[:count]))
            run = NewRun(run=data.draw(st.integers(2, 5)), seq=at)
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
            run=run,
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
            "run-outside": SequenceConflict,
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
            run=a.run.run if a.run else old.run if old else 1,
            run_seq=a.run.seq if a.run else old.run_seq if old else 1,
        )
        self.journals.setdefault(a.instance_id, []).extend(a.records)
        if s.status in TERMINAL or a.run is not None:
            for rows in (self.timer_rows, self.wait_rows):
                for key in [k for k in rows if k[0] == a.instance_id]:
                    del rows[key]
        if s.status in TERMINAL:
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
        results = self.store.write(group)
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
        self.store = open_store(self.kind, self.path)

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
        assert event_keys(self.store) == list(self.events)

    @invariant()
    def store_matches_the_one_by_one_reference(self) -> None:
        assert dump(self.store) == dump(self.reference)


class PostgresStoreMachine(StoreMachine):
    kind = "postgres"


StoreMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)
PostgresStoreMachine.TestCase.settings = StoreMachine.TestCase.settings
TestSqliteStoreModel = StoreMachine.TestCase
TestPostgresStoreModel = PostgresStoreMachine.TestCase
