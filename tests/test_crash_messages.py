"""A real crash with a BPMN message buffered for its ttl and another one taken already.

The child (``tests/message_worker.py``) buffers order A's payment for two instances still an
hour from their receive task, lets an instance take order B's payment, and is SIGKILLed. After
recovery A's payment goes to one of the two instances once they get there, and B's payment,
taken before the kill, goes to no new instance.
"""

from __future__ import annotations

import sys
from pathlib import Path

import message_worker
import pytest
import trio.testing
from _processes import run_until_killed

from runtime import Runtime


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
async def test_a_buffered_message_survives_a_kill_and_is_taken_once(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    db = tmp_path / "messages.db"
    await run_until_killed(
        message_worker.__file__,
        [str(db)],
        tmp_path / "child-stderr.txt",
        ready=b"parked\n",
        timeout=15,
        clock=mock_clock,
    )
    with trio.fail_after(7200):  # mock seconds
        async with Runtime.open(str(db), registry=message_worker.messages_registry()) as rt:
            late_b = await rt.start("messages_wait", {"orderId": "B"}, instance_id="wait-b-2")
            await trio.testing.wait_all_tasks_blocked()
            mock_clock.autojump_threshold = 0  # the hour to the receive tasks
            with trio.move_on_after(5400):
                for iid in message_worker.LATER:
                    await rt.result(iid)
            statuses = {iid: (await rt.get(iid)).status for iid in message_worker.LATER}
            assert sorted(statuses.values()) == ["completed", "waiting"]
            [took] = [iid for iid, status in statuses.items() if status == "completed"]
            assert await rt.result(took) == {"orderId": "A", "paid": 10}
            [left] = [iid for iid, status in statuses.items() if status == "waiting"]
            assert (await rt.query(left))["active"] == ["Task_Paid"]
            assert (await rt.get(late_b)).status == "waiting"  # B's payment was taken
            reports = [await rt.replay(i) for i in (*message_worker.LATER, late_b)]
    assert all(report.ok for report in reports), [r.divergence for r in reports]
