"""A store that takes no writes for a while (disk full), with a real runtime and its HTTP API.

`FillingDisk` is a real `SqliteStore` whose writes raise `apsw.FullError`, as SQLite does on a
full disk, while `full` is set: the test decides when the disk fills and when it is freed, which
a real full filesystem cannot do to the step. `test_disk_full.py` fills a real one.
"""

from __future__ import annotations

import builtins
import collections
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import apsw
import pytest
import trio
import trio.testing

from api import HTTPProblem, create_app
from api._problems import problem_for
from runtime import (
    Event,
    NotSuspended,
    Overloaded,
    Runtime,
    StorageUnavailable,
    WorkflowContext,
    activity,
    workflow,
)
from runtime._journal import JournalClosed
from runtime.store import Append, SqliteStore, StoreError, Write

RUNS: collections.Counter[str] = collections.Counter()
GATE: list[trio.Event] = []


class FillingDisk(SqliteStore):
    full = False

    def write(self, appends: Sequence[Write]) -> builtins.list[StoreError | None]:
        if self.full:
            raise apsw.FullError("database or disk is full")
        return super().write(appends)


@activity
async def sf_step(instance_id: str, name: str) -> str:
    RUNS[f"{instance_id} {name}"] += 1
    await GATE[0].wait()
    return name


@workflow(name="sf_flow")
async def sf_flow(ctx: WorkflowContext) -> list[str]:
    first = await ctx.run(sf_step, ctx.instance_id, "first")
    second = await ctx.run(sf_step, ctx.instance_id, "second")
    return [first, second]


@workflow(name="sf_wait")
async def sf_wait(ctx: WorkflowContext, key: str) -> Any:
    return (await ctx.wait_event("sf.go", subject=key)).data


@pytest.fixture(autouse=True)
def fresh() -> None:
    RUNS.clear()
    GATE[:] = [trio.Event()]


