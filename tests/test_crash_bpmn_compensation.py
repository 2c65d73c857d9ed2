"""A real crash while BPMN instances book, pay and compensate the booking.

The child process (``tests/compensation_worker.py``) is SIGKILLed once some handlers have
run and others not. Reopened here, every instance completes, and what its level remembered
for compensation came back by replay: each booking is undone, by one handler run in all
but the attempts the kill cut short (at least once, as every activity), and never before
it was booked.
"""

from __future__ import annotations

import sys
from pathlib import Path

import compensation_worker
import pytest
import trio.testing
from _processes import read_effects, run_until_killed

from runtime import Runtime

INSTANCES = 15


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
async def test_compensation_survives_a_kill(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    db, effects = tmp_path / "compensation.db", tmp_path / "effects.txt"
    ids = compensation_worker.instance_ids(INSTANCES)
    total = INSTANCES * len(compensation_worker.JOB_TYPES)
    mock_clock.rate = 1.0  # while the child runs, our timeouts run on real time
    await run_until_killed(
        compensation_worker.__file__,
        [str(db), str(effects), str(INSTANCES)],
        tmp_path / "child-stderr.txt",
        ready=b"started\n",
        timeout=30,
        until=lambda: len(read_effects(effects)) >= total // 2,
    )
    assert len(read_effects(effects)) < total, "the kill came after every handler had run"

    mock_clock.rate = 0.0
    mock_clock.autojump_threshold = 0
    registry = compensation_worker.compensation_registry(str(effects))
    with trio.fail_after(600):
        async with Runtime.open(str(db), registry=registry) as rt:
            outputs = {iid: await rt.result(iid) for iid in ids}
            reports = [await rt.replay(iid) for iid in ids]
    assert all(output["unbook_done"] for output in outputs.values())
    assert all(report.ok for report in reports)
    ran = read_effects(effects)
    for iid in ids:
        for job_type in compensation_worker.JOB_TYPES:
            assert 1 <= len(ran[iid, job_type]) <= 2, (iid, job_type, ran[iid, job_type])
    lines = (tmp_path / "effects.txt").read_text().splitlines()
    for iid in ids:
        order = [line.split()[1] for line in lines if line.split()[0] == iid]
        assert order.index("book") < order.index("pay") < order.index("unbook")
