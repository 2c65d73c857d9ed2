"""Snapshots of BPMN instances: rehydration from the latest snapshot and the records after it
ends where replaying the whole journal does.

The property runs the random processes of ``test_bpmn_property`` (service tasks that fail
and retry, timers, exclusive and parallel blocks) with a random ``snapshot_every``: every
snapshot in the journal, restored and followed by the records after it, must reach the
state the whole journal reaches (the later snapshots on the way checked against the state
they capture), snapshots are as far apart as ``snapshot_every`` says, and a run that dies
anywhere and is reopened (rehydrated from its snapshot) ends as the uninterrupted run did.
"""

from __future__ import annotations

import logging
import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import apsw
import pytest
import trio
import trio.testing
from _ui_pages import Collector
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_bpmn_incidents import INCIDENTS, charging, incident
from test_bpmn_property import (
    _INPUT,
    INSTANCES,
    PROCESS,
    T0,
    TYPES,
    WORLD,
    Process,
    _handler_of,
    _same,
    processes,
    run_crashed,
    run_uninterrupted,
    to_xml,
)
from test_cli import run as run_cli

from api import create_app
from runtime import Registry, Runtime, bpmn
from runtime import _records as r
from runtime._core import WorkflowCore
from runtime._queries import replay_report, replayed_core
from runtime._replay import at_once, replay, replay_stored
from runtime.store import Append, NewInstance, SqliteStore, Store, Summary

pytestmark = pytest.mark.usefixtures("inline_commits")


def registry_for(xml: bytes, every: int | None) -> Registry:
    registry = Registry()
    assert bpmn.load(xml, registry=registry, snapshot_every=every) == [PROCESS]
    for task_type in TYPES:
        bpmn.handler(task_type, registry=registry)(_handler_of(task_type))
    return registry


def check_snapshots(registry: Registry, store: Store, iid: str, every: int) -> int:
    """Each snapshot plus the records after it reaches what the whole journal reaches;
    return how many snapshots there are."""
    row = store.get(iid)
    assert row is not None
    stored = store.read(iid)
    assert replay_report(registry, store, iid).ok  # every snapshot checked on the way
    whole, divergence = at_once(replay_stored(registry, store, row, from_snapshot=False))
    assert divergence is None
    seqs = [s.seq for s in stored if s.kind == "snapshot"]
    for previous, seq in zip([0, *seqs], seqs, strict=False):
        assert seq - previous - 1 >= every  # never sooner than due
    for seq in seqs:
        snapshot = r.decode(stored[seq - 1].kind, stored[seq - 1].version, stored[seq - 1].data)
        assert isinstance(snapshot, r.Snapshot)
        core = WorkflowCore(whole.definition, iid, registry.activity)
        core.restore(snapshot.state, stored[seq - 1].at)
        tail = [(r.decode(s.kind, s.version, s.data), s.at) for s in stored[seq:]]
        replay(core, tail)
        assert (core.exposed, core.outcome, core.next_step, core.consumed) == (
            whole.exposed,
            whole.outcome,
            whole.next_step,
            whole.consumed,
        )
        core.close()
    whole.close()
    return len(seqs)


