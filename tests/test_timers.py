"""Durable timers: sleep, sleep_until, firing on time, overdue timers at recovery."""

from __future__ import annotations

import datetime as dt
import time

import trio
import trio.testing

from runtime import Runtime, WorkflowContext, activity, workflow


@workflow(name="tm_month")
async def tm_month(ctx: WorkflowContext) -> float:
    began = ctx.now()
    await ctx.sleep(30 * 86400)
    return (ctx.now() - began).total_seconds()


@workflow(name="tm_until")
async def tm_until(ctx: WorkflowContext, when: dt.datetime) -> str:
    await ctx.sleep_until(when)
    return ctx.now().isoformat()


async def test_a_thirty_day_sleep_finishes_at_once_on_the_mock_clock(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    real = time.monotonic()
    async with Runtime.open(db) as rt:
        iid = await rt.start(tm_month)
        assert await rt.result(iid) == 30 * 86400
    assert time.monotonic() - real < 1.0


async def test_a_timer_fires_at_its_due_time(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as rt:
        began = trio.current_time()
        iid = await rt.start(tm_month)
        await rt.result(iid)
        assert trio.current_time() - began == 30 * 86400


async def test_sleep_until_a_datetime(db: str, autojump_clock: trio.testing.MockClock) -> None:
    async with Runtime.open(db) as rt:
        when = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
        iid = await rt.start(tm_until, when)
        assert dt.datetime.fromisoformat(await rt.result(iid)) >= when


async def test_a_timer_that_fell_due_while_the_process_was_down_fires_at_recovery(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    down_at = 1_800_000_000.0
    async with Runtime.open(db, wall_time=lambda: down_at) as rt:
        when = dt.datetime.fromtimestamp(down_at + 5, dt.UTC)
        iid = await rt.start(tm_until, when)
        with trio.move_on_after(1):
            await rt.result(iid)
        assert (await rt.get(iid)).status == "waiting"
    # The process was down for an hour: the timer is overdue when it opens again.
    async with Runtime.open(db, wall_time=lambda: down_at + 3600) as rt:
        with trio.fail_after(0.5):
            out = await rt.result(iid)
        assert dt.datetime.fromisoformat(out) >= when


GATHERED: list[str] = []


@activity
async def tm_note(tag: str) -> str:
    GATHERED.append(tag)
    return tag


@workflow(name="tm_mixed")
async def tm_mixed(ctx: WorkflowContext) -> list[object]:
    results = await ctx.gather(
        ctx.run(tm_note, "a"),
        ctx.sleep(10),
        ctx.wait_event("go", timeout=100),
        ctx.run(tm_note, "b"),
    )
    return [results[0], results[1], results[2].type, results[3]]


async def test_gather_over_activities_timers_and_waits(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    from runtime import Event

    async with Runtime.open(db) as rt:
        iid = await rt.start(tm_mixed)
        with trio.move_on_after(20):
            await rt.result(iid)
        await rt.publish(Event(type="go"))
        assert await rt.result(iid) == ["a", None, "go", "b"]
        assert (await rt.replay(iid)).ok
