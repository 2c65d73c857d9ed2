"""Ownership on PostgreSQL against a plain-Python model: three stores on one schema create,
append, claim and release instances while their owners are paused past their lease, killed
and woken at random; every append's outcome, every claim's answer and the owner and journal
length of every instance are what the model says."""

from __future__ import annotations

import attrs
import psycopg
from _stores import POSTGRES_URL, emptied_postgres_url
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from test_postgres_owners import end_session, expire, stale
from test_store_contract import append

from runtime.store import TERMINAL, NotOwner, PostgresStore

IDS = ("a", "b", "c", "d")
STORES = 3
STATUSES = ("running", "waiting", "suspended", "completed")
stores_ = st.integers(0, STORES - 1)


@attrs.define
class Row:
    owner: int | None
    last_seq: int
    status: str


class OwnersModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.url = emptied_postgres_url("owners-model")
        self.stores = [PostgresStore(self.url, lease=600) for _ in range(STORES)]
        self.rows: dict[str, Row] = {}
        self.created: list[str] = []  # in creation order: the order claims return
        self.gone: set[int] = set()
        """Stores whose owner the others count gone (paused past the lease, or killed)."""

    def owner_id(self, index: int) -> str:
        owner = self.stores[index].owner
        assert owner is not None
        return owner

    def takeable(self, row: Row, by: int) -> bool:
        return row.owner is None or (row.owner != by and row.owner in self.gone)

    @rule(
        by=stores_,
        ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True),
        status=st.sampled_from(STATUSES),
    )
    def write(self, by: int, ids: list[str], status: str) -> None:
        group = []
        expected: list[str | None] = []
        for instance_id in ids:
            row = self.rows.get(instance_id)
            if row is None:
                group.append(append(instance_id, 1, new=True, status=status))
                expected.append(None)
                self.rows[instance_id] = Row(owner=by, last_seq=1, status=status)
                self.created.append(instance_id)
            else:
                group.append(append(instance_id, row.last_seq + 1, status=status))
                if row.owner == by or self.takeable(row, by):
                    expected.append(None)
                    row.owner, row.last_seq, row.status = by, row.last_seq + 1, status
                else:
                    assert row.owner is not None
                    expected.append(self.owner_id(row.owner))
        results = self.stores[by].write(group)
        got = [r.owner if isinstance(r, NotOwner) else r for r in results]
        assert got == expected, (results, expected)

    @rule(by=stores_)
    def claim_orphans(self, by: int) -> None:
        expected = [
            instance_id
            for instance_id in self.created
            if self.rows[instance_id].status not in TERMINAL | {"suspended"}
            and self.takeable(self.rows[instance_id], by)
        ]
        assert self.stores[by].claim_orphans() == expected
        for instance_id in expected:
            self.rows[instance_id].owner = by

    @rule(by=stores_, instance_id=st.sampled_from(IDS))
    def claim(self, by: int, instance_id: str) -> None:
        held = self.stores[by].claim(instance_id)
        row = self.rows.get(instance_id)
        if row is None or row.owner == by or self.takeable(row, by):
            assert held is None
            if row is not None:
                row.owner = by
        else:
            assert row.owner is not None
            assert held is not None and held.id == self.owner_id(row.owner) and held.live

    @rule(by=stores_)
    def release(self, by: int) -> None:
        self.stores[by].release()
        for row in self.rows.values():
            if row.owner == by and row.status not in TERMINAL:
                row.owner = None

    @precondition(lambda self: len(self.gone) < STORES)
    @rule(by=stores_, killed=st.booleans())
    def lose(self, by: int, killed: bool) -> None:
        """Paused past its lease, or killed (its sessions end; three heartbeats missed)."""
        store = self.stores[by]
        if killed:
            stale(store)
            end_session(store._owner_conn)
        else:
            expire(store)
        self.gone.add(by)

    @precondition(lambda self: bool(self.gone))
    @rule(data=st.data())
    def wake(self, data: st.DataObject) -> None:
        """A lost owner renews again (its instances nobody took are still its own)."""
        by = data.draw(st.sampled_from(sorted(self.gone)))
        store = self.stores[by]
        store._on_owner_connection(store._beat)
        self.gone.discard(by)

    @invariant()
    def owners_and_journals_match(self) -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            schema = self.stores[0].schema
            rows = conn.execute(f'SELECT id, owner, last_seq FROM "{schema}".instances').fetchall()
        ids = {i: self.owner_id(i) for i in range(STORES)}
        expected = {
            (instance_id, None if row.owner is None else ids[row.owner], row.last_seq)
            for instance_id, row in self.rows.items()
        }
        assert set(rows) == expected

    def teardown(self) -> None:
        for store in self.stores:
            store.close()


TestOwnersModel = OwnersModel.TestCase
TestOwnersModel.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
