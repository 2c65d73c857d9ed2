"""The workflows of the pruning crash test, and the child process that prunes until killed.

The test process fills the file (``fill``): old finished instances for retention to delete,
instances of a workflow kept forever and instances that wait, all a day old. The child
(``python tests/prune_worker.py DB ARCHIVE``) opens the file with an hour's retention and an
archive, which starts deleting at once, a batch at a time; the test SIGKILLs it midway.
"""

from __future__ import annotations

import functools
import sys
import time

import trio

from runtime import Runtime, WorkflowContext, workflow

OLD = 10_000
"""Old finished instances: twenty batches to delete, so the kill lands among them."""
KEPT = 50
WAITING = 50
HOUR = 3600.0


@workflow(name="pk_done")
async def pk_done(ctx: WorkflowContext, n: int) -> int:
    return n + 1


@workflow(name="pk_kept", retention=None)
async def pk_kept(ctx: WorkflowContext, n: int) -> int:
    return n + 1


@workflow(name="pk_waiting")
async def pk_waiting(ctx: WorkflowContext) -> str:
    event = await ctx.wait_event("pk.go")
    return str(event.data)


def ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n:05d}" for n in range(count)]


async def fill(db: str) -> None:
    """The file as the child finds it: every instance a day old."""
    async with Runtime.open(db, retention=None, wall_time=lambda: time.time() - 86400) as rt:
        async with trio.open_nursery() as nursery:
            for n, instance_id in enumerate(ids("old", OLD)):
                nursery.start_soon(functools.partial(rt.start, instance_id=instance_id), pk_done, n)
            for n, instance_id in enumerate(ids("kept", KEPT)):
                nursery.start_soon(functools.partial(rt.start, instance_id=instance_id), pk_kept, n)
            for instance_id in ids("waiting", WAITING):
                nursery.start_soon(functools.partial(rt.start, instance_id=instance_id), pk_waiting)
        for instance_id in ids("old", OLD) + ids("kept", KEPT):
            await rt.result(instance_id)


async def _main(db: str, archive: str) -> None:
    async with Runtime.open(db, retention=HOUR, archive=archive):
        print("pruning", flush=True)  # the retention pass has begun: the test may kill now
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(_main, sys.argv[1], sys.argv[2])
