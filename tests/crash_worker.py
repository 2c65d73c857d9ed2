"""The workflow of the crash test, and the child process that runs it until it is killed.

Both processes import this module: the child (``python tests/crash_worker.py DB EFFECTS N``)
starts the instances and keeps running them until the test SIGKILLs it; the test process imports
it so that the same workflow and activities are registered when it recovers the file.

Every activity first writes its side effect, one line ``<instance id> <activity> <pid>`` in the
effects file, then works for a while. The pid tells the killed child's runs from the runs after
recovery. Activities cannot learn their attempt number from the runtime (there is no activity
context), and nothing here fails, so every line is attempt 1 as the journal sees it: a second
line for one activity is a re-run of that attempt after the crash.
"""

from __future__ import annotations

import functools
import sys

import trio
from _processes import run_effect

from runtime import Runtime, WorkflowContext, activity, workflow

EFFECTS_PATH = ""
"""The side-effect file; the child sets it from its arguments, the test with monkeypatch."""

MAX_CONCURRENT_ACTIVITIES = 16
"""Few activities at once, so that a run of 600 lasts long enough for the kill to land in it."""


def instance_ids(count: int) -> list[str]:
    return [f"crash-{n:03d}" for n in range(count)]


def expected_output(instance_id: str, n: int) -> str:
    return f"{instance_id}:{(n + 1) * 2}"


SECONDS = (0.01, 0.05)
"""How long an activity works after recording its run."""


@activity
async def crash_reserve(instance_id: str, n: int) -> int:
    await run_effect(EFFECTS_PATH, instance_id, "crash_reserve", SECONDS)
    return n + 1


@activity
async def crash_charge(instance_id: str, amount: int) -> int:
    await run_effect(EFFECTS_PATH, instance_id, "crash_charge", SECONDS)
    return amount * 2


@activity
async def crash_ship(instance_id: str, amount: int) -> str:
    await run_effect(EFFECTS_PATH, instance_id, "crash_ship", SECONDS)
    return f"{instance_id}:{amount}"


ACTIVITIES = ("crash_reserve", "crash_charge", "crash_ship")


@workflow
async def crash_flow(ctx: WorkflowContext, n: int) -> str:
    reserved = await ctx.run(crash_reserve, ctx.instance_id, n)
    charged = await ctx.run(crash_charge, ctx.instance_id, reserved)
    shipped: str = await ctx.run(crash_ship, ctx.instance_id, charged)
    return shipped


async def _main(db: str, count: int) -> None:
    async with Runtime.open(db, max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES) as rt:
        async with trio.open_nursery() as nursery:
            for n, instance_id in enumerate(instance_ids(count)):
                nursery.start_soon(
                    functools.partial(rt.start, instance_id=instance_id), crash_flow, n
                )
        print("started", flush=True)  # every start is committed: the test may kill from now on
        for instance_id in instance_ids(count):
            await rt.result(instance_id)
        print("finished", flush=True)  # the test failed to kill us in time


if __name__ == "__main__":
    db_path, EFFECTS_PATH, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    trio.run(_main, db_path, count)
