"""The compensation crash test's child process, and the registry both processes use.

``python tests/compensation_worker.py DB EFFECTS N`` loads
``tests/bpmn/run_compensation.bpmn``, starts N instances of ``comp_basic`` (book, pay, then
a compensation throw that runs the booking's handler), prints ``started`` and goes on until
the test SIGKILLs it. Every handler run appends ``<instance id> <job type> <pid>`` to the
effects file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import trio
from _processes import record_effect

from runtime import Registry, Runtime, bpmn

COMPENSATION = Path(__file__).parent / "bpmn" / "run_compensation.bpmn"
JOB_TYPES = ("book", "pay", "unbook")


def instance_ids(count: int) -> list[str]:
    return [f"booking-{n:03d}" for n in range(count)]


def compensation_registry(effects_path: str) -> Registry:
    registry = Registry()

    def make(job_type: str) -> None:
        @bpmn.handler(job_type, registry=registry)
        async def handler(variables: dict[str, Any], job: bpmn.Job) -> dict[str, Any]:
            await trio.sleep(0.01)  # long enough for the kill to land among the handlers
            record_effect(effects_path, job.instance_id, job_type)
            return {f"{job_type}_done": True}

    for job_type in JOB_TYPES:
        make(job_type)
    bpmn.load(COMPENSATION, registry=registry)
    return registry


async def _main(db: str, effects: str, count: int) -> None:
    async with Runtime.open(db, registry=compensation_registry(effects)) as rt:
        for iid in instance_ids(count):
            await rt.start("comp_basic", {"order": iid}, instance_id=iid)
        print("started", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(_main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
