"""A real crash of a process driving a BPMN instance that takes snapshots.

The child (``tests/snapshot_worker.py``) runs a counting loop with a snapshot every 5 records
and is SIGKILLed while it counts. Reopened, the instance is rebuilt from its latest snapshot
and the records after it, and counts on to its limit: every count ran, none whose result was
journaled ran again, and the whole journal (each snapshot in it checked) replays.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import snapshot_worker
import trio.testing
from _processes import read_effects, run_until_killed

from runtime import Runtime
from runtime._queries import replayed_core
from runtime.store import SqliteStore


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
async def test_a_killed_instance_goes_on_from_its_snapshot(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    db, effects = tmp_path / "loop.db", tmp_path / "effects.txt"
    iid = snapshot_worker.INSTANCE
    killed = await run_until_killed(
        snapshot_worker.__file__,
        [str(db), str(effects)],
        tmp_path / "child-stderr.txt",
        ready=b"looping\n",
        timeout=30,
        clock=mock_clock,
    )
    registry = snapshot_worker.loop_registry(str(effects))
    with SqliteStore(db) as store:
        row = store.get(iid)
        assert row is not None and row.status == "running"
        left = replayed_core(registry, store, iid)
        assert 0 < row.last_seq - left.snapshot_seq <= snapshot_worker.EVERY + 4
        counted = left.exposed["variables"]["n"]
        assert 30 <= counted < snapshot_worker.LIMIT
        left.close()

    with trio.fail_after(3600):
        async with Runtime.open(str(db), registry=registry) as rt:
            mock_clock.autojump_threshold = 0
            output = await rt.result(iid)
            report = await rt.replay(iid)
    assert output == {"n": snapshot_worker.LIMIT, "limit": snapshot_worker.LIMIT}
    assert report.ok, report.divergence

    runs = read_effects(effects)
    me = os.getpid()
    assert set(runs) == {(iid, f"count-{n}") for n in range(snapshot_worker.LIMIT)}
    for n in range(snapshot_worker.LIMIT):
        pids = runs[iid, f"count-{n}"]
        if n < counted:  # its result was journaled before the kill
            assert pids == [killed.pid], n
        elif n == counted:  # in flight at the kill, or not started yet
            assert pids in ([killed.pid, me], [me]), n
        else:  # the loop counts one at a time: the child never got here
            assert pids == [me], n
