"""A real crash: SIGKILL a process mid-run, recover its SQLite file, and check nothing was lost.

The child (``tests/crash_worker.py``) starts 200 instances of a three-activity workflow and is
killed while they run. The journal is read as the kill left it; then this process opens the file
with a ``Runtime``, which recovers the rest. Checked: every instance completes with the right
output, an activity whose completion was journaled before the kill never runs again, and one that
was in flight runs again once (at-least-once, never more).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import crash_worker
import pytest
import trio
from _processes import Key, read_effects, run_until_killed

from runtime import Runtime
from runtime import _records as r
from runtime.store import SqliteStore

INSTANCES = 200
KILL_AFTER_LINES = 450
"""Side effects seen before the kill, of 600. Activities run 16 at a time in FIFO order, so at
450 the first instances have finished, the rest are at their last or second step, 16 activities
are in flight, and the run has about a third of a second left."""


def _journal_at_kill(db: Path) -> tuple[set[Key], int]:
    """The activities whose completion the journal holds, and how many instances are unfinished."""
    completed: set[Key] = set()
    with SqliteStore(db) as store:
        unfinished = len(store.unfinished())
        for instance_id in crash_worker.instance_ids(INSTANCES):
            names: dict[int, str] = {}
            for stored in store.read(instance_id):
                record = r.decode(stored.kind, stored.version, stored.data)
                if isinstance(record, r.ActivityScheduled):
                    names[record.step] = record.name
                elif isinstance(record, r.ActivityCompleted):
                    completed.add((instance_id, names[record.step]))
    return completed, unfinished


async def _run_child_until_killed(db: Path, effects: Path, stderr_path: Path) -> int:
    """Start the child, wait until it made progress, SIGKILL it; return its pid."""
    killed = await run_until_killed(
        crash_worker.__file__,
        [str(db), str(effects), str(INSTANCES)],
        stderr_path,
        ready=b"started\n",
        timeout=20,
        until=lambda: sum(map(len, read_effects(effects).values())) >= KILL_AFTER_LINES,
    )
    assert b"finished" not in killed.output
    return killed.pid


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
async def test_a_killed_process_loses_nothing_and_reruns_only_what_was_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.txt"
    child = await _run_child_until_killed(db, effects, tmp_path / "child-stderr.txt")

    completed_at_kill, unfinished_at_kill = _journal_at_kill(db)
    runs_at_kill = read_effects(effects)
    assert unfinished_at_kill > 0, "the kill came after every instance had finished"
    assert completed_at_kill, "the kill came before any activity completion was journaled"
    assert all(pids == [child] for pids in runs_at_kill.values())
    assert completed_at_kill <= runs_at_kill.keys()  # the side effect precedes its journal record
    in_flight = runs_at_kill.keys() - completed_at_kill
    assert in_flight, "no activity was in flight at the kill"

    monkeypatch.setattr(crash_worker, "EFFECTS_PATH", str(effects))
    ids = crash_worker.instance_ids(INSTANCES)
    with trio.fail_after(20):
        async with Runtime.open(str(db)) as rt:
            outputs = [await rt.result(instance_id) for instance_id in ids]
            kinds = [[h.kind for h in await rt.history(instance_id)] for instance_id in ids]
    assert outputs == [crash_worker.expected_output(i, n) for n, i in enumerate(ids)]
    assert all(k.count("activity_completed") == 3 for k in kinds)

    me = os.getpid()
    runs = read_effects(effects)
    assert runs.keys() == {(i, name) for i in ids for name in crash_worker.ACTIVITIES}
    for key, pids in runs.items():
        if key in completed_at_kill:
            assert pids == [child], f"{key} was journaled as completed, yet ran again: {pids}"
        elif key in in_flight:
            assert pids == [child, me], f"{key} was in flight: it must run again once: {pids}"
        else:
            assert pids == [me], f"{key} had not started at the kill: it must run once: {pids}"
