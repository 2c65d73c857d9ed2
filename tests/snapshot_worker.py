"""The BPMN snapshot crash test's child process, and the process both processes load.

``python tests/snapshot_worker.py DB EFFECTS`` loads a loop (a service task that counts ``n``
up, and a gateway that goes round again until ``n`` reaches ``limit``) with a snapshot every
``EVERY`` records, starts one instance, prints ``looping`` once it has counted to 30 and keeps
counting until the test SIGKILLs it. Each handler run appends ``<instance id> count-<n>
<pid>`` to the effects file.
"""

from __future__ import annotations

import sys
from typing import Any

import trio
from _processes import ready_for_the_kill, record_effect

from runtime import Registry, Runtime, bpmn

EVERY = 5
LIMIT = 400
INSTANCE = "loop-1"
LOOP = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Loop" targetNamespace="https://x">
  <bpmn:process id="loop" isExecutable="true">
    <bpmn:startEvent id="Start" />
    <bpmn:serviceTask id="Work"><bpmn:extensionElements>
      <zeebe:taskDefinition type="count" /></bpmn:extensionElements></bpmn:serviceTask>
    <bpmn:exclusiveGateway id="More" default="Again" />
    <bpmn:endEvent id="End" />
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Work" />
    <bpmn:sequenceFlow id="f2" sourceRef="Work" targetRef="More" />
    <bpmn:sequenceFlow id="Done" sourceRef="More" targetRef="End">
      <bpmn:conditionExpression>=n &gt;= limit</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Again" sourceRef="More" targetRef="Work" />
  </bpmn:process>
</bpmn:definitions>"""


def loop_registry(effects: str, pause: float = 0.0) -> Registry:
    """The loop with its counting handler; ``pause``: seconds each run takes (the child's
    runs are slowed down so that the kill finds it counting)."""
    registry = Registry()
    bpmn.load(LOOP, registry=registry, snapshot_every=EVERY)

    @bpmn.handler("count", registry=registry)
    async def count(variables: dict[str, Any]) -> dict[str, Any]:
        record_effect(effects, INSTANCE, f"count-{variables['n']}")
        if pause:
            await trio.sleep(pause)
        return {"n": variables["n"] + 1}

    return registry


async def _main(db: str, effects: str) -> None:
    async with Runtime.open(db, registry=loop_registry(effects, pause=0.005)) as rt:
        await rt.start("loop", {"n": 0, "limit": LIMIT}, instance_id=INSTANCE)
        # Polling the instance's view: its progress is what the test waits for.
        while (await rt.query(INSTANCE))["variables"]["n"] < 30:  # noqa: ASYNC110
            await trio.sleep(0.01)
        await ready_for_the_kill("looping")


if __name__ == "__main__":
    trio.run(_main, sys.argv[1], sys.argv[2])
