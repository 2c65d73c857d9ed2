"""A real crash between the steps of parents and of the children their call activities start.

The child process (``tests/call_worker.py``) starts parents whose multi-instance call activity
starts a child instance per item, and is SIGKILLed once some children have run their handler
and others have not started yet. Reopened here, every parent gets exactly one child per item
(a start repeated after the crash finds the child it started before), every parent completes
with every child's result, and every journal replays without divergence.
"""

from __future__ import annotations

import sys
from pathlib import Path

import call_worker
import pytest
import trio.testing
from _processes import read_effects, run_until_killed

from runtime import Runtime

PARENTS = 12


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
async def test_call_activities_survive_a_kill_between_parent_and_child_steps(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    db, effects = tmp_path / "calls.db", tmp_path / "effects.txt"
    parents = call_worker.parent_ids(PARENTS)
    total = PARENTS * len(call_worker.AMOUNTS)

    mock_clock.rate = 1.0  # while the child runs, our timeouts run on real time
    await run_until_killed(
        call_worker.__file__,
        [str(db), str(effects), str(PARENTS)],
        tmp_path / "child-stderr.txt",
        ready=b"started\n",
        timeout=30,
        until=lambda: len(read_effects(effects)) >= total // 3,
    )
    assert len(read_effects(effects)) < total, "the kill came after every child had run"

    mock_clock.rate = 0.0
    mock_clock.autojump_threshold = 0
    registry = call_worker.call_registry(str(effects))
    with trio.fail_after(3600):
        async with Runtime.open(str(db), registry=registry) as rt:
            outputs = {p: await rt.result(p) for p in parents}
            instances = (await rt.list(limit=500)).items
            reports = [await rt.replay(i.id) for i in instances]

    expected = [n * 2 for n in call_worker.AMOUNTS]
    assert all(output["results"] == expected for output in outputs.values())
    for parent in parents:
        children = sorted(i.id for i in instances if i.parent_id == parent)
        calls = range(1, len(call_worker.AMOUNTS) + 1)
        assert children == sorted(f"{parent}:Call_Each:{n}" for n in calls)
    assert all(r.ok for r in reports), [r for r in reports if not r.ok]
    ran = read_effects(effects)
    assert set(ran) == {(i.id, "double") for i in instances if i.parent_id is not None}
