"""Activities: per-attempt timeouts, non-retryable errors, threads, bounded concurrency."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import trio
import trio.testing

from runtime import (
    ActivityError,
    ActivityInfo,
    RetryPolicy,
    Runtime,
    WorkflowContext,
    activity,
    current_activity,
    workflow,
)

ATTEMPTS: list[int] = []


@activity(retry=RetryPolicy(max_attempts=3, initial_interval=1), timeout=5)
async def ac_slow() -> str:
    ATTEMPTS.append(1)
    await trio.sleep(60)
    return "never"


class CardDeclined(Exception):
    pass


@activity(retry=RetryPolicy(max_attempts=5, non_retryable=(CardDeclined,)))
async def ac_declined() -> str:
    ATTEMPTS.append(1)
    raise CardDeclined("card declined")


@workflow(name="ac_catch")
async def ac_catch(ctx: WorkflowContext, which: str) -> Any:
    fn = {"slow": ac_slow, "declined": ac_declined}[which]
    try:
        return await ctx.run(fn)
    except ActivityError as exc:
        return [exc.activity, exc.type, exc.message, exc.attempts]


async def test_a_timeout_bounds_each_attempt(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    ATTEMPTS.clear()
    async with Runtime.open(db) as rt:
        before = trio.current_time()
        out = await rt.result(await rt.start(ac_catch, "slow"))
        assert out == ["ac_slow", "TimeoutError", "attempt 3 took longer than 5s", 3]
        assert len(ATTEMPTS) == 3
        assert trio.current_time() - before == 5 + 1 + 5 + 2 + 5


async def test_a_non_retryable_error_fails_at_once(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    ATTEMPTS.clear()
    async with Runtime.open(db) as rt:
        out = await rt.result(await rt.start(ac_catch, "declined"))
        assert out == ["ac_declined", "CardDeclined", "card declined", 1]
        assert len(ATTEMPTS) == 1


@activity
def ac_thread_name() -> bool:
    return threading.current_thread() is not threading.main_thread()


@workflow(name="ac_in_thread")
async def ac_in_thread(ctx: WorkflowContext) -> bool:
    return bool(await ctx.run(ac_thread_name))


async def test_sync_activities_run_in_worker_threads(db: str) -> None:
    async with Runtime.open(db) as rt:
        assert await rt.result(await rt.start(ac_in_thread), timeout=10) is True


RUNNING = 0
PEAK = 0


@activity
async def ac_busy(n: int) -> int:
    global RUNNING, PEAK
    RUNNING += 1
    PEAK = max(PEAK, RUNNING)
    await trio.sleep(1)
    RUNNING -= 1
    return n


@workflow(name="ac_fan")
async def ac_fan(ctx: WorkflowContext) -> list[int]:
    return list(await ctx.gather(*(ctx.run(ac_busy, n) for n in range(6))))


async def test_concurrent_activities_are_limited(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    global PEAK
    PEAK = 0
    async with Runtime.open(db, max_concurrent_activities=2) as rt:
        before = trio.current_time()
        assert await rt.result(await rt.start(ac_fan)) == list(range(6))
        assert PEAK == 2
        assert trio.current_time() - before == 3


SEEN: list[ActivityInfo] = []


@activity(retry=RetryPolicy(max_attempts=3, initial_interval=1))
async def ac_knows_itself() -> int:
    info = current_activity()
    SEEN.append(info)
    if info.attempt < 2:
        raise ConnectionError("first attempt fails")
    return info.attempt


@activity
def ac_knows_itself_in_a_thread() -> str:
    return current_activity().activity


@workflow(name="ac_introspect")
async def ac_introspect(ctx: WorkflowContext) -> list[Any]:
    return [await ctx.run(ac_knows_itself), await ctx.run(ac_knows_itself_in_a_thread)]


async def test_an_activity_knows_its_instance_step_and_attempt(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    SEEN.clear()
    async with Runtime.open(db) as rt:
        iid = await rt.start(ac_introspect)
        assert await rt.result(iid) == [2, "ac_knows_itself_in_a_thread"]
    assert [(i.instance_id, i.activity, i.step, i.attempt) for i in SEEN] == [
        (iid, "ac_knows_itself", 1, 1),
        (iid, "ac_knows_itself", 1, 2),
    ]
    with pytest.raises(RuntimeError, match="only available inside an activity"):
        current_activity()
