"""Compensation: a throw or end event runs the handlers of completed activities, as in Zeebe."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from test_bpmn_run import FIXTURES, incident, opened

from runtime import Registry, bpmn

COMPENSATION = FIXTURES / "run_compensation.bpmn"


def handlers(registry: Registry, ran: list[tuple[str, Any]], skip: str = "") -> None:
    for job_type in ("book", "pay", "unbook", "release"):
        if job_type == skip:
            continue

        def make(name: str) -> None:
            @bpmn.handler(name, registry=registry)
            async def handler(variables: dict[str, Any], job: bpmn.Job) -> dict[str, Any]:
                ran.append((job.element_id, variables.get("order")))
                return {f"{name}_done": True}

        make(job_type)


@pytest.fixture
def ran() -> list[tuple[str, Any]]:
    return []


@pytest.fixture
def registry(ran: list[tuple[str, Any]]) -> Registry:
    registry = Registry()
    handlers(registry, ran)
    bpmn.load(COMPENSATION, registry=registry)
    return registry


async def test_a_throw_runs_the_handler_of_each_completed_activity_once(
    db: str, registry: Registry, ran: list[tuple[str, Any]], autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("comp_basic", {"order": 7})
        output = await rt.result(iid)
        # Undo_All runs Task_Unbook; Undo_Again finds nothing left to undo.
        assert ran == [("Task_Book", 7), ("Task_Pay", 7), ("Task_Unbook", 7)]
        assert output["unbook_done"] is True
        assert "Task_Unbook" in (await rt.query(iid))["completed"]


async def test_activity_ref_picks_an_activity_or_a_subprocess_and_nothing_else(
    db: str, registry: Registry, ran: list[tuple[str, Any]], autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        await rt.result(await rt.start("comp_ref", {"order": 1}))
        # The end event names Task_Book_Ref: the subprocess's Task_Reserve stays as it is.
        assert [element for element, _ in ran] == [
            "Task_Reserve",
            "Task_Book_Ref",
            "Task_Unbook_Ref",
        ]
        ran.clear()
        await rt.result(await rt.start("comp_sub", {"order": 2}))
        assert ran == [("Task_Hold", 2), ("Task_Unhold", 2)]


async def test_a_failing_handler_is_an_incident_on_the_throw_event(
    db: str, ran: list[tuple[str, Any]], autojump_clock: trio.testing.MockClock
) -> None:
    registry = Registry()
    handlers(registry, ran, skip="unbook")
    bpmn.load(COMPENSATION, registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("comp_basic", {"order": 3})
        found = await incident(rt, iid)
        assert found["element_id"] == "Task_Unbook" and "unbook" in found["message"]

        # Without a job parameter, as the attempts journaled before it was registered.
        @bpmn.handler("unbook", registry=registry)
        async def unbook(variables: dict[str, Any]) -> None:
            ran.append(("Task_Unbook", variables["order"]))

        await rt.resolve_incident(iid, found["id"])
        await rt.result(iid)
        assert ran.count(("Task_Unbook", 3)) == 1


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            (
                '<bpmn:association id="Assoc_basic" associationDirection="One" '
                'sourceRef="Book_Undo" targetRef="Task_Unbook" />',
                "",
            ),
            "compensation boundary event 'Book_Undo' needs an association to its compensation "
            "handler",
        ),
        (
            (
                '<bpmn:serviceTask id="Task_Unbook" isForCompensation="true">',
                '<bpmn:serviceTask id="Task_Unbook">',
            ),
            "compensation boundary event 'Book_Undo' needs an association",
        ),
        (
            (
                '<bpmn:compensateEventDefinition activityRef="Task_Book_Ref" />',
                '<bpmn:compensateEventDefinition activityRef="Nowhere" />',
            ),
            "compensation event 'End_ref' has activityRef 'Nowhere', which is not an activity",
        ),
    ],
)
def test_what_compensation_cannot_run_is_refused_at_load(
    change: tuple[str, str], problem: str
) -> None:
    text = COMPENSATION.read_text()
    assert change[0] in text
    with pytest.raises(bpmn.BpmnError) as refused:
        bpmn.parse(text.replace(change[0], change[1]))
    assert problem in str(refused.value)


def test_a_compensation_handler_with_sequence_flows_is_refused() -> None:
    text = COMPENSATION.read_text().replace(
        '<bpmn:sequenceFlow id="F5_basic" sourceRef="Undo_Again" targetRef="End_basic" />',
        '<bpmn:sequenceFlow id="F5_basic" sourceRef="Undo_Again" targetRef="Task_Unbook" />',
    )
    with pytest.raises(bpmn.BpmnError) as refused:
        bpmn.parse(text)
    assert "compensation handler 'Task_Unbook' has sequence flows" in str(refused.value)
