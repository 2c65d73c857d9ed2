"""The app ``test_disk_full.py`` serves: its activities note each run in a file outside the
full disk (``DF_EFFECTS``) and wait until the file ``DF_GATE`` exists."""

from __future__ import annotations

import os

import trio
from _processes import record_effect

from runtime import WorkflowContext, activity, workflow


async def _run(instance_id: str, name: str) -> str:
    record_effect(os.environ["DF_EFFECTS"], instance_id, name)
    # The test opens the gate from another process: no Trio event can tell us.
    while not await trio.Path(os.environ["DF_GATE"]).exists():  # noqa: ASYNC110
        await trio.sleep(0.01)
    return name


@activity
async def df_first(instance_id: str) -> str:
    return await _run(instance_id, "df_first")


@activity
async def df_second(instance_id: str) -> str:
    return await _run(instance_id, "df_second")


@workflow
async def df_flow(ctx: WorkflowContext) -> list[str]:
    return [await ctx.run(df_first, ctx.instance_id), await ctx.run(df_second, ctx.instance_id)]


@workflow
async def df_wait(ctx: WorkflowContext, key: str) -> object:
    event = await ctx.wait_event("df.go", subject=key)
    return event.data
