"""A real crash between a continue-as-new and the new run's first step: SIGKILL the process
while every instance's second run has its first activity in flight, recover the file, and check
that nothing was lost and that no activity of a finished run ran again."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import runs_worker
import trio
from _processes import read_effects, run_until_killed

from runtime import Runtime
from runtime.store import SqliteStore

INSTANCES = 20


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
async def test_a_kill_after_a_continue_loses_nothing_and_reruns_no_old_activity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, effects = tmp_path / "runs.db", tmp_path / "effects.txt"
    ids = runs_worker.instance_ids(INSTANCES)
    killed = await run_until_killed(
        runs_worker.__file__,
        [str(db), str(effects), str(INSTANCES)],
        tmp_path / "child-stderr.txt",
        ready=b"started\n",
        timeout=20,
        until=lambda: all((i, "round-2") in read_effects(effects) for i in ids),
    )
    with SqliteStore(db) as store:
        rows = [store.get(i) for i in ids]
        assert all(row is not None and (row.run, row.status) == (2, "running") for row in rows)

    monkeypatch.setattr(runs_worker, "EFFECTS_PATH", str(effects))
    with trio.fail_after(20):
        async with Runtime.open(str(db)) as rt:
            outputs = [await rt.result(i) for i in ids]
            chains = [[(run.run, run.input, run.ended) for run in await rt.runs(i)] for i in ids]
    assert outputs == [30] * INSTANCES
    assert chains == [[(1, 1, "continued"), (2, 2, "continued"), (3, 3, "completed")]] * INSTANCES

    me = os.getpid()
    runs = read_effects(effects)
    for i in ids:
        assert runs[i, "round-1"] == [killed.pid], "run 1 had finished: its activity ran again"
        assert runs[i, "round-2"] == [killed.pid, me], "in flight at the kill: it runs again once"
        assert runs[i, "round-3"] == [me]
