"""The app of the PostgreSQL tests of several ``trioflow serve`` processes on one database.

Each activity first writes its side effect, one line ``<instance id> <activity> <pid>`` in the
file ``$TRIOFLOW_TEST_EFFECTS``, then works for a while, so that a kill lands in some. The
workflow runs an activity, sleeps on a durable timer, waits for an event ``go`` sent to it,
then runs a second activity: its output is its own instance id.
"""

from __future__ import annotations

import os

from _processes import run_effect

from runtime import WorkflowContext, activity, workflow

EFFECTS_PATH = os.environ.get("TRIOFLOW_TEST_EFFECTS", "")


SECONDS = (0.02, 0.1)
"""How long an activity works after recording its run."""


@activity
async def failover_reserve(instance_id: str) -> str:
    await run_effect(EFFECTS_PATH, instance_id, "failover_reserve", SECONDS)
    return instance_id


@activity
async def failover_charge(instance_id: str) -> str:
    await run_effect(EFFECTS_PATH, instance_id, "failover_charge", SECONDS)
    return instance_id


@workflow
async def failover_order(ctx: WorkflowContext, instance_id: str) -> str:
    await ctx.run(failover_reserve, instance_id)
    await ctx.sleep(0.2)
    await ctx.wait_event("go")
    return str(await ctx.run(failover_charge, instance_id))


@workflow
async def failover_nap(ctx: WorkflowContext, instance_id: str) -> str:
    """`failover_order` with a longer timer: it is still pending when another process has
    claimed the instance, so that its firing is the first write of the process it was
    taken from."""
    await ctx.run(failover_reserve, instance_id)
    await ctx.sleep(5)
    await ctx.wait_event("go")
    return str(await ctx.run(failover_charge, instance_id))