@settings(
    max_examples=int(os.environ.get("SNAP_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    process=processes(),
    a=_INPUT,
    b=_INPUT,
    every=st.integers(1, 12),
    shuffle=st.randoms(),
    data=st.data(),
)
def test_a_snapshot_and_the_records_after_it_rebuild_what_the_whole_journal_does(
    process: Process,
    a: dict[str, int],
    b: dict[str, int],
    every: int,
    shuffle: random.Random,
    data: st.DataObject,
) -> None:
    xml, _ = to_xml(process, shuffle)
    registry = registry_for(xml, every)
    WORLD.reset(process)
    inputs = {
        iid: {**variables, "iid": iid} for iid, variables in zip(INSTANCES, (a, b), strict=True)
    }
    with tempfile.TemporaryDirectory() as tmp:

        async def main() -> None:
            path = str(Path(tmp) / "ref.db")
            references, appends = await run_uninterrupted(path, registry, inputs)
            with SqliteStore(path) as store:
                taken = sum(check_snapshots(registry, store, iid, every) for iid in INSTANCES)
                records = sum(store.last_seq(iid) for iid in INSTANCES)
            event(f"snapshots: {min(taken, 5)}")
            if records > 2 * (3 * every + 40):
                assert taken > 0
            die_after = data.draw(st.integers(1, appends), label="die after")
            crashed = str(Path(tmp) / "crashed.db")
            _, _, finals = await run_crashed(crashed, registry, inputs, die_after, False)
            for iid, final in finals.items():
                _same(final, references[iid])

        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# --- a long-running loop ---------------------------------------------------------------

LOOP = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Loop" targetNamespace="https://x">
  <bpmn:process id="loop" isExecutable="true">
    <bpmn:startEvent id="Start" />
    <bpmn:serviceTask id="Work"><bpmn:extensionElements>
      <zeebe:taskDefinition type="count" /></bpmn:extensionElements></bpmn:serviceTask>
    <bpmn:intermediateCatchEvent id="Tick"><bpmn:timerEventDefinition>
      <bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:exclusiveGateway id="More" default="Again" />
    <bpmn:endEvent id="End" />
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Work" />
    <bpmn:sequenceFlow id="f2" sourceRef="Work" targetRef="Tick" />
    <bpmn:sequenceFlow id="f3" sourceRef="Tick" targetRef="More" />
    <bpmn:sequenceFlow id="Done" sourceRef="More" targetRef="End">
      <bpmn:conditionExpression>=n &gt;= limit</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Again" sourceRef="More" targetRef="Work" />
  </bpmn:process>
</bpmn:definitions>"""


def loop_registry(every: int | None) -> Registry:
    registry = Registry()
    bpmn.load(LOOP, registry=registry, snapshot_every=every)

    @bpmn.handler("count", registry=registry)
    async def count(variables: dict[str, Any]) -> dict[str, Any]:
        return {"n": variables["n"] + 1}

    return registry


async def _run_loop(path: str, registry: Registry, seconds: float) -> None:
    async with Runtime.open(path, registry=registry, wall_time=lambda: T0) as rt:
        await rt.start("loop", {"n": 0, "limit": 10**6}, instance_id="loop-1")
        await trio.sleep(seconds)


async def test_an_instance_rehydrates_from_its_latest_snapshot(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = str(tmp_path / "loop.db")
    registry = loop_registry(10)
    await _run_loop(path, registry, 20.5)
    with SqliteStore(path) as store:
        latest = store.last_of_kind("loop-1", "snapshot")
        assert latest is not None and store.last_seq("loop-1") - latest.seq < 10 + 4
        core = replayed_core(registry, store, "loop-1")
        assert core.snapshot_seq == latest.seq
        assert core.exposed["variables"]["n"] == 21
        core.close()


async def test_no_snapshot_is_taken_when_they_are_turned_off(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = str(tmp_path / "loop.db")
    await _run_loop(path, loop_registry(0), 20.5)
    with SqliteStore(path) as store:
        assert store.last_of_kind("loop-1", "snapshot") is None


async def test_a_snapshot_that_cannot_be_used_falls_back_to_the_whole_journal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    path = str(tmp_path / "loop.db")
    registry = loop_registry(10)
    await _run_loop(path, registry, 20.5)
    with SqliteStore(path) as store:
        latest = store.last_of_kind("loop-1", "snapshot")
        assert latest is not None
    # As if written by a version that keeps its state otherwise.
    with apsw.Connection(path) as conn:
        conn.execute(
            "UPDATE journal SET data = ? WHERE instance_id = ? AND seq = ?",
            ('{"state": {"format": "unknown"}}', "loop-1", latest.seq),
        )
    with SqliteStore(path) as store, caplog.at_level(logging.WARNING, "trioflow"):
        core = replayed_core(registry, store, "loop-1")
        assert core.snapshot_seq == 0 and core.exposed["variables"]["n"] == 21
        core.close()
        assert f"its snapshot at seq {latest.seq} cannot be used" in caplog.text
        # The whole replay reports the snapshot that is not the state it reaches.
        report = replay_report(registry, store, "loop-1")
        assert not report.ok and "snapshot" in (report.divergence or "")
    # The instance carries on from the whole journal, and takes snapshots again.
    async with Runtime.open(path, registry=registry, wall_time=lambda: T0) as rt:
        await trio.sleep(40)
        assert (await rt.query("loop-1"))["variables"]["n"] > 21
    with SqliteStore(path) as store:
        again = store.last_of_kind("loop-1", "snapshot")
        assert again is not None and again.seq > latest.seq


async def test_an_instance_waits_for_a_subprocess_to_end_before_its_next_snapshot(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    xml = LOOP.replace(
        b'<bpmn:intermediateCatchEvent id="Tick"><bpmn:timerEventDefinition>\n'
        b"      <bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>\n"
        b"    </bpmn:intermediateCatchEvent>",
        b'<bpmn:subProcess id="Tick"><bpmn:startEvent id="In" />'
        b'<bpmn:intermediateCatchEvent id="Wait"><bpmn:timerEventDefinition>'
        b"<bpmn:timeDuration>PT5S</bpmn:timeDuration></bpmn:timerEventDefinition>"
        b'</bpmn:intermediateCatchEvent><bpmn:endEvent id="Out" />'
        b'<bpmn:sequenceFlow id="s1" sourceRef="In" targetRef="Wait" />'
        b'<bpmn:sequenceFlow id="s2" sourceRef="Wait" targetRef="Out" /></bpmn:subProcess>',
    )
    assert xml != LOOP
    registry = Registry()
    bpmn.load(xml, registry=registry, snapshot_every=1)

    @bpmn.handler("count", registry=registry)
    async def count(variables: dict[str, Any]) -> dict[str, Any]:
        return {"n": variables["n"] + 1}

    path = str(tmp_path / "sub.db")
    await _run_loop(path, registry, 31)
    with SqliteStore(path) as store:
        stored = store.read("loop-1")
        kinds = [s.kind for s in stored]
        assert "snapshot" in kinds
        for s in stored:
            if s.kind == "snapshot":  # never while a token is inside the subprocess
                state = r.decode(s.kind, s.version, s.data)
                assert isinstance(state, r.Snapshot)
                assert all(node != "Tick" for _, node, *_ in state.state["workflow"]["tokens"])
        assert replay_report(registry, store, "loop-1").ok


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (-1, ValueError, "snapshot_every must be >= 0 (0 or None: no snapshots), got -1"),
        (2.5, TypeError, "snapshot_every must be a whole number of records or None, not 2.5"),
        ("10", TypeError, "snapshot_every must be a whole number of records or None, not '10'"),
        (True, TypeError, "snapshot_every must be a whole number of records or None, not True"),
    ],
)
def test_a_bad_snapshot_every_is_refused(value: Any, error: type, message: str) -> None:
    with pytest.raises(error) as raised:
        bpmn.load(LOOP, registry=Registry(), snapshot_every=value)
    assert str(raised.value) == message


def test_snapshot_every_defaults_to_a_thousand_records_and_zero_turns_it_off() -> None:
    registry = Registry()
    bpmn.load(LOOP, registry=registry)
    assert registry.workflow("loop").snapshot_every == 1000
    bpmn.load(LOOP, registry=registry, snapshot_every=0)
    assert registry.workflow("loop").snapshot_every is None
    bpmn.load(LOOP, registry=registry, snapshot_every=None)
    assert registry.workflow("loop").snapshot_every is None


async def test_the_viewer_shows_a_snapshot_as_one(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = str(tmp_path / "loop.db")
    registry = loop_registry(10)
    await _run_loop(path, registry, 5.5)
    async with Runtime.open(path, registry=registry, wall_time=lambda: T0) as rt:
        client = create_app(rt).test_client()
        response = await client.get("/ui/instances/loop-1?journal=all")
        assert response.status_code == 200
        page = Collector()
        page.feed(await response.get_data(as_text=True))
    assert "snapshot of the state (1 token(s)): rehydration starts here" in page.words


PARALLEL = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Par" targetNamespace="https://x">
  <bpmn:process id="par" isExecutable="true">
    <bpmn:startEvent id="Start" />
    <bpmn:parallelGateway id="Fork" />
    <bpmn:serviceTask id="Slow"><bpmn:extensionElements>
      <zeebe:taskDefinition type="slow" />
      <zeebe:ioMapping><zeebe:input source="=x" target="seen" />
        <zeebe:output source="=seen" target="slow_saw" /></zeebe:ioMapping>
    </bpmn:extensionElements></bpmn:serviceTask>
    <bpmn:serviceTask id="Bump"><bpmn:extensionElements>
      <zeebe:taskDefinition type="bump" /></bpmn:extensionElements></bpmn:serviceTask>
    <bpmn:parallelGateway id="Join" />
    <bpmn:endEvent id="End" />
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork" />
    <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="Slow" />
    <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="Bump" />
    <bpmn:sequenceFlow id="f4" sourceRef="Slow" targetRef="Join" />
    <bpmn:sequenceFlow id="f5" sourceRef="Bump" targetRef="Join" />
    <bpmn:sequenceFlow id="f6" sourceRef="Join" targetRef="End" />
  </bpmn:process>
</bpmn:definitions>"""


async def test_a_token_resumed_from_a_snapshot_keeps_the_inputs_it_entered_with(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The slow task's input mapping read ``x`` before the other branch changed it: resumed
    from a snapshot taken meanwhile, its output mapping still reads what it read then."""
    registry = Registry()
    bpmn.load(PARALLEL, registry=registry, snapshot_every=1)
    runs: list[dict[str, Any]] = []

    @bpmn.handler("slow", registry=registry)
    async def slow(variables: dict[str, Any]) -> None:
        runs.append(variables)
        await trio.sleep(100)

    @bpmn.handler("bump", registry=registry)
    async def bump(variables: dict[str, Any]) -> dict[str, Any]:
        return {"x": 99}

    path = str(tmp_path / "par.db")
    async with Runtime.open(path, registry=registry, wall_time=lambda: T0) as rt:
        await rt.start("par", {"x": 1}, instance_id="par-1")
        await trio.sleep(50)  # bumped; the slow task still runs
        assert (await rt.query("par-1"))["variables"]["x"] == 99
    with SqliteStore(path) as store:
        core = replayed_core(registry, store, "par-1")
        assert core.snapshot_seq == store.last_seq("par-1")  # taken after the bump
        core.close()
    async with Runtime.open(path, registry=registry, wall_time=lambda: T0) as rt:
        output = await rt.result("par-1", timeout=1000)
        assert (await rt.replay("par-1")).ok
    assert output == {"x": 99, "slow_saw": 1}
    assert [run["seen"] for run in runs] == [1, 1]  # the job ran again as it was issued


async def test_trioflow_show_prints_a_snapshot_by_its_size(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "loop.db")
    await _run_loop(path, loop_registry(10), 5.5)
    code, out, _ = run_cli(["show", "loop-1", "--db", path], capsys)
    assert code == 0
    lines = [line for line in out.splitlines() if " snapshot " in line]
    assert lines
    for line in lines:
        assert re.fullmatch(r"\s*\d+ \S+ snapshot \(\d+ bytes of state\)", line)


async def test_an_instance_at_an_incident_resumes_from_its_snapshot_and_is_resolved(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    registry = Registry()
    attempts: list[str] = []
    charging(registry, attempts)
    bpmn.load(INCIDENTS, registry=registry, snapshot_every=1)
    path = str(tmp_path / "incident.db")
    async with Runtime.open(path, registry=registry, wall_time=lambda: T0) as rt:
        iid = await rt.start("incident_charge", {"card": "bad"})
        found = await incident(rt, iid)
    with SqliteStore(path) as store:
        core = replayed_core(registry, store, iid)
        assert core.snapshot_seq == store.last_seq(iid)  # taken with the token held
        assert core.status == "incident"
        core.close()
    async with Runtime.open(path, registry=registry, wall_time=lambda: T0) as rt:
        await rt.resolve_incident(iid, found["id"], {"card": "good"})
        assert await rt.result(iid, timeout=1000) == {"card": "good", "charged": True}
        assert (await rt.replay(iid)).ok
    assert attempts == ["bad", "bad", "good"]


async def test_every_store_rehydrates_from_the_latest_snapshot(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, store: Store
) -> None:
    """The journal of an instance run on SQLite, copied into each store, is rebuilt there
    from its latest snapshot."""
    path = str(tmp_path / "loop.db")
    registry = loop_registry(10)
    await _run_loop(path, registry, 20.5)
    with SqliteStore(path) as source:
        row, records = source.get("loop-1"), source.read("loop-1")
    assert row is not None
    copied = Append(
        instance_id=row.id,
        records=tuple(records),
        summary=Summary(status=row.status, waiting_on=row.waiting_on, updated_at=row.updated_at),
        new=NewInstance(workflow=row.workflow, input=row.input, created_at=row.created_at),
    )
    assert store.write([copied]) == [None]
    latest = store.last_of_kind("loop-1", "snapshot")
    assert latest is not None and latest.seq > 1
    core = replayed_core(registry, store, "loop-1")
    assert core.snapshot_seq == latest.seq and core.exposed["variables"]["n"] == 21
    core.close()


async def test_a_passivated_instance_wakes_up_from_its_snapshot(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With one actor resident, two looping instances take turns in memory: each wake-up
    rebuilds one from its latest snapshot, and both count on as if never passivated."""
    restored: list[str] = []
    restore = WorkflowCore.restore

    def counted(core: WorkflowCore, state: dict[str, Any], at: float) -> None:
        restore(core, state, at)
        restored.append(core.instance_id)

    monkeypatch.setattr(WorkflowCore, "restore", counted)
    registry = loop_registry(10)
    path = str(tmp_path / "loop.db")
    with caplog.at_level(logging.WARNING, "trioflow"):
        async with Runtime.open(
            path, registry=registry, wall_time=lambda: T0, max_resident=1
        ) as rt:
            for iid in ("loop-1", "loop-2"):
                await rt.start("loop", {"n": 0, "limit": 30}, instance_id=iid)
            outputs = [await rt.result(iid, timeout=1000) for iid in ("loop-1", "loop-2")]
            reports = [await rt.replay(iid) for iid in ("loop-1", "loop-2")]
    assert outputs == [{"n": 30, "limit": 30}] * 2
    assert all(report.ok for report in reports)
    assert "cannot be used" not in caplog.text
    assert set(restored) == {"loop-1", "loop-2"}  # woken up from snapshots, both of them
