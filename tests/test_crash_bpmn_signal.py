"""A real crash while BPMN instances wait for signals.

The child process (``tests/signal_worker.py``) parks instances at a user task with signal
boundary events and is SIGKILLed. Reopened here, the subscriptions are back: a ``ping``
reaches every instance once (the non-interrupting boundary's path runs, the task stays), a
``stop`` ends each through the interrupting one, and every journal replays as it ran.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import signal_worker
import trio.testing
from _processes import run_until_killed

from runtime import Runtime

INSTANCES = 20


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
async def test_signal_subscriptions_survive_a_kill(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    db = tmp_path / "signals.db"
    ids = signal_worker.instance_ids(INSTANCES)
    mock_clock.rate = 1.0  # while the child runs, our timeouts run on real time
    await run_until_killed(
        signal_worker.__file__,
        [str(db), str(INSTANCES)],
        tmp_path / "child-stderr.txt",
        ready=b"parked\n",
        timeout=30,
    )
    mock_clock.rate = 0.0
    mock_clock.autojump_threshold = 0
    with trio.fail_after(600):
        async with Runtime.open(str(db), registry=signal_worker.signal_registry()) as rt:
            pinged = await rt.broadcast_signal("ping")
            assert sorted(pinged.delivered) == ids and pinged.started == ()
            await trio.testing.wait_all_tasks_blocked()
            for iid in ids:
                view = await rt.query(iid)
                assert "End_boundary_pinged" in view["completed"] and "Task_Long" in view["active"]
            stopped = await rt.broadcast_signal("stop")
            assert sorted(stopped.delivered) == ids
            for iid in ids:
                await rt.result(iid)
                assert "End_boundary_stopped" in (await rt.query(iid))["completed"]
            reports = [await rt.replay(iid) for iid in ids]
    assert all(report.ok for report in reports)
