"""The workflow of the continue-as-new crash test, and the child process that runs it until it
is killed.

Both processes import this module: the child (``python tests/runs_worker.py DB EFFECTS N``)
starts the instances; each run does one activity and continues as new with the next round. In
the child, the activity of round ``HANG_ROUND`` never ends: the test kills the child once every
instance has started it, so the kill lands after each instance's continue was journaled and
before the new run's first step completed. The test process imports it with ``HANG_ROUND`` unset,
so the same workflow runs to its end when it recovers the file.
"""

from __future__ import annotations

import functools
import sys

import trio
from _processes import record_effect

from runtime import Runtime, WorkflowContext, activity, workflow

EFFECTS_PATH = ""
"""The side-effect file; the child sets it from its arguments, the test with monkeypatch."""
HANG_ROUND: int | None = None
ROUNDS = 3


def instance_ids(count: int) -> list[str]:
    return [f"runs-{n:03d}" for n in range(count)]


@activity
async def runs_round(instance_id: str, round: int) -> int:
    record_effect(EFFECTS_PATH, instance_id, f"round-{round}")
    if round == HANG_ROUND:
        await trio.sleep_forever()
    return round * 10


@workflow
async def runs_chain(ctx: WorkflowContext, round: int) -> int:
    value: int = await ctx.run(runs_round, ctx.instance_id, round)
    if round < ROUNDS:
        ctx.continue_as_new(round + 1)
    return value


async def _main(db: str, count: int) -> None:
    async with Runtime.open(db) as rt:
        async with trio.open_nursery() as nursery:
            for instance_id in instance_ids(count):
                nursery.start_soon(
                    functools.partial(rt.start, instance_id=instance_id), runs_chain, 1
                )
        print("started", flush=True)  # every start is committed: the test may kill from now on
        await trio.sleep_forever()


if __name__ == "__main__":
    db_path, EFFECTS_PATH, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    HANG_ROUND = 2
    trio.run(_main, db_path, count)