async def test_instances_block_while_the_disk_is_full_and_carry_on_once_it_is_freed(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    store = FillingDisk(tmp_path / "faults.db")
    async with Runtime.open(store=store) as rt:
        ids = [await rt.start(sf_flow) for _ in range(3)]
        parked = await rt.start(sf_wait, "k")
        await trio.testing.wait_all_tasks_blocked()
        store.full = True
        GATE[0].set()  # the first steps finish now, and their results cannot be journaled
        await trio.sleep(60)  # a minute of retries: no step runs again meanwhile

        for instance_id in ids:
            instance = await rt.get(instance_id)
            assert instance.status == "blocked"
            assert instance.blocked is not None
            assert instance.blocked.reason == "database or disk is full"
        assert (await rt.get(parked)).status == "waiting"  # nothing of it waits on the store
        # In creation order; these were created at one instant, so by id within it.
        page = await rt.list(status="blocked", limit=2)
        assert len(page.items) == 2 and page.next_cursor is not None
        rest = await rt.list(status="blocked", cursor=page.next_cursor)
        assert len(rest.items) == 1 and rest.next_cursor is None
        assert [i.id for i in (*page.items, *rest.items)] == sorted(ids)
        assert [i.id for i in (await rt.list(status="running")).items] == []
        assert rt.stats().instances["blocked"] == 3
        with pytest.raises(StorageUnavailable, match="database or disk is full"):
            await rt.start(sf_flow)
        with pytest.raises(StorageUnavailable):
            await rt.publish(Event(type="sf.go", subject="k", data=1))
        with pytest.raises(StorageUnavailable):
            await rt.cancel(parked)
        with pytest.raises(NotSuspended):
            await rt.resume(parked)

        store.full = False
        assert [await rt.result(i, timeout=10) for i in ids] == [["first", "second"]] * 3
        await rt.publish(Event(type="sf.go", subject="k", data=1))
        assert await rt.result(parked, timeout=10) == 1
        assert (await rt.get(ids[0])).blocked is None
        assert "blocked" not in rt.stats().instances or rt.stats().instances["blocked"] == 0
    assert dict(RUNS) == {f"{i} {name}": 1 for i in ids for name in ("first", "second")}


async def test_http_answers_503_with_retry_after_while_the_disk_is_full(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    store = FillingDisk(tmp_path / "faults.db")
    async with Runtime.open(store=store) as rt:
        fast = create_app(rt).test_client()
        quart_app = create_app(rt)
        quart_app.before_request(lambda: None)  # the start route is then Quart's own
        quart = quart_app.test_client()
        started = await (await fast.post("/workflows/sf_flow")).get_json()
        iid = started["instance_id"]
        waiting = await rt.start(sf_wait, "k2")
        await trio.testing.wait_all_tasks_blocked()
        store.full = True
        GATE[0].set()
        await trio.sleep(1)

        requests = [
            (fast, "/workflows/sf_flow", None),
            (quart, "/workflows/sf_flow", None),
            (fast, "/events", {"specversion": "1.0", "id": "e1", "source": "t", "type": "x"}),
            (fast, "/", {"specversion": "1.0", "id": "e2", "source": "t", "type": "x"}),
            (fast, "/events", [{"specversion": "1.0", "id": "e3", "source": "t", "type": "x"}]),
            (fast, f"/instances/{waiting}/events", {"type": "sf.go", "data": 1}),
            (fast, f"/instances/{waiting}/cancel", None),
        ]
        for client, path, document in requests:
            if document is None:
                response = await client.post(path)
            elif path.startswith("/instances"):
                response = await client.post(path, json=document)
            elif isinstance(document, list):
                response = await client.post(
                    path,
                    data=json.dumps(document),
                    headers={"content-type": "application/cloudevents-batch+json"},
                )
            else:
                response = await client.post(
                    path,
                    data=json.dumps(document),
                    headers={"content-type": "application/cloudevents+json"},
                )
            assert response.status_code == 503, path
            assert response.mimetype == "application/problem+json"
            assert int(response.headers["Retry-After"]) >= 1
            problem = await response.get_json()
            assert problem["type"] == "urn:trioflow:problem:storage-unavailable"
            assert "database or disk is full" in problem["detail"]

        document = await (await fast.get(f"/instances/{iid}")).get_json()
        assert document["status"] == "blocked"
        assert document["blocked"]["reason"] == "database or disk is full"
        listed = await (await fast.get("/instances?status=blocked")).get_json()
        assert [i["id"] for i in listed["items"]] == [iid]
        metrics = await (await fast.get("/metrics")).get_data(as_text=True)
        assert 'trioflow_instances{status="blocked"} 1.0' in metrics
        assert "trioflow_storage_failing 1.0" in metrics
        page = await (await fast.get("/ui/instances/" + iid)).get_data(as_text=True)
        assert "database or disk is full" in page

        store.full = False
        resumed = await fast.post(f"/instances/{iid}/resume")  # blocked: try the store now
        assert resumed.status_code == 202
        assert await rt.result(iid, timeout=1) == ["first", "second"]
    assert dict(RUNS) == {f"{iid} first": 1, f"{iid} second": 1}


class Refusing(SqliteStore):
    """Refuses every append of the instances in `broken` (each in its own slot)."""

    broken: builtins.set[str]

    def write(self, appends: Sequence[Write]) -> builtins.list[StoreError | None]:
        kept = [a for a in appends if getattr(a, "instance_id", None) not in self.broken]
        results = iter(super().write(kept))
        return [
            StoreError("disk I/O error")
            if getattr(a, "instance_id", None) in self.broken
            else next(results)
            for a in appends
        ]


async def test_a_give_up_whose_suspension_cannot_be_stored_leaves_the_runtime_running(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = Refusing(tmp_path / "faults.db")
    store.broken = set()
    async with Runtime.open(store=store) as rt:
        sick = await rt.start(sf_wait, "sick")
        store.broken.add(sick)
        # Every append of it fails: the actor restarts, is given up on, and even the
        # suspension is refused; before, that error ended the runtime.
        published = await rt.publish(Event(type="sf.go", subject="sick", data=1))
        assert published.delivered == ()
        await trio.sleep(60)
        assert f"cannot suspend instance {sick}" in caplog.text
        GATE[0].set()
        healthy = await rt.start(sf_flow)
        assert await rt.result(healthy, timeout=10) == ["first", "second"]


@workflow(name="sf_triggered", trigger="sf.signup")
async def sf_triggered(ctx: WorkflowContext, name: str) -> str:
    return f"welcome {name}"


class FullForStarts(SqliteStore):
    """Fails every transaction that creates an instance while `full` is set."""

    full = False

    def write(self, appends: Sequence[Write]) -> builtins.list[StoreError | None]:
        if self.full and any(getattr(a, "new", None) is not None for a in appends):
            raise apsw.FullError("database or disk is full")
        return super().write(appends)


async def test_an_event_stored_without_its_triggered_start_starts_it_when_sent_again(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    store = FullForStarts(tmp_path / "faults.db")
    event = Event(type="sf.signup", source="site", id="u1", data="Ada")
    async with Runtime.open(store=store) as rt:
        store.full = True
        with pytest.raises(StorageUnavailable, match="the event is stored, but the start"):
            await rt.publish(event)
        assert (await rt.list()).items == ()
        await trio.sleep(10)
        store.full = False
        again = await rt.publish(event)
        assert again.duplicate
        (instance,) = (await rt.list()).items
        assert await rt.result(instance.id, timeout=10) == "welcome Ada"


@pytest.mark.parametrize(
    "error, seconds",
    [
        (StorageUnavailable("the database takes no writes now", retry_after=3.2), b"4"),
        (Overloaded("the journal queue is full"), b"1"),
        (JournalClosed("the journal writer is closed"), b"1"),
        (HTTPProblem(503, "draining"), b"1"),
    ],
)
def test_every_503_says_when_to_retry(error: Exception, seconds: bytes) -> None:
    answer = problem_for(error, "/x")
    assert answer.status == 503
    assert (b"retry-after", seconds) in [(k.lower(), v) for k, v in answer.headers]


class FlakyThenFull(FillingDisk):
    """Refuses the journal records of the instances in `broken` (each in its own slot), and
    every transaction while `full`."""

    broken: builtins.set[str]

    def write(self, appends: Sequence[Write]) -> builtins.list[StoreError | None]:
        def refused(a: Write) -> bool:
            return isinstance(a, Append) and a.instance_id in self.broken and bool(a.records)

        results = iter(super().write([a for a in appends if not refused(a)]))
        return [StoreError("disk I/O error") if refused(a) else next(results) for a in appends]


async def test_a_resume_the_store_cannot_take_leaves_the_instance_suspended(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    store = FlakyThenFull(tmp_path / "faults.db")
    store.broken = set()
    async with Runtime.open(store=store) as rt:
        sick = await rt.start(sf_wait, "s")
        store.broken.add(sick)
        await rt.publish(Event(type="sf.go", subject="s", data=5))
        await trio.sleep(60)  # restarts, then the supervisor gives up on it
        assert (await rt.get(sick)).status == "suspended"
        store.broken.clear()
        store.full = True
        with pytest.raises(StorageUnavailable, match="database or disk is full"):
            await rt.resume(sick)
        assert (await rt.get(sick)).status == "suspended"
        store.full = False
        await trio.sleep(10)
        await rt.resume(sick)
        assert await rt.result(sick, timeout=10) == 5
