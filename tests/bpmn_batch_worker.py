"""The child process of the crash test over multi-instance tasks, event subprocesses and
escalations, and the handlers both processes register.

``python tests/bpmn_batch_worker.py DB EFFECTS N`` loads ``tests/bpmn/crash_batch.bpmn``,
starts N batches of three items, waits until each has picked its items (one ``pick`` job
per item) and waits at the multi-instance receive task for one ``ack`` per item, prints
``parked`` and idles until the test SIGKILLs it. Every job appends ``<instance id>
<job type>[-<item>] <pid>`` to the effects file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import trio
from _processes import ready_for_the_kill, record_effect, until_all

from runtime import Registry, Runtime, bpmn

BATCH = Path(__file__).parent / "bpmn" / "crash_batch.bpmn"
WORKFLOW = "crash_batch"
ITEMS = ("a", "b", "c")


def instance_id(order_id: str) -> str:
    return f"batch-{order_id}"


def batch_registry(effects_path: str) -> Registry:
    registry = Registry()

    @bpmn.handler("pick", registry=registry)
    async def pick(job: bpmn.Job) -> dict[str, Any]:
        item = job.variables["item"]
        record_effect(effects_path, job.instance_id, f"pick-{item}")
        return {"slot": f"{item}{job.variables['loopCounter']}"}

    def make(task_type: str) -> None:
        @bpmn.handler(task_type, registry=registry)
        async def record(job: bpmn.Job) -> dict[str, Any]:
            record_effect(effects_path, job.instance_id, task_type)
            return {task_type: True}

    for task_type in ("ship", "notify", "refund"):
        make(task_type)
    assert bpmn.load(BATCH, registry=registry) == [WORKFLOW]
    return registry


async def _main(db: str, effects: str, count: int) -> None:
    registry = batch_registry(effects)
    async with Runtime.open(db, registry=registry) as rt:
        orders = [f"B-{n:03d}" for n in range(count)]
        for order in orders:
            variables = {"orderId": order, "items": list(ITEMS)}
            await rt.start(WORKFLOW, variables, instance_id=instance_id(order))
        ids = [instance_id(order) for order in orders]
        await until_all(rt, ids, "waiting")
        for i in ids:
            assert (await rt.query(i))["active"] == ["Task_Ack"], i
        await ready_for_the_kill("parked")


if __name__ == "__main__":
    trio.run(_main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
