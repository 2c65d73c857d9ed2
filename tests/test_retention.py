"""Retention in the runtime: finished instances go with their journal after their age, a
batch at a time; unfinished ones and younger ones never do."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from runtime import (
    Event,
    InstanceNotFound,
    Registry,
    Runtime,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowFailed,
    bpmn,
    workflow,
)

HOUR = 3600.0


@workflow(name="rt_quick")
async def rt_quick(ctx: WorkflowContext, n: int) -> int:
    return n * 2


@workflow(name="rt_failing")
async def rt_failing(ctx: WorkflowContext) -> None:
    raise RuntimeError("it fails")


@workflow(name="rt_waiting")
async def rt_waiting(ctx: WorkflowContext) -> str:
    await ctx.wait_event("rt.never")
    return "woken"


@workflow(name="rt_slow")
async def rt_slow(ctx: WorkflowContext) -> str:
    await ctx.sleep(2 * HOUR)
    return "done"


def registry_of(*definitions: WorkflowDefinition) -> Registry:
    """A registry of its own: a retention set here does not reach the other tests."""
    registry = Registry()
    for definition in definitions:
        registry.add_workflow(definition)
    return registry


async def exists(rt: Runtime, instance_id: str) -> bool:
    try:
        await rt.get(instance_id)
    except InstanceNotFound:
        return False
    return True


async def settle(rt: Runtime, *ids: str) -> None:
    """Let the instances run until they finish or wait (the clock jumps only when idle)."""
    for instance_id in ids:
        with trio.move_on_after(1), contextlib.suppress(WorkflowFailed):
            await rt.result(instance_id)


async def test_finished_instances_go_after_the_age_and_unfinished_ones_never(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db, retention=dt.timedelta(hours=1)) as rt:
        done = await rt.start(rt_quick, 1)
        failed = await rt.start(rt_failing)
        cancelled = await rt.start(rt_waiting)
        waiting = await rt.start(rt_waiting)
        slow = await rt.start(rt_slow)
        await settle(rt, done, failed, cancelled, waiting)
        await rt.cancel(cancelled)
        await trio.sleep(HOUR - 60)  # finished less than the age ago: all there
        for instance_id in (done, failed, cancelled, waiting, slow):
            assert await exists(rt, instance_id)

        await trio.sleep(60 + HOUR / 5)  # past the age, and a pass (every tenth of it) ran
        for gone in (done, failed, cancelled):
            assert not await exists(rt, gone)
            with pytest.raises(InstanceNotFound):
                await rt.history(gone)
        assert (await rt.get(waiting)).status == "waiting"
        assert (await rt.get(slow)).status == "waiting"  # asleep

        await trio.sleep(HOUR + HOUR / 2)  # slow finished at 2 h, less than an hour ago
        assert (await rt.get(slow)).status == "completed"
        await trio.sleep(HOUR)
        assert not await exists(rt, slow)

        await trio.sleep(30 * 24 * HOUR)
        assert (await rt.get(waiting)).status == "waiting"
        page = await rt.list()
        assert [item.id for item in page.items] == [waiting]
        counts = await rt.counts()
        assert counts["waiting"] == 1 and sum(counts.values()) == 1
        assert rt.stats().instances == {"waiting": 1}


async def test_a_workflow_keeps_its_own_retention(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    registry = registry_of(
        attrs.evolve(rt_quick, name="rt_brief", retention=600.0),
        attrs.evolve(rt_quick, name="rt_forever", retention=None),
        rt_quick,
    )
    async with Runtime.open(db, registry=registry, retention=HOUR) as rt:
        brief = await rt.start("rt_brief", 1)
        forever = await rt.start("rt_forever", 1)
        default = await rt.start("rt_quick", 1)
        await settle(rt, brief, forever, default)
        await trio.sleep(700)
        assert not await exists(rt, brief)
        assert await exists(rt, forever) and await exists(rt, default)
        await trio.sleep(2 * HOUR)
        assert not await exists(rt, default)
        await trio.sleep(7 * 24 * HOUR)
        assert (await rt.get(forever)).status == "completed"


async def test_retention_none_keeps_every_instance(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db, retention=None) as rt:
        done = await rt.start(rt_quick, 1)
        await settle(rt, done)
        await trio.sleep(365 * 24 * HOUR)
        assert (await rt.get(done)).status == "completed"


async def test_a_bad_retention_is_refused_naming_it(db: str) -> None:
    for bad in (0, -1.0, float("inf"), dt.timedelta(0)):
        with pytest.raises(ValueError, match="retention must be > 0"):
            async with Runtime.open(db, retention=bad):
                pass
    with pytest.raises(TypeError, match="retention must be a timedelta"):
        async with Runtime.open(db, retention="7d"):  # type: ignore[arg-type]
            pass
    with pytest.raises(ValueError, match="retention must be > 0"):
        workflow(name="rt_bad", retention=0)(rt_quick.fn)


def archived(path: Path) -> dict[str, dict[str, Any]]:
    lines = path.read_text().splitlines() if path.is_file() else []
    for day in sorted(path.glob("*.jsonl")) if path.is_dir() else ():
        lines += day.read_text().splitlines()
    return {line["id"]: line for line in map(json.loads, lines)}


@pytest.mark.parametrize("where", ["archive.jsonl", "archive/"])
async def test_the_archive_holds_what_was_deleted(
    tmp_path: Path, where: str, autojump_clock: trio.testing.MockClock
) -> None:
    archive = tmp_path / where
    if where.endswith("/"):
        archive.mkdir()
    async with Runtime.open(str(tmp_path / "db"), retention=HOUR, archive=archive) as rt:
        ids = [await rt.start(rt_quick, n) for n in range(3)]
        waiting = await rt.start(rt_waiting)
        await settle(rt, *ids)
        histories = {i: await rt.history(i) for i in ids}
        rows = {i: await rt.get(i) for i in ids}
        await trio.sleep(2 * HOUR)
        for instance_id in ids:
            assert not await exists(rt, instance_id)
    lines = archived(archive)
    assert sorted(lines) == sorted(ids)
    if archive.is_dir():
        day = rows[ids[0]].updated_at.date().isoformat()
        assert [p.name for p in archive.iterdir()] == [f"{day}.jsonl"]
    for instance_id in ids:
        line = lines[instance_id]
        row = rows[instance_id]
        assert (line["workflow"], line["status"], line["input"], line["output"]) == (
            "rt_quick",
            "completed",
            row.input,
            row.output,
        )
        assert (line["run"], line["run_seq"]) == (row.run, 1)
        assert [(r["seq"], r["kind"], r["data"]) for r in line["journal"]] == [
            (h.seq, h.kind, h.data) for h in histories[instance_id]
        ]
    assert waiting not in lines


async def test_an_id_retention_deleted_starts_a_new_instance(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db, retention=60) as rt:
        await rt.start(rt_quick, 1, instance_id="order-1")
        assert await rt.result("order-1") == 2
        await trio.sleep(120)
        assert not await exists(rt, "order-1")
        await rt.start(rt_quick, 5, instance_id="order-1")
        assert await rt.result("order-1") == 10


async def test_prune_counts_with_dry_run_and_deletes_without(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db, retention=None) as rt:
        done = [await rt.start(rt_quick, n) for n in range(3)]
        failed = await rt.start(rt_failing)
        waiting = await rt.start(rt_waiting)
        await settle(rt, *done, failed, waiting)
        await trio.sleep(HOUR)
        young = await rt.start(rt_quick, 9)
        await settle(rt, young)

        report = await rt.prune(dt.timedelta(minutes=30), dry_run=True)
        assert (report.instances, report.dry_run) == (4, True)
        assert report.by_workflow == {"rt_failing": 1, "rt_quick": 3}
        assert report.by_status == {"completed": 3, "failed": 1}
        assert all([await exists(rt, i) for i in (*done, failed)])

        report = await rt.prune(1800, workflow="rt_failing")
        assert (report.instances, report.dry_run) == (1, False)
        assert not await exists(rt, failed)
        report = await rt.prune(1800)
        assert report.instances == 3
        assert [item.id for item in (await rt.list()).items] == [waiting, young]


async def test_events_expire_a_batch_at_a_time_and_buffered_ones_keep_their_ttl(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    events = [Event(type="rt.noise", source="s", id=str(n)) for n in range(2_500)]
    buffered = Event(type="rt.noise", source="s", id="buffered", ttl=3 * 24 * HOUR)
    async with Runtime.open(db, event_retention=24 * HOUR) as rt:
        for first in range(0, len(events), 500):
            await rt.publish_many(events[first : first + 500])
        await rt.publish(buffered)
        await trio.sleep(23 * HOUR)
        assert (await rt.publish(events[0])).duplicate  # still known
        assert (await rt.publish(events[-1])).duplicate
        await trio.sleep(2 * HOUR + 3 * HOUR)  # past the retention, and a pass ran
        # Forgotten, every one of the 2,500 (more than one purge's batch): not a duplicate.
        assert not (await rt.publish(events[1])).duplicate
        assert not (await rt.publish(events[-2])).duplicate
        assert (await rt.publish(buffered)).duplicate  # buffered for three days
        await trio.sleep(2 * 24 * HOUR + 3 * HOUR)
        assert not (await rt.publish(buffered)).duplicate


PASS_THROUGH = """<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
<bpmn:process id="{name}" isExecutable="true">
  <bpmn:startEvent id="Start" />
  <bpmn:sequenceFlow id="F" sourceRef="Start" targetRef="End" />
  <bpmn:endEvent id="End" />
</bpmn:process>
</bpmn:definitions>"""


async def test_a_bpmn_process_keeps_the_retention_it_was_loaded_with(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    registry = Registry()
    bpmn.load(PASS_THROUGH.format(name="rt_brief_process"), registry=registry, retention=600)
    bpmn.load(PASS_THROUGH.format(name="rt_kept_process"), registry=registry, retention=None)
    with pytest.raises(ValueError, match="retention must be > 0"):
        bpmn.load(PASS_THROUGH.format(name="rt_bad"), registry=registry, retention=-5)
    async with Runtime.open(db, registry=registry, retention=HOUR) as rt:
        brief = await rt.start("rt_brief_process", {})
        kept = await rt.start("rt_kept_process", {})
        await settle(rt, brief, kept)
        assert (await rt.get(brief)).status == "completed"
        await trio.sleep(700)
        assert not await exists(rt, brief)
        await trio.sleep(2 * 24 * HOUR)
        assert (await rt.get(kept)).status == "completed"
