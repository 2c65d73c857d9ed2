"""The runtime as a user drives it: start, result, queries, retries, recovery."""

from __future__ import annotations

import functools
import itertools
import math
import re
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from runtime import (
    ActivityError,
    InstanceConflict,
    InstanceNotFound,
    InvalidInput,
    Registry,
    RetryPolicy,
    Runtime,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowFailed,
    WorkflowNotFound,
    activity,
    workflow,
)


@attrs.frozen
class Order:
    order_id: str
    amount: float = attrs.field()

    @amount.validator
    def _positive(self, _: Any, value: float) -> None:
        if value <= 0:
            raise ValueError("amount must be > 0")


@activity
async def rt_validate(order: Order) -> bool:
    return order.amount < 1000


@activity
def rt_charge(order_id: str, amount: float) -> str:  # sync: runs in a worker thread
    return f"txn-{order_id}-{amount}"


@workflow(name="rt_order")
async def rt_order(ctx: WorkflowContext, order: Order) -> dict[str, Any]:
    ok = await ctx.run(rt_validate, order)
    txn = await ctx.run(rt_charge, order.order_id, order.amount)
    return {"ok": ok, "txn": txn}


@workflow(name="rt_other")
async def rt_other(ctx: WorkflowContext) -> int:
    return 1


async def test_start_returns_an_id_and_result_returns_the_output(db: str) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(rt_order, Order("A1", 9.5))
        assert await rt.result(iid, timeout=10) == {"ok": True, "txn": "txn-A1-9.5"}
        inst = await rt.get(iid)
        assert (inst.workflow, inst.status) == ("rt_order", "completed")
        assert inst.input == {"order_id": "A1", "amount": 9.5}
        assert inst.output == {"ok": True, "txn": "txn-A1-9.5"}


async def test_start_by_name_with_a_dict_input(db: str) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start("rt_order", {"order_id": "A2", "amount": 5}, instance_id="order-A2")
        assert iid == "order-A2"
        assert (await rt.result(iid, timeout=10))["txn"] == "txn-A2-5.0"


async def test_start_with_an_instance_id_is_idempotent(db: str) -> None:
    async with Runtime.open(db) as rt:
        first = await rt.start(rt_order, Order("A1", 1.0), instance_id="o-1")
        again = await rt.start(rt_order, Order("A1", 1.0), instance_id="o-1")
        assert first == again == "o-1"
        await rt.result("o-1", timeout=10)
        page = await rt.list()
        assert [i.id for i in page.items] == ["o-1"]
        with pytest.raises(InstanceConflict, match="rt_order"):
            await rt.start(rt_other, instance_id="o-1")


async def test_the_same_instance_id_with_another_input_is_a_conflict(db: str) -> None:
    async with Runtime.open(db) as rt:
        await rt.start("rt_order", {"order_id": "A1", "amount": 1.0}, instance_id="o-1")
        # The same input in another key order is the same input.
        again = await rt.start("rt_order", {"amount": 1.0, "order_id": "A1"}, instance_id="o-1")
        assert again == "o-1"
        assert await rt.start(rt_order, Order("A1", 1.0), instance_id="o-1") == "o-1"
        with pytest.raises(InstanceConflict, match="'o-1' exists already with another input"):
            await rt.start(rt_order, Order("A1", 2.0), instance_id="o-1")
        history = await rt.history("o-1")
        assert [h.kind for h in history].count("workflow_started") == 1
        assert (await rt.get("o-1")).input == {"order_id": "A1", "amount": 1.0}


async def test_concurrent_starts_with_one_id_start_one_instance(db: str) -> None:
    async with Runtime.open(db) as rt:
        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(
                    functools.partial(rt.start, instance_id="same"), rt_order, Order("A1", 1.0)
                )
        history = await rt.history("same")
        assert [h.kind for h in history].count("workflow_started") == 1


async def test_invalid_input_names_the_field_and_writes_nothing(db: str) -> None:
    async with Runtime.open(db) as rt:
        with pytest.raises(InvalidInput, match=r"input\.amount"):
            await rt.start(rt_order, {"order_id": "A1", "amount": "lots"})
        with pytest.raises(InvalidInput, match="amount must be > 0"):
            await rt.start(rt_order, {"order_id": "A1", "amount": -1})
        with pytest.raises(InvalidInput, match="order_id"):
            await rt.start(rt_order, {"amount": 3})
        with pytest.raises(InvalidInput, match="takes no input"):
            await rt.start(rt_other, {"x": 1})
        assert (await rt.list()).items == ()


