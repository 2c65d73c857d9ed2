"""Cancellation: raised at the current await; compensation runs; finished is an error."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from runtime import (
    InstanceFinished,
    InstanceNotFound,
    Runtime,
    WorkflowCancelled,
    WorkflowContext,
    activity,
    workflow,
)

REFUNDS: list[str] = []


@activity
async def cx_refund(order_id: str) -> str:
    REFUNDS.append(order_id)
    return f"refunded {order_id}"


@workflow(name="cx_order")
async def cx_order(ctx: WorkflowContext, order_id: str) -> str:
    try:
        await ctx.wait_event("payment.completed", subject=order_id)
        await ctx.sleep(3600)
    except WorkflowCancelled:
        await ctx.run(cx_refund, order_id)  # compensation may call activities
        raise
    return "shipped"


@workflow(name="cx_swallow")
async def cx_swallow(ctx: WorkflowContext) -> str:
    try:
        await ctx.sleep(3600)
    except WorkflowCancelled as exc:
        return f"stopped early: {exc.reason}"
    return "slept"


async def parked(rt: Runtime, iid: str) -> None:
    with trio.move_on_after(1):
        await rt.result(iid)


async def test_cancel_raises_at_the_current_await_and_compensation_runs(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    REFUNDS.clear()
    async with Runtime.open(db) as rt:
        iid = await rt.start(cx_order, "A1")
        await parked(rt, iid)
        await rt.cancel(iid, reason="customer asked")
        with pytest.raises(WorkflowCancelled, match="customer asked"):
            await rt.result(iid)
        instance = await rt.get(iid)
        assert instance.status == "cancelled"
        assert instance.error == {"type": "WorkflowCancelled", "message": "customer asked"}
        assert REFUNDS == ["A1"]
        kinds = [h.kind for h in await rt.history(iid)]
        assert kinds[-5:] == [
            "cancel_requested",
            "step_cancelled",  # the wait it was parked on is withdrawn
            "activity_scheduled",
            "activity_completed",
            "workflow_cancelled",
        ]
        assert (await rt.replay(iid)).ok


async def test_a_workflow_may_handle_cancellation_and_finish_normally(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(cx_swallow)
        await parked(rt, iid)
        await rt.cancel(iid, reason="no time")
        assert await rt.result(iid) == "stopped early: no time"


async def test_cancelling_a_finished_or_unknown_instance_is_a_clear_error(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(cx_swallow)
        await rt.result(iid)
        with pytest.raises(InstanceFinished, match="has finished"):
            await rt.cancel(iid)
        with pytest.raises(InstanceNotFound):
            await rt.cancel("ghost")


async def test_a_cancel_survives_a_restart(db: str, autojump_clock: trio.testing.MockClock) -> None:
    REFUNDS.clear()
    async with Runtime.open(db) as rt:
        iid = await rt.start(cx_order, "B2")
        await parked(rt, iid)
        await rt.cancel(iid, reason="stop")
    async with Runtime.open(db) as rt:
        with pytest.raises(WorkflowCancelled):
            await rt.result(iid)
    assert REFUNDS.count("B2") >= 1
