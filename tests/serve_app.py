"""A small app for tests that run ``trioflow serve`` in a real process."""

from __future__ import annotations

import trio

from runtime import WorkflowContext, activity, workflow


@activity
async def quick_step(n: int) -> int:
    await trio.sleep(0.05)
    return n * 2


@workflow
async def quick(ctx: WorkflowContext, n: int) -> int:
    return int(await ctx.run(quick_step, n)) + 1
