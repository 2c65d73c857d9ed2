"""Signal events: broadcast to every instance waiting for them, never buffered (Zeebe's)."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from test_bpmn_run import FIXTURES, complete_task, opened, settle, status

from runtime import InvalidInput, Registry, bpmn

SIGNALS = FIXTURES / "run_signal.bpmn"


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    bpmn.load(SIGNALS, registry=registry)
    return registry


async def test_a_signal_reaches_every_waiting_instance_and_only_those_waiting(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        a = await rt.start("signal_catch", {})
        b = await rt.start("signal_catch", {})
        early = await rt.start("signal_catch", {})
        for iid in (a, b, early):
            await settle(rt, iid)
        # Nobody waits for "go" yet: it is not buffered, later waits never see it.
        await rt.broadcast_signal("go", {"round": 0})
        for iid in (a, b):
            await complete_task(rt, iid, "Task_First")
            await settle(rt, iid)
        result = await rt.broadcast_signal("go", {"round": 1})
        assert sorted(result.delivered) == sorted([a, b])
        assert await rt.result(a) == {"round": 1} and await rt.result(b) == {"round": 1}
        await complete_task(rt, early, "Task_First")
        await settle(rt, early)
        assert await status(rt, early) == "waiting"  # the "go" it missed does not count
        assert "Catch_Go" in (await rt.query(early))["active"]


async def test_a_signal_start_event_starts_an_instance_that_throws_to_boundary_events(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        task = await rt.start("signal_boundary", {})
        await settle(rt, task)
        await rt.broadcast_signal("ping")  # the non-interrupting boundary: the task stays
        await settle(rt, task)
        view = await rt.query(task)
        assert "End_boundary_pinged" in view["completed"] and "Task_Long" in view["active"]
        # "go" starts signal_started (and signal_end's event subprocess has no instance yet),
        # which throws "stop": the interrupting boundary event ends the task.
        result = await rt.broadcast_signal("go", {"who": "ops"})
        [started] = result.started
        assert (await rt.get(started)).workflow == "signal_started"
        assert await rt.result(started) == {"who": "ops"}
        await rt.result(task)
        assert "End_boundary_stopped" in (await rt.query(task))["completed"]


async def test_a_signal_end_event_and_a_signal_event_subprocess(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        thrower = await rt.start("signal_end", {})
        await settle(rt, thrower)
        await rt.broadcast_signal("go")  # signal_end's non-interrupting event subprocess
        await settle(rt, thrower)
        listener = await rt.start("signal_boundary", {})  # after the "stop" "go" led to
        await settle(rt, listener)
        assert (await rt.query(thrower))["variables"] == {"heard": True}
        assert await status(rt, thrower) == "waiting"
        await complete_task(rt, thrower, "Task_Before")
        await rt.result(thrower)  # its end event throws "ping" on its way out
        await settle(rt, listener)
        assert "End_boundary_pinged" in (await rt.query(listener))["completed"]


async def test_an_event_based_gateway_waits_for_a_signal_or_a_timer(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        went = await rt.start("signal_gateway", {})
        await settle(rt, went)
        # "go" also starts signal_started, which throws "stop": nobody here waits for it.
        assert went in (await rt.broadcast_signal("go", {"fast": True})).delivered
        assert await rt.result(went) == {"fast": True}
        assert "End_went" in (await rt.query(went))["completed"]
        waited = await rt.start("signal_gateway", {})
        await rt.result(waited)  # an hour of mock time, no signal
        assert "End_waited" in (await rt.query(waited))["completed"]


async def test_a_signal_needs_a_name_and_variables_that_are_an_object(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        with pytest.raises(InvalidInput) as bad:
            await rt.broadcast_signal("", [1])  # type: ignore[arg-type]
        assert bad.value.problems == [
            "name: must be a non-empty string",
            "variables: must be an object (a dict of variables)",
        ]
