"""The app of the cluster tests: several ``trioflow serve`` processes on one PostgreSQL database.

An order reserves (an activity), waits a short durable timer, waits for the CloudEvent
``cluster.paid`` whose subject is its own instance id, then charges (a second activity); its
output is its instance id. Each activity first records its run, one line ``<instance id>
<activity> <pid>`` appended to the file ``$TRIOFLOW_TEST_EFFECTS`` (one file per server), then
works for a while, so that a kill or a pause lands in some.
"""

from __future__ import annotations

import os

from _processes import run_effect

from runtime import WorkflowContext, activity, workflow

EFFECTS_PATH = os.environ.get("TRIOFLOW_TEST_EFFECTS", "")
TIMER = 0.3
"""Seconds of the durable timer: real time, these are real processes."""


SECONDS = (0.02, 0.1)
"""How long an activity works after recording its run."""


@activity
async def cluster_reserve(instance_id: str) -> str:
    await run_effect(EFFECTS_PATH, instance_id, "cluster_reserve", SECONDS)
    return instance_id


@activity
async def cluster_charge(instance_id: str) -> str:
    await run_effect(EFFECTS_PATH, instance_id, "cluster_charge", SECONDS)
    return instance_id


@workflow
async def cluster_order(ctx: WorkflowContext, instance_id: str) -> str:
    await ctx.run(cluster_reserve, instance_id)
    await ctx.sleep(TIMER)
    await ctx.wait_event("cluster.paid", subject=instance_id)
    return str(await ctx.run(cluster_charge, instance_id))
