"""The workflow of `benchmarks/takeover.py`, as an app module for `trioflow serve`: one activity,
then a wait for an event that never comes, so that every instance stays unfinished."""

from __future__ import annotations

from runtime import WorkflowContext, activity, workflow


@activity
async def takeover_step(n: int) -> int:
    return n + 1


@workflow
async def takeover_parked(ctx: WorkflowContext, n: int) -> None:
    await ctx.run(takeover_step, n)
    await ctx.wait_event("takeover.never")
