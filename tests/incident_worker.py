"""The incident crash test's child process, and the handler both processes register.

``python tests/incident_worker.py DB N`` starts N charges with a bad card, waits until every
one has an open incident (its two attempts failed), prints ``incidents`` and idles until the
test SIGKILLs it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import trio
from _processes import ready_for_the_kill, until_all

from runtime import Registry, Runtime, bpmn

INCIDENTS = Path(__file__).parent / "bpmn" / "incidents.bpmn"


def charging_registry() -> Registry:
    """The ``incident_charge`` process, with a handler that declines any card but "good"."""
    registry = Registry()

    @bpmn.handler("charge-card", registry=registry)
    async def charge(variables: dict[str, Any]) -> dict[str, Any]:
        if variables["card"] != "good":
            raise ConnectionError(f"card {variables['card']} declined")
        return {"charged": True}

    bpmn.load(INCIDENTS, registry=registry)
    return registry


def instance_ids(count: int) -> list[str]:
    return [f"charge-{n}" for n in range(count)]


async def _main(db: str, count: int) -> None:
    async with Runtime.open(db, registry=charging_registry()) as rt:
        for iid in instance_ids(count):
            await rt.start("incident_charge", {"card": "bad"}, instance_id=iid)
        await until_all(rt, instance_ids(count), "incident")
        await ready_for_the_kill("incidents")


if __name__ == "__main__":
    trio.run(_main, sys.argv[1], int(sys.argv[2]))