@pytest.mark.parametrize(
    ("instance_id", "problem"),
    [
        ("", "must be 1 to 200 characters"),
        ("x" * 201, "must be 1 to 200 characters"),
        ("tenant/A1", "must not contain '/'"),
        ("..", "must not be '.' or '..'"),
    ],
)
async def test_an_instance_id_that_no_url_could_name_is_refused(
    db: str, instance_id: str, problem: str
) -> None:
    async with Runtime.open(db) as rt:
        with pytest.raises(InvalidInput, match=f"instance_id: {re.escape(problem)}"):
            await rt.start(rt_order, Order("A1", 1.0), instance_id=instance_id)
        assert await rt.start(rt_order, Order("A1", 1.0), instance_id="tenant:A1 #1?") == (
            "tenant:A1 #1?"
        )
        assert [i.id for i in (await rt.list()).items] == ["tenant:A1 #1?"]


async def test_unknown_workflow_and_instance_are_clear_errors(db: str) -> None:
    async with Runtime.open(db) as rt:
        with pytest.raises(WorkflowNotFound, match="nope"):
            await rt.start("nope")
        with pytest.raises(InstanceNotFound, match="ghost"):
            await rt.get("ghost")
        with pytest.raises(InstanceNotFound):
            await rt.result("ghost")


