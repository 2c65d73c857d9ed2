"""The signal crash test's child process.

``python tests/signal_worker.py DB N`` loads ``tests/bpmn/run_signal.bpmn``, starts N
instances of ``signal_boundary`` (a user task with an interrupting ``stop`` and a
non-interrupting ``ping`` signal boundary event), waits until every one waits, prints
``parked`` and idles until the test SIGKILLs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

from runtime import Registry, Runtime, bpmn

SIGNALS = Path(__file__).parent / "bpmn" / "run_signal.bpmn"


def instance_ids(count: int) -> list[str]:
    return [f"listener-{n:03d}" for n in range(count)]


def signal_registry() -> Registry:
    registry = Registry()
    bpmn.load(SIGNALS, registry=registry)
    return registry


async def _main(db: str, count: int) -> None:
    async with Runtime.open(db, registry=signal_registry()) as rt:
        ids = instance_ids(count)
        for iid in ids:
            await rt.start("signal_boundary", {}, instance_id=iid)
        # Polling the summary rows: "parked" is a state of the store, which is what we promise.
        while True:
            statuses = [(await rt.get(i)).status for i in ids]
            if all(status == "waiting" for status in statuses):
                break
            await trio.sleep(0.01)
        print("parked", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(_main, sys.argv[1], int(sys.argv[2]))
