"""Call activities: a child instance of its own, linked to its parent, as in Zeebe."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from test_bpmn_run import FIXTURES, complete_task, incident, opened, settle, status

from runtime import (
    Registry,
    Runtime,
    WorkflowCancelled,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowFailed,
    bpmn,
)

CALL = FIXTURES / "run_call.bpmn"


async def code_flow(ctx: WorkflowContext, input: Any) -> None:
    return None


@pytest.fixture
def registry() -> Registry:
    registry = Registry()

    @bpmn.handler("double", registry=registry)
    async def double(variables: dict[str, Any]) -> dict[str, Any]:
        return {"doubled": variables["n"] * 2, "seen": sorted(variables)}

    bpmn.load(CALL, registry=registry)
    return registry


async def children(rt: Runtime, parent_id: str) -> list[str]:
    return [i.id for i in (await rt.list(limit=500)).items if i.parent_id == parent_id]


async def test_the_child_is_an_instance_of_its_own_linked_to_its_parent_both_ways(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("call_mapped", {"amount": 21, "other": "x"})
        # The output mapping picks what comes back: "result", nothing else of the child.
        assert await rt.result(iid) == {"amount": 21, "other": "x", "result": 42}
        [child] = await children(rt, iid)
        assert child == f"{iid}:Call_Mapped:1"
        await rt.result(child)  # it reports to its parent just before it ends
        document = await rt.get(child)
        assert (document.workflow, document.status, document.parent_id) == (
            "call_child",
            "completed",
            iid,
        )
        # Every variable the call activity sees goes to the child, its inputs included.
        assert document.input == {"amount": 21, "other": "x", "n": 21}
        assert (await rt.query(child))["parent"] == {
            "instance_id": iid,
            "element_id": "Call_Mapped",
        }
        assert (await rt.query(iid))["called"] == {
            child: {"element_id": "Call_Mapped", "process_id": "call_child", "status": "completed"}
        }
        assert (await rt.get(iid)).parent_id is None


async def test_propagation_flags_and_a_process_id_from_feel(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("call_isolated", {"amount": 5, "target": "call_child"})
        # propagateAllChildVariables="false" without outputs: nothing comes back.
        assert await rt.result(iid) == {"amount": 5, "target": "call_child"}
        [child] = await children(rt, iid)
        # propagateAllParentVariables="false": only the input mappings go to the child.
        assert (await rt.get(child)).input == {"n": 5}
        assert (await rt.result(child))["seen"] == ["n"]
        missing = await rt.start("call_isolated", {"amount": 5, "target": "nowhere"})
        found = await incident(rt, missing)
        assert found["element_id"] == "Call_Isolated"
        assert "no process 'nowhere' is loaded" in found["message"]
        [call] = (await rt.query(missing))["called"].values()
        assert call["status"] == "not started" and await children(rt, missing) == []
        registry.add_workflow(
            WorkflowDefinition(name="code_flow", fn=code_flow, input_type=None, takes_input=True)
        )
        code = await rt.start("call_isolated", {"amount": 5, "target": "code_flow"})
        found = await incident(rt, code)
        assert "'code_flow' is a code workflow" in found["message"]


async def test_a_child_error_it_does_not_catch_reaches_the_error_boundary_on_the_call(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("call_catch", {})
        await rt.result(iid)
        view = await rt.query(iid)
        assert "End_caught" in view["completed"] and "End_normal" not in view["completed"]
        [child] = await children(rt, iid)
        with pytest.raises(WorkflowFailed):
            await rt.result(child)
        assert await status(rt, child) == "failed"
        assert (await rt.get(child)).error["type"] == "UncaughtBpmnError"


async def test_an_interrupting_boundary_event_and_cancelling_the_parent_cancel_the_child(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        late = await rt.start("call_timeout", {})
        await rt.result(late)  # the timer fires after an hour of mock time
        assert "End_timeout_late" in (await rt.query(late))["completed"]
        [child] = await children(rt, late)
        with pytest.raises(WorkflowCancelled):
            await rt.result(child)

        waiting = await rt.start("call_timeout", {})
        await settle(rt, waiting)
        [child] = await children(rt, waiting)
        assert await status(rt, child) == "waiting"
        # The parent's document names the child it waits for.
        waits = (await rt.get(waiting)).waiting_on
        called = [w["subject"] for w in waits if w.get("type") == "trioflow.bpmn.called"]
        assert called == [child]
        await rt.cancel(waiting, "no longer needed")
        with pytest.raises(WorkflowCancelled):
            await rt.result(waiting)
        with pytest.raises(WorkflowCancelled):
            await rt.result(child)


async def test_a_child_that_completes_lets_the_parent_go_on(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("call_timeout", {"order": 1})
        await settle(rt, iid)
        [child] = await children(rt, iid)
        await complete_task(rt, child, "Task_Wait", {"approved": True})
        assert await rt.result(iid) == {"order": 1, "approved": True}
        assert "End_timeout_normal" in (await rt.query(iid))["completed"]


async def test_an_incident_in_the_child_stays_on_the_child(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    registry = Registry()  # no handler for "double": the child's task has an incident
    bpmn.load(CALL, registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("call_mapped", {"amount": 1})
        await settle(rt, iid)
        [child] = await children(rt, iid)
        found = await incident(rt, child)
        assert found["element_id"] == "Task_Double"
        assert await status(rt, iid) == "waiting"
        assert (await rt.get(iid)).incidents == []

        @bpmn.handler("double", registry=registry)
        async def double(variables: dict[str, Any]) -> dict[str, Any]:
            return {"doubled": variables["n"] * 2}

        await rt.resolve_incident(child, found["id"])
        assert (await rt.result(iid))["result"] == 2


async def test_a_multi_instance_call_activity_starts_a_child_per_item(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        iid = await rt.start("call_multi", {"amounts": [1, 2, 3]})
        assert (await rt.result(iid))["results"] == [2, 4, 6]
        assert sorted(await children(rt, iid)) == [f"{iid}:Call_Each:{n}" for n in (1, 2, 3)]


async def test_an_escalation_the_child_does_not_catch_reaches_the_call_activity(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        soft = await rt.start("call_escalation_soft", {})
        await settle(rt, soft)
        [child] = await children(rt, soft)
        view = await rt.query(soft)
        # Non-interrupting: the parent takes the boundary's path and still waits for the child.
        assert "End_soft_noticed" in view["completed"] and "Call_Soft" in view["active"]
        await complete_task(rt, child, "Task_After")
        await rt.result(soft)
        assert "End_soft_done" in (await rt.query(soft))["completed"]

        hard = await rt.start("call_escalation_hard", {})
        await rt.result(hard)
        view = await rt.query(hard)
        assert (
            "End_hard_escalated" in view["completed"] and "End_hard_done" not in view["completed"]
        )
        [child] = await children(rt, hard)
        with pytest.raises(WorkflowCancelled):
            await rt.result(child)  # an interrupting catch in the parent cancels the child