async def test_list_pages_with_a_cursor_and_filters(db: str) -> None:
    async with Runtime.open(db) as rt:
        ids = [await rt.start(rt_other, instance_id=f"i{n}") for n in range(5)]
        for iid in ids:
            await rt.result(iid, timeout=10)
        await rt.result(await rt.start(rt_order, Order("A", 1.0), instance_id="o"), timeout=10)
        seen = []
        cursor = None
        while True:
            page = await rt.list(workflow="rt_other", limit=2, cursor=cursor)
            seen += [i.id for i in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == ids
        assert [i.id for i in (await rt.list(status="completed", limit=500)).items] == [*ids, "o"]
        with pytest.raises(ValueError, match=r"status must be one of running, waiting, .*'done'"):
            await rt.list(status="done")


async def test_history_is_the_journal_in_order(db: str) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(rt_order, Order("A1", 2.0))
        await rt.result(iid, timeout=10)
        kinds = [h.kind for h in await rt.history(iid)]
        assert kinds == [
            "workflow_started",
            "activity_scheduled",
            "activity_completed",
            "activity_scheduled",
            "activity_completed",
            "workflow_completed",
        ]
        assert [h.seq for h in await rt.history(iid)] == [1, 2, 3, 4, 5, 6]


FLAKY_CALLS: list[int] = []


@activity(retry=RetryPolicy(max_attempts=4, initial_interval=30, backoff=2))
async def rt_flaky(fail_times: int) -> int:
    FLAKY_CALLS.append(int(trio.current_time()))
    if len(FLAKY_CALLS) <= fail_times:
        raise ConnectionError(f"attempt {len(FLAKY_CALLS)} failed")
    return len(FLAKY_CALLS)


@workflow(name="rt_retry")
async def rt_retry(ctx: WorkflowContext, fail_times: int) -> Any:
    try:
        return await ctx.run(rt_flaky, fail_times)
    except ActivityError as exc:
        return {"type": exc.type, "message": exc.message, "attempts": exc.attempts}


async def test_retries_back_off_on_durable_timers(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    FLAKY_CALLS.clear()
    async with Runtime.open(db) as rt:
        iid = await rt.start(rt_retry, 2)
        assert await rt.result(iid, timeout=1000) == 3
        gaps = [b - a for a, b in itertools.pairwise(FLAKY_CALLS)]
        assert gaps == [30, 60]
        kinds = [h.kind for h in await rt.history(iid)]
        assert kinds.count("activity_failed") == 2
        assert kinds.count("timer_started") == 2


async def test_exhausted_retries_raise_activity_error_identically_on_replay(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    FLAKY_CALLS.clear()
    async with Runtime.open(db) as rt:
        iid = await rt.start(rt_retry, 10)
        out = await rt.result(iid, timeout=10_000)
        assert out == {"type": "ConnectionError", "message": "attempt 4 failed", "attempts": 4}
        report = await rt.replay(iid)
        assert report.ok, report.divergence


@workflow(name="rt_boom")
async def rt_boom(ctx: WorkflowContext) -> None:
    raise KeyError("missing")


async def test_a_failing_workflow_fails_with_its_error(db: str) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(rt_boom)
        with pytest.raises(WorkflowFailed, match="KeyError"):
            await rt.result(iid, timeout=10)
        inst = await rt.get(iid)
        assert inst.status == "failed"
        assert inst.error == {"type": "KeyError", "message": "'missing'"}


RELEASE = trio.Event()
BLOCKING_RUNS: list[str] = []


@activity
async def rt_blocking(tag: str) -> str:
    BLOCKING_RUNS.append(tag)
    await RELEASE.wait()
    return tag


@workflow(name="rt_blocks")
async def rt_blocks(ctx: WorkflowContext, tag: str) -> str:
    first = await ctx.run(rt_validate, Order("A", 1.0))
    return f"{first}:{await ctx.run(rt_blocking, tag)}"


async def test_an_unfinished_instance_is_recovered_when_the_runtime_opens_again(db: str) -> None:
    global RELEASE
    RELEASE = trio.Event()
    BLOCKING_RUNS.clear()
    async with Runtime.open(db) as rt:
        iid = await rt.start(rt_blocks, "x")
        while not BLOCKING_RUNS:
            await trio.testing.wait_all_tasks_blocked()
        assert (await rt.get(iid)).status == "running"
    RELEASE.set()
    async with Runtime.open(db) as rt:
        assert await rt.result(iid, timeout=10) == "True:x"
    assert BLOCKING_RUNS == ["x", "x"]
    kinds = [h.kind for h in await _history(db, iid)]
    assert kinds.count("activity_completed") == 2  # rt_validate once, rt_blocking once


async def _history(db: str, iid: str) -> Any:
    async with Runtime.open(db) as rt:
        return await rt.history(iid)


@workflow(name="rt_progress")
async def rt_progress(ctx: WorkflowContext, steps: int) -> int:
    done: list[int] = []
    ctx.expose({"done": done})
    for n in range(steps):
        await ctx.sleep(10)
        done.append(n)
    return len(done)


async def test_query_rebuilds_what_the_workflow_exposed(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(rt_progress, 3)
        with trio.move_on_after(25):
            await rt.result(iid)
        assert await rt.query(iid) == {"done": [0, 1]}
        await rt.result(iid)
        assert await rt.query(iid) == {"done": [0, 1, 2]}


async def rt_ticked(ctx: WorkflowContext) -> str:
    return ctx.instance_id


T0 = 1_800_000_000  # a whole minute


def every_minute_from_t0(after: float) -> float:
    """An absolute schedule: each minute after T0."""
    return (math.floor(max(after, T0) / 60) + 1) * 60.0


async def test_a_schedule_starts_an_instance_at_each_due_and_catches_up_at_open(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    registry = Registry()
    registry.add_workflow(
        WorkflowDefinition(
            name="rt_ticked",
            fn=rt_ticked,
            input_type=None,
            takes_input=False,
            schedule=every_minute_from_t0,
        )
    )

    async def ids(rt: Runtime) -> list[str]:
        await trio.testing.wait_all_tasks_blocked()
        return sorted(i.id for i in (await rt.list(workflow="rt_ticked")).items)

    async with Runtime.open(db, registry=registry, wall_time=lambda: T0 + 1) as rt:
        await trio.sleep(150)
        assert await ids(rt) == [f"rt_ticked@{T0 + 60}", f"rt_ticked@{T0 + 120}"]
        assert await rt.result(f"rt_ticked@{T0 + 60}") == f"rt_ticked@{T0 + 60}"
    # Down from T0 + 151 to T0 + 1000: the dues of the last 300 s are started at open.
    async with Runtime.open(
        db, registry=registry, wall_time=lambda: T0 + 1000, event_retention=300
    ) as rt:
        missed = [f"rt_ticked@{T0 + s}" for s in range(720, 1000, 60)]
        assert await ids(rt) == [f"rt_ticked@{T0 + 60}", f"rt_ticked@{T0 + 120}", *missed]


async def test_generated_instance_ids_are_unique_and_carry_their_start_time(db: str) -> None:
    import time
    import uuid

    async with Runtime.open(db) as rt:
        before = time.time()
        ids = [await rt.start(rt_other) for _ in range(20)]
        after = time.time()
    assert len(set(ids)) == 20
    for iid in ids:
        value = uuid.UUID(iid)
        assert value.version == 7
        assert before - 0.001 <= (value.int >> 80) / 1000 <= after + 0.001
