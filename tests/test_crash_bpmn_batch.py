"""A real crash while BPMN batches wait inside a multi-instance receive task.

The child (``tests/bpmn_batch_worker.py``) starts 12 batches of three items; each runs a
script task, one ``pick`` job per item (a parallel multi-instance service task) and waits
for one ``ack`` message per item (a parallel multi-instance receive task); then the child is
SIGKILLed. This process reopens the file with the same handlers, acknowledges the items of
two batches in three, one message at a time, and aborts the others (an interrupting message
event subprocess, which withdraws the waits left). Acknowledged batches ship in a subprocess
whose escalation end event starts ``notify`` through a non-interrupting boundary event;
aborted ones ``refund``. Every job ran exactly once and every journal replays.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import bpmn_batch_worker as worker
import pytest
import trio.testing
from _processes import read_effects, run_until_killed

from runtime import Event, Runtime
from runtime.store import SqliteStore

BATCHES = 12


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
async def test_batches_waiting_in_a_multi_instance_task_survive_a_kill(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    db, effects = tmp_path / "batches.db", tmp_path / "effects.txt"
    orders = [f"B-{n:03d}" for n in range(BATCHES)]
    ids = {order: worker.instance_id(order) for order in orders}
    acked = [order for n, order in enumerate(orders) if n % 3 != 2]

    killed = await run_until_killed(
        worker.__file__,
        [str(db), str(effects), str(BATCHES)],
        tmp_path / "child-stderr.txt",
        ready=b"parked\n",
        timeout=15,
        clock=mock_clock,
    )
    child = killed.pid
    with SqliteStore(db) as store:
        assert set(store.unfinished()) == set(ids.values())
    picks = [f"pick-{item}" for item in worker.ITEMS]
    assert read_effects(effects) == {(i, pick): [child] for i in ids.values() for pick in picks}

    registry = worker.batch_registry(str(effects))
    with trio.fail_after(600):
        async with Runtime.open(str(db), registry=registry) as rt:
            for order in orders:
                if order in acked:
                    for item in reversed(worker.ITEMS):
                        ack = Event(type="ack", subject=f"{order}/{item}", data={"by": item * 2})
                        assert (await rt.publish(ack)).delivered == (ids[order],)
                else:
                    abort = Event(type="abort", subject=order)
                    assert (await rt.publish(abort)).delivered == (ids[order],)
            outputs = {order: await rt.result(ids[order]) for order in orders}
            reports = [await rt.replay(i) for i in ids.values()]

    me = os.getpid()
    expected = {(i, pick): [child] for i in ids.values() for pick in picks}
    for order in orders:
        output = outputs[order]
        assert output["count"] == 3 and output["picked"] == ["a1", "b2", "c3"]
        if order in acked:
            assert output["acks"] == ["aa", "bb", "cc"] and "refund" not in output
            assert output["ship"] and output["notify"]
            after = ("ship", "notify")
        else:
            assert "acks" not in output and output["refund"]
            after = ("refund",)
        expected.update({(ids[order], task): [me] for task in after})
    assert read_effects(effects) == expected  # every job ran once, none twice
    assert all(report.ok for report in reports), [r.divergence for r in reports if not r.ok]
