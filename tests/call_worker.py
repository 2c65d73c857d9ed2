"""The call activity crash test's child process, and the registry both processes use.

``python tests/call_worker.py DB EFFECTS N`` loads ``tests/bpmn/run_call.bpmn``, starts N
instances of ``call_multi`` (a parallel multi-instance call activity: a child instance per
item), prints ``started`` and goes on until the test SIGKILLs it, somewhere between the
parents' steps and their children's. Every run of the children's ``double`` handler appends
``<child id> double <pid>`` to the effects file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import trio
from _processes import record_effect

from runtime import Registry, Runtime, bpmn

CALLS = Path(__file__).parent / "bpmn" / "run_call.bpmn"
AMOUNTS = [1, 2, 3, 4]


def parent_ids(count: int) -> list[str]:
    return [f"parent-{n:03d}" for n in range(count)]


def call_registry(effects_path: str) -> Registry:
    registry = Registry()

    @bpmn.handler("double", registry=registry)
    async def double(variables: dict[str, Any], job: bpmn.Job) -> dict[str, Any]:
        await trio.sleep(0.01)  # long enough for the kill to land among the children
        record_effect(effects_path, job.instance_id, "double")
        return {"doubled": variables["n"] * 2}

    bpmn.load(CALLS, registry=registry)
    return registry


async def _main(db: str, effects: str, count: int) -> None:
    async with Runtime.open(db, registry=call_registry(effects)) as rt:
        for parent in parent_ids(count):
            await rt.start("call_multi", {"amounts": AMOUNTS}, instance_id=parent)
        print("started", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(_main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
