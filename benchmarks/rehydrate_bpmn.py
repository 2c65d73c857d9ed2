"""Rehydration of a long-lived BPMN instance: the whole journal against a snapshot and its tail.

One BPMN instance loops N times through a service task (a trivial handler) and then waits for
a message that never comes; it is built twice, each in a fresh file of its own: `whole`
without snapshots (``snapshot_every=0``) and `snapshots` with one every `--every` records.
Then, with the runtime closed, each is rehydrated as a process that comes back to it does:
read, decoded and replayed through the workflow core (from its latest snapshot when it has
one; best of `--repeat`), and its file opened with `Runtime.open`, which recovers every
unfinished instance before it returns. Prints one JSON line.

    python benchmarks/rehydrate_bpmn.py [--steps 100000] [--every 1000] [--repeat 3] [--db PATH]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from runtime import Registry, Runtime, open_read_only, tune_gc
from runtime._queries import replayed_core

if TYPE_CHECKING:  # mypy, run from the repository's root, names this folder `benchmarks`
    from benchmarks import _common
else:  # run as a script, this file's folder comes first on the import path
    import _common

LOOP = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Bench" targetNamespace="https://x">
  <bpmn:message id="Never" name="bench.never">
    <bpmn:extensionElements><zeebe:subscription correlationKey="=&quot;never&quot;" />
    </bpmn:extensionElements></bpmn:message>
  <bpmn:process id="bench_rehydrate_bpmn" isExecutable="true">
    <bpmn:startEvent id="Start" />
    <bpmn:serviceTask id="Step"><bpmn:extensionElements>
      <zeebe:taskDefinition type="bench-step" /></bpmn:extensionElements></bpmn:serviceTask>
    <bpmn:exclusiveGateway id="More" default="Again" />
    <bpmn:intermediateCatchEvent id="Wait">
      <bpmn:messageEventDefinition messageRef="Never" /></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="End" />
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Step" />
    <bpmn:sequenceFlow id="f2" sourceRef="Step" targetRef="More" />
    <bpmn:sequenceFlow id="Done" sourceRef="More" targetRef="Wait">
      <bpmn:conditionExpression>=n &gt;= steps</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Again" sourceRef="More" targetRef="Step" />
    <bpmn:sequenceFlow id="f3" sourceRef="Wait" targetRef="End" />
  </bpmn:process>
</bpmn:definitions>"""
PROCESS = "bench_rehydrate_bpmn"
INSTANCE = "long"


def _registry(every: int) -> Registry:
    # This folder's http.py would shadow the standard library's http, which the BPMN
    # reader's XML modules import: it leaves the import path before they are imported.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if not p or Path(p).resolve() != here]
    from runtime import bpmn

    registry = Registry()
    bpmn.load(LOOP, registry=registry, snapshot_every=every)

    @bpmn.handler("bench-step", registry=registry)
    async def step(variables: dict[str, Any]) -> dict[str, Any]:
        return {"n": variables["n"] + 1}

    return registry


async def _build(db: str, registry: Registry, steps: int) -> None:
    async with Runtime.open(db, registry=registry) as rt:
        await rt.start(PROCESS, {"n": 0, "steps": steps}, instance_id=INSTANCE)
        # Polling: it waits for a message that never comes, so there is no result to wait for.
        while (await rt.get(INSTANCE)).status != "waiting":  # noqa: ASYNC110
            await trio.sleep(0.2)


def _rehydrate_seconds(db: str, registry: Registry, repeat: int) -> tuple[float, int, int]:
    """Best time of `repeat` rehydrations; the records replayed and the journal's length."""
    best = float("inf")
    with open_read_only(db) as store:
        row = store.get(INSTANCE)
        assert row is not None
        for _ in range(repeat):
            started = time.perf_counter()
            core = replayed_core(registry, store, INSTANCE)
            best = min(best, time.perf_counter() - started)
            assert core.exposed["variables"]["n"] == row_steps(core)
            replayed = row.last_seq - core.snapshot_seq
            core.close()
    return best, replayed, row.last_seq


def row_steps(core: Any) -> int:
    return int(core.exposed["variables"]["steps"])


async def _open_seconds(db: str, registry: Registry) -> float:
    started = time.perf_counter()
    async with Runtime.open(db, registry=registry):
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    args = _common.parse_rehydrate_args(
        argv,
        "Rehydrate a BPMN instance of N loop steps without and with snapshots;"
        " print one JSON line.",
        "records between snapshots",
        "rehydrations timed",
    )
    if args.gc == "tuned":
        tune_gc()
    result: dict[str, Any] = {
        "benchmark": "rehydrate_bpmn",
        "steps": args.steps,
        "every": args.every,
    }
    with _common.database_path(args.db, "rehydrate_bpmn.db") as path:
        for name, every in (("whole", 0), ("snapshots", args.every)):
            db = f"{path}.{name}"
            registry = _registry(every)
            started = time.perf_counter()
            trio.run(_build, db, registry, args.steps)
            result[f"{name}_build_seconds"] = round(time.perf_counter() - started, 1)
            seconds, replayed, journal = _rehydrate_seconds(db, registry, args.repeat)
            result[f"{name}_journal_records"] = journal
            result[f"{name}_replayed_records"] = replayed
            result[f"{name}_rehydrate_seconds"] = round(seconds, 4)
            result[f"{name}_open_seconds"] = round(trio.run(_open_seconds, db, registry), 3)
    result["gc"] = args.gc
    _common.print_json_line(result)


if __name__ == "__main__":
    main()
