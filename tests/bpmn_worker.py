"""The BPMN crash test's child process, and the handlers both processes register.

``python tests/bpmn_worker.py DB EFFECTS N`` loads the ordering example, starts N orders, waits
until every one is parked at the first event-based gateway (waiting for ``payment-received`` or
its 5-minute timer), prints ``parked`` and idles until the test SIGKILLs it. The test imports
this module to reopen the file with the same handlers.

Every handler run appends one line ``<instance id> <task type> <pid>`` to the effects file, so
the test can count the runs of every task and tell the killed child's runs from its own.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import trio
from _processes import ready_for_the_kill, record_effect, until_all

from runtime import Registry, Runtime, bpmn

ORDERING = Path(__file__).parent.parent / "examples" / "ordering" / "ordering-items-workflow.bpmn"
WORKFLOW = "ordering-items-workflow"
TASK_TYPES = (
    "validate-order",
    "send-bill",
    "send-friendly-reminder",
    "cancel-order",
    "update-accounting",
    "package-and-deliver",
)


def order_ids(count: int) -> list[str]:
    return [f"O-{n:03d}" for n in range(count)]


def instance_id(order_id: str) -> str:
    return f"order-{order_id}"


def ordering_registry(effects_path: str) -> Registry:
    """A registry holding the ordering workflow, with a handler per task type that records
    each of its runs in the effects file."""
    registry = Registry()

    def make(task_type: str) -> None:
        @bpmn.handler(task_type, registry=registry)
        async def record(variables: dict[str, Any]) -> dict[str, Any]:
            record_effect(effects_path, instance_id(variables["orderId"]), task_type)
            return {task_type.replace("-", "_"): True}

    for task_type in TASK_TYPES:
        make(task_type)
    assert bpmn.load(ORDERING, registry=registry) == [WORKFLOW]
    return registry


async def _main(db: str, effects: str, count: int) -> None:
    registry = ordering_registry(effects)
    async with Runtime.open(db, registry=registry) as rt:
        ids = [instance_id(order) for order in order_ids(count)]
        async with trio.open_nursery() as nursery:
            for order in order_ids(count):
                nursery.start_soon(_start, rt, order)
        await until_all(rt, ids, "waiting")
        for i in ids:
            assert (await rt.query(i))["active"] == ["Gateway_AwaitPayment"], i
        await ready_for_the_kill("parked")  # every order waits for its payment or 5 minutes


async def _start(rt: Runtime, order: str) -> None:
    await rt.start(WORKFLOW, {"orderId": order, "amount": 10.0}, instance_id=instance_id(order))


if __name__ == "__main__":
    trio.run(_main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
