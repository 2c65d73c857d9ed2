"""Event subprocesses: message, timer and error start events, interrupting or not, at the
process level and inside an embedded subprocess."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from test_bpmn_run import FIXTURES, complete_task, opened, settle, status

from runtime import Event, Registry, bpmn

EVENT_SUB = FIXTURES / "run_event_sub.bpmn"


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    reminded: list[float] = []

    @bpmn.handler("remind", registry=registry)
    async def remind(variables: dict[str, Any]) -> dict[str, Any]:
        reminded.append(trio.current_time())
        return {"reminders": variables.get("reminders", 0) + 1}

    @bpmn.handler("risky", registry=registry)
    async def risky(variables: dict[str, Any]) -> None:
        if variables.get("code"):
            raise bpmn.TaskError(variables["code"], "it went wrong")

    bpmn.load(EVENT_SUB, registry=registry)
    return registry


async def test_a_non_interrupting_timer_cycle_runs_beside_the_process_until_it_ends(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("esp_process", {"orderId": "A1"})
        await trio.sleep(25 * 60)
        assert (await rt.query(iid))["active"] == ["Task_Work"]
        await complete_task(rt, iid, "Task_Work", {"done": True})
        assert await rt.result(iid) == {"orderId": "A1", "reminders": 2, "done": True}
        assert "Remind_Task" in (await rt.query(iid))["completed"]


async def test_an_interrupting_message_stops_the_process_flow_and_completes_it(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("esp_process", {"orderId": "A2"})
        await trio.sleep(15 * 60)
        cancel = Event(type="cancel", subject="A2", data={"reason": "changed my mind"})
        assert (await rt.publish(cancel)).delivered == (iid,)
        assert await rt.result(iid) == {
            "orderId": "A2",
            "reminders": 1,
            "cancelReason": "changed my mind",
            "cancelled": True,
        }
        view = await rt.query(iid)
        assert view["active"] == [] and "Task_Work" not in view["completed"]
        late = Event(type="task.completed", subject=f"{iid}/Task_Work")
        assert (await rt.publish(late)).delivered == ()


async def test_an_error_is_caught_by_the_event_subprocess_of_its_own_level_first(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        inner = await rt.start("esp_errors", {"code": "RISKY"})
        assert await rt.result(inner) == {"code": "RISKY", "fixed": "inner", "after": True}
        outer = await rt.start("esp_errors", {"code": "OTHER"})
        assert await rt.result(outer) == {"code": "OTHER", "fixed": "outer"}
        assert "Task_After" not in (await rt.query(outer))["completed"]
        fine = await rt.start("esp_errors", {})
        assert await rt.result(fine) == {"after": True}


async def test_inside_a_subprocess_a_triggered_event_subprocess_keeps_it_open(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("esp_inside", {"docId": "d1"})
        await settle(rt, iid)
        assert (await rt.publish(Event(type="note", subject="d1"))).delivered == (iid,)
        await settle(rt, iid)
        assert (await rt.query(iid))["active"] == [
            "Sub_Notes",
            "Notes_Edit",
            "Esp_Note",
            "Note_Ack",
        ]
        await complete_task(rt, iid, "Notes_Edit")
        await settle(rt, iid)
        assert await status(rt, iid) == "waiting"  # the note is not acknowledged yet
        await complete_task(rt, iid, "Note_Ack")
        assert await rt.result(iid) == {"docId": "d1"}
        assert (await rt.publish(Event(type="note", subject="d1"))).delivered == ()


async def test_inside_a_subprocess_an_interrupting_timer_ends_it_and_the_process_goes_on(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("esp_inside", {"docId": "d2"})
        await settle(rt, iid)
        assert (await rt.publish(Event(type="note", subject="d2"))).delivered == (iid,)
        assert await rt.result(iid) == {"docId": "d2", "timedOut": True}
        view = await rt.query(iid)
        assert "End_inside" in view["completed"] and "Note_Ack" not in view["completed"]
        assert view["tasks"] == {}


def test_an_event_subprocess_needs_an_event_and_no_flows() -> None:
    source = (
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">'
        '<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/>'
        '<bpmn:endEvent id="e"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="Esp"/>'
        '<bpmn:subProcess id="Esp" triggeredByEvent="true">'
        '<bpmn:startEvent id="In" isInterrupting="false"><bpmn:errorEventDefinition/>'
        "</bpmn:startEvent></bpmn:subProcess></bpmn:process></bpmn:definitions>"
    )
    with pytest.raises(bpmn.BpmnError) as caught:
        bpmn.parse(source)
    text = str(caught.value)
    assert "error start event 'In' must be interrupting" in text
    assert "event subprocess 'Esp' has sequence flows" in text
