"""Changing a workflow under a running instance suspends it, names the step, loses nothing."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from runtime import (
    NonDeterminismError,
    NotSuspended,
    Runtime,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowFailed,
    activity,
    registry,
    workflow,
)


@activity
async def nd_charge(amount: int) -> int:
    return amount * 100


def define_v1() -> None:
    @workflow(name="nd_order")
    async def nd_order(ctx: WorkflowContext) -> int:
        cents = await ctx.run(nd_charge, 1)
        await ctx.sleep(3600)
        return int(await ctx.run(nd_charge, 2)) + cents


def define_v2() -> None:
    @workflow(name="nd_order")
    async def nd_order(ctx: WorkflowContext) -> int:
        cents = await ctx.run(nd_charge, 5)  # the argument changed
        await ctx.sleep(3600)
        return int(await ctx.run(nd_charge, 2)) + cents


@workflow(name="nd_bystander")
async def nd_bystander(ctx: WorkflowContext) -> str:
    await ctx.sleep(3600)
    return "done"


async def park(db: str) -> tuple[str, str]:
    """Start one changing instance and one bystander; stop while both sleep."""
    async with Runtime.open(db) as rt:
        changing = await rt.start("nd_order")
        bystander = await rt.start(nd_bystander)
        with trio.move_on_after(1):
            await rt.result(changing)
        assert (await rt.get(changing)).status == "waiting"
    return changing, bystander


async def test_a_changed_workflow_suspends_its_instance_and_the_others_carry_on(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    define_v1()
    changing, bystander = await park(db)
    define_v2()
    async with Runtime.open(db) as rt:
        instance = await rt.get(changing)
        assert instance.status == "suspended"
        assert instance.error["type"] == "NonDeterminismError"
        message = instance.error["message"]
        assert "step 1" in message
        assert "nd_charge(1)" in message and "nd_charge(5)" in message
        assert await rt.result(bystander) == "done"
        with pytest.raises(WorkflowFailed, match="NonDeterminismError"):
            await rt.result(changing)
        report = await rt.replay(changing)
        assert not report.ok and report.step == 1
        assert report.divergence == str(
            NonDeterminismError(1, "activity nd_charge(1)", "activity nd_charge(5)")
        )


async def test_resume_after_the_code_is_fixed_finishes_the_instance(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    define_v1()
    changing, _ = await park(db)
    define_v2()
    async with Runtime.open(db) as rt:
        assert (await rt.get(changing)).status == "suspended"
        with pytest.raises(NotSuspended):
            await rt.resume(_)
        define_v1()
        await rt.resume(changing)
        assert (await rt.get(changing)).status == "waiting"
        assert await rt.result(changing) == 300
        kinds = [h.kind for h in await rt.history(changing)]
        assert kinds.count("activity_scheduled") == 2


async def test_a_removed_step_is_reported(db: str, autojump_clock: trio.testing.MockClock) -> None:
    define_v1()
    changing, _ = await park(db)

    @workflow(name="nd_order")
    async def nd_order(ctx: WorkflowContext) -> int:
        await ctx.sleep(3600)  # the first activity was removed
        return 0

    async with Runtime.open(db) as rt:
        report = await rt.replay(changing)
        assert not report.ok and report.step == 1
        assert "nd_charge(1)" in (report.divergence or "")
        assert "timer" in (report.divergence or "")


def versioned(version: str, answer: str) -> None:
    async def flow(ctx: WorkflowContext) -> str:
        await ctx.sleep(3600)
        return answer

    registry.add_workflow(
        WorkflowDefinition(
            name="nd_versioned", fn=flow, input_type=None, takes_input=False, version=version
        )
    )


async def test_running_instances_keep_the_version_they_started_with(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    versioned("v1", "old")
    async with Runtime.open(db) as rt:
        old = await rt.start("nd_versioned")
        with trio.move_on_after(1):
            await rt.result(old)
    versioned("v2", "new")
    async with Runtime.open(db) as rt:
        new = await rt.start("nd_versioned")
        assert await rt.result(old) == "old"
        assert await rt.result(new) == "new"
        assert (await rt.replay(old)).ok
