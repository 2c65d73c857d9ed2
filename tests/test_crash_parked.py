"""A real crash while instances are parked: SIGKILL a process whose instances all wait on durable
timers and event waits, let the timers fall due while nothing runs, then recover the file.

The child (``tests/parked_worker.py``) starts 99 instances: a third wait for a payment event, a
third sleep on a durable timer, a third sleep and then wait for the event. Each first runs one
activity, and one more after each timer or event. Once every instance is ``waiting`` the child is
killed. This process reopens the file after the timers' due time has passed, publishes the events
(some twice) and checks: every instance completes, every activity ran exactly once (the ``before``
activities in the child, the others here), every redelivered event is reported as a duplicate,
and every timer fired after the reopen, though it fell due while the process was down.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import parked_worker
import pytest
import trio
import trio.testing
from _processes import read_effects, run_until_killed

from runtime import Event, Runtime
from runtime import _records as r
from runtime.store import SqliteStore

INSTANCES = 99


def _timers(db: Path, ids: list[str]) -> dict[str, tuple[float, float | None]]:
    """Per instance that sleeps: its timer's due time and when it fired (None: not yet)."""
    timers: dict[str, tuple[float, float | None]] = {}
    with SqliteStore(db) as store:
        for instance_id in ids:
            due: float | None = None
            fired: float | None = None
            for stored in store.read(instance_id):
                record = r.decode(stored.kind, stored.version, stored.data)
                if isinstance(record, r.TimerStarted):
                    due = record.fire_at
                elif isinstance(record, r.TimerFired):
                    fired = stored.at
            if due is not None:
                timers[instance_id] = (due, fired)
    return timers


async def _run_child_until_killed(
    db: Path, effects: Path, stderr_path: Path, max_resident: int
) -> tuple[int, float]:
    """Start the child, wait until all its instances are parked, SIGKILL it.

    Returns the child's pid and the wall time of the kill.
    """
    killed = await run_until_killed(
        parked_worker.__file__,
        [str(db), str(effects), str(INSTANCES), str(max_resident)],
        stderr_path,
        ready=b"parked\n",
        timeout=15,
    )
    return killed.pid, killed.killed_at


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
@pytest.mark.parametrize("max_resident", [10_000, 10], ids=["all-resident", "passivating"])
async def test_parked_instances_survive_a_kill_and_their_timers_fire_late_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_resident: int
) -> None:
    db, effects = tmp_path / "parked.db", tmp_path / "effects.txt"
    ids = parked_worker.instance_ids(INSTANCES)
    sleepers = [i for i in ids if parked_worker.kind_of(i) in ("timer", "both")]
    payers = [i for i in ids if parked_worker.kind_of(i) in ("event", "both")]
    child, killed_at = await _run_child_until_killed(
        db, effects, tmp_path / "child-stderr.txt", max_resident
    )

    # At the kill: every instance parked after its first activity, no timer had fallen due.
    with SqliteStore(db) as store:
        assert set(store.unfinished()) == set(ids)
        assert {store.get(i).status for i in ids} == {"waiting"}  # type: ignore[union-attr]
    assert read_effects(effects) == {(i, "before"): [child] for i in ids}
    timers_at_kill = _timers(db, sleepers)
    assert timers_at_kill.keys() == set(sleepers)
    assert all(fired is None for _, fired in timers_at_kill.values())
    assert min(due for due, _ in timers_at_kill.values()) > killed_at, "a timer fell due too early"

    # Let every timer fall due while no process runs the file.
    await trio.sleep(max(due for due, _ in timers_at_kill.values()) - time.time() + 0.1)

    monkeypatch.setattr(parked_worker, "EFFECTS_PATH", str(effects))
    twice = payers[::4]
    reopened_at = time.time()
    with trio.fail_after(15):
        async with Runtime.open(str(db), max_resident=max_resident) as rt:
            for n, instance_id in enumerate(payers):
                subject = parked_worker.subject_of(instance_id)
                event = Event(
                    type="payment.completed",
                    source="bank",
                    id=f"pay-{n}",
                    subject=subject,
                    data=f"paid {subject}",
                )
                first = await rt.publish(event)
                assert not first.duplicate
                if parked_worker.kind_of(instance_id) == "event":
                    # Parked on the wait since before the kill: delivered at once.
                    assert first.delivered == (instance_id,)
                if instance_id in twice:
                    again = await rt.publish(event)
                    assert again.duplicate and again.delivered == ()
            outputs = {i: await rt.result(i) for i in ids}
            await trio.testing.wait_all_tasks_blocked()
            assert rt.resident <= max_resident
    assert outputs == {i: parked_worker.expected_output(i) for i in ids}

    me = os.getpid()
    expected_runs = {
        (i, name): [child] if name == "before" else [me]
        for i in ids
        for name in parked_worker.effects_of(i)
    }
    assert read_effects(effects) == expected_runs  # every activity ran once, none twice

    for instance_id, (due, fired) in _timers(db, sleepers).items():
        assert due < reopened_at, f"{instance_id}: its timer was not overdue at the reopen"
        assert fired is not None and fired >= reopened_at, f"{instance_id}: fired at {fired}"
