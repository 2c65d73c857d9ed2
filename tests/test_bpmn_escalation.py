"""Escalations and BPMN errors from inside subprocesses, with Zeebe's propagation rules."""

from __future__ import annotations

import pytest
import trio.testing
from test_bpmn_run import FIXTURES, complete_task, failure, opened, settle

from runtime import Registry, bpmn

ESCALATION = FIXTURES / "run_escalation.bpmn"


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    bpmn.load(ESCALATION, registry=registry)
    return registry


async def test_a_non_interrupting_escalation_boundary_runs_beside_the_subprocess(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("esc_boundary", {"level": "soft"})
        await settle(rt, iid)
        view = await rt.query(iid)
        assert view["variables"]["notified"] is True
        assert view["active"] == ["Sub_Order", "Order_Wait"]
        await complete_task(rt, iid, "Order_Wait")
        assert await rt.result(iid) == {"level": "soft", "notified": True, "done": True}


async def test_an_interrupting_escalation_boundary_ends_the_subprocess(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("esc_boundary", {"level": "hard"})
        assert await rt.result(iid) == {"level": "hard", "handled": True}
        assert "End_handled" in (await rt.query(iid))["completed"]


async def test_an_uncaught_escalation_is_not_an_error_the_token_goes_on(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("esc_boundary", {"level": "other"})
        assert await rt.result(iid) == {"level": "other", "done": True}
        assert "Order_Unknown" in (await rt.query(iid))["completed"]


async def test_an_escalation_in_one_inner_instance_ends_the_whole_multi_instance_body(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("esc_multi", {"items": ["good", "fine", "bad"]})
        assert await rt.result(iid) == {"items": ["good", "fine", "bad"], "stopped": True}
        view = await rt.query(iid)
        assert view["tasks"] == {} and "Each_End" not in view["completed"]


async def test_escalation_event_subprocesses_catch_inside_first_then_outside(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("esc_event_sub", {})
        await settle(rt, iid)
        view = await rt.query(iid)
        assert view["variables"] == {"noted": True}  # caught inside, non-interrupting
        assert view["active"] == ["Sub_Inner", "Inner_Wait"]
        await complete_task(rt, iid, "Inner_Wait")
        # FINAL: nothing inside catches it; the process's interrupting catch-all does
        assert await rt.result(iid) == {"noted": True, "escalated": True}
        assert "Task_After" not in (await rt.query(iid))["completed"]


async def test_an_error_end_event_in_a_subprocess_fails_the_instance_unless_caught(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        caught = await rt.start("err_end", {})
        assert await rt.result(caught) == {"recovered": True}
        uncaught = await rt.start("err_uncaught", {})
        failed = await failure(rt, uncaught)
        assert failed.type == "UncaughtBpmnError" and "'BROKEN'" in failed.message


def test_only_a_subprocess_can_have_an_escalation_boundary_event() -> None:
    source = (
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">'
        '<bpmn:escalation id="E" escalationCode="X"/>'
        '<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/>'
        '<bpmn:userTask id="t"/><bpmn:boundaryEvent id="b" attachedToRef="t">'
        '<bpmn:escalationEventDefinition escalationRef="E"/></bpmn:boundaryEvent>'
        '<bpmn:intermediateThrowEvent id="x"><bpmn:escalationEventDefinition escalationRef="Y"/>'
        "</bpmn:intermediateThrowEvent></bpmn:process></bpmn:definitions>"
    )
    with pytest.raises(bpmn.BpmnError) as caught:
        bpmn.parse(source)
    text = str(caught.value)
    assert "escalation boundary event 'b' is attached to 't', which is a userTask" in text
    assert "element 'x' refers to unknown escalation 'Y'" in text
