"""Queries replay a journal a slice at a time: a long journal does not hold the event loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
import trio.testing

from runtime import Registry, Runtime, WorkflowContext, replay_report, workflow
from runtime import _records as r
from runtime._core import WorkflowCore, summary_of
from runtime._replay import SLICE
from runtime.store import Append, NewInstance, SqliteStore, StoredRecord

TICKS = 20_000  # a start, 20,000 sleeps (two records each) and the outcome: 40,002 records


@workflow(name="long_runner")
async def long_runner(ctx: WorkflowContext) -> int:
    for tick in range(TICKS):
        ctx.expose({"ticks": tick})
        await ctx.sleep(1)
    ctx.expose({"ticks": TICKS})
    return TICKS


def write_long_journal(path: Path, fired: int = TICKS) -> int:
    """An instance of ``long_runner`` whose first ``fired`` sleeps are over (all of them: it
    has finished), written straight into the store (running 20,000 sleeps through a runtime
    would take minutes)."""
    core = WorkflowCore(long_runner, "long")
    journal: list[r.Record] = []
    for record in [r.WorkflowStarted(workflow="long_runner", input=None, seed=1)] + [
        r.TimerFired(step=n) for n in range(1, fired + 1)
    ]:
        outputs = core.receive(record, 0.0)
        assert outputs is not None
        journal += [record, *outputs]
    stored = [
        StoredRecord(seq=seq, kind=kind, version=version, at=0.0, data=data)
        for seq, (kind, version, data) in enumerate(map(r.encode, journal), start=1)
    ]
    with SqliteStore(path) as store:
        for first in range(0, len(stored), 1000):
            new = NewInstance(workflow="long_runner", input="null", created_at=0.0)
            append = Append(
                instance_id="long",
                records=tuple(stored[first : first + 1000]),
                summary=summary_of(core, 0.0),
                new=new if first == 0 else None,
            )
            assert store.write([append]) == [None]
    return len(stored)


async def test_a_query_of_a_40000_record_journal_lets_other_tasks_run(tmp_path: Path) -> None:
    path = tmp_path / "long.db"
    records = write_long_journal(path)
    assert records == 2 * TICKS + 2
    registry = Registry()
    registry.add_workflow(long_runner)
    ticks = 0
    query_done = False

    async def another_task() -> None:
        nonlocal ticks
        while not query_done:
            ticks += 1
            await trio.lowlevel.checkpoint()

    # retention=None: the instance finished at epoch 0, and a week's retention would delete it.
    runtime = Runtime.open(str(path), registry=registry, retention=None)
    async with runtime as rt, trio.open_nursery() as nursery:
        nursery.start_soon(another_task)
        await trio.lowlevel.checkpoint()
        before = ticks
        exposed: Any = await rt.query("long")
        during = ticks - before
        report = await rt.replay("long")
        query_done = True
    assert exposed == {"ticks": TICKS}
    assert report.ok and report.records == records
    # Every slice of the journal ends with a checkpoint, at which the other task runs; read
    # at once, the other task would not run at all until the query returned.
    assert during >= 20
    assert records // SLICE >= 20


def test_a_replay_report_outside_a_runtime_reads_every_slice(tmp_path: Path) -> None:
    path = tmp_path / "long.db"
    records = write_long_journal(path)
    registry = Registry()
    registry.add_workflow(long_runner)
    with SqliteStore(path, read_only=True) as store:
        report = replay_report(registry, store, "long")
    assert report.ok and report.records == records


async def test_an_unfinished_instance_with_a_long_journal_recovers_and_goes_on(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "long.db"
    records = write_long_journal(path, fired=TICKS - 1)
    assert records > 2 * SLICE  # its actor replays it a slice at a time
    registry = Registry()
    registry.add_workflow(long_runner)
    async with Runtime.open(str(path), registry=registry) as rt:
        assert await rt.result("long") == TICKS  # its last sleep (long due) was armed again
        assert await rt.query("long") == {"ticks": TICKS}
        report = await rt.replay("long")
    assert report.ok and report.records == records + 2  # the last firing and the outcome
