"""A real crash while BPMN instances have open incidents: after a SIGKILL the incidents are
still open, listed with their element and cause, and can be resolved."""

from __future__ import annotations

import sys
from pathlib import Path

import incident_worker
import pytest
import trio.testing
from _processes import run_until_killed

from runtime import Runtime
from runtime.store import SqliteStore

INSTANCES = 5


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
async def test_open_incidents_survive_a_kill_and_can_be_resolved(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    db = tmp_path / "charges.db"
    ids = incident_worker.instance_ids(INSTANCES)
    await run_until_killed(
        incident_worker.__file__,
        [str(db), str(INSTANCES)],
        tmp_path / "child-stderr.txt",
        ready=b"incidents\n",
        timeout=30,
        clock=mock_clock,
    )
    with SqliteStore(db) as store:
        assert set(store.unfinished()) == set(ids)
    mock_clock.autojump_threshold = 0
    async with Runtime.open(str(db), registry=incident_worker.charging_registry()) as rt:
        for iid in ids:
            instance = await rt.get(iid)
            assert instance.status == "incident"
            [found] = instance.incidents
            assert found["element_id"] == "Task_Charge" and "declined" in found["message"]
            await rt.resolve_incident(iid, found["id"], {"card": "good"})
        for iid in ids:
            assert await rt.result(iid) == {"card": "good", "charged": True}
            assert (await rt.replay(iid)).ok
