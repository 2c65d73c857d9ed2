"""BPMN processes running on the durable runtime: one test per behaviour, on small diagrams."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from runtime import Event, Registry, Runtime, WorkflowFailed, bpmn

FIXTURES = Path(__file__).parent / "bpmn"
ORDERING = Path(__file__).parent.parent / "examples" / "ordering" / "ordering-items-workflow.bpmn"
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z: the wall clock when a runtime opens


@pytest.fixture
def registry() -> Registry:
    """A registry per test: the same process ids and handler keys recur across tests."""
    return Registry()


@contextlib.asynccontextmanager
async def opened(db: str, registry: Registry, at: float = T0) -> AsyncIterator[Runtime]:
    """A runtime on ``db`` opened at wall time ``at``; on the way out, every instance's
    journal must replay as it ran."""
    async with Runtime.open(db, registry=registry, wall_time=lambda: at) as rt:
        yield rt
        for instance in (await rt.list(limit=500)).items:
            report = await rt.replay(instance.id)
            assert report.ok, report.divergence


async def settle(rt: Runtime, iid: str) -> None:
    """Let the instance run until it waits (the clock only jumps when all is idle)."""
    with trio.move_on_after(1):
        await rt.result(iid)


async def status(rt: Runtime, iid: str) -> str:
    return (await rt.get(iid)).status


async def failure(rt: Runtime, iid: str) -> WorkflowFailed:
    """The error the instance failed with (it must fail)."""
    with pytest.raises(WorkflowFailed) as failed:
        await rt.result(iid)
    return failed.value


async def incident(rt: Runtime, iid: str) -> dict[str, Any]:
    """The instance's one open incident (it must get one within 600 mock seconds)."""
    with trio.move_on_after(600):
        await rt.result(iid)
    instance = await rt.get(iid)
    assert instance.status == "incident", instance
    [only] = instance.incidents
    return only


async def complete_task(rt: Runtime, iid: str, element_id: str, data: Any = None) -> None:
    event = Event(type="task.completed", subject=f"{iid}/{element_id}", data=data)
    assert (await rt.publish(event)).delivered == (iid,)


# --- tasks, start and end events ----------------------------------------------------------


async def test_service_send_and_plain_tasks_run_handlers_and_map_variables(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    @bpmn.handler("charge", registry=registry)
    async def charge(variables: dict[str, Any]) -> dict[str, Any]:
        seen.append(("charge", variables))
        return {"transactionId": f"txn-{variables['amount']}", "ignored": True}

    @bpmn.handler("Task_Notify", registry=registry)  # a send task without a type: by its id
    def notify(variables: dict[str, Any]) -> dict[str, Any]:  # sync: in a worker thread
        seen.append(("notify", variables))
        return {"notified": True}

    bpmn.load(FIXTURES / "run_basics.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("basics_service", {"order": {"total": 12.5}})
        assert await rt.result(iid) == {
            "order": {"total": 12.5},
            "payment": {"txn": "txn-12.5", "amount": 12.5},
            "notified": True,
            "doubled": 25,
        }
        assert seen[0] == ("charge", {"order": {"total": 12.5}, "amount": 12.5})
        assert seen[1][0] == "notify" and "amount" not in seen[1][1]
        view = await rt.query(iid)
        assert view["active"] == []
        elements = ["Start_service", "Task_Charge", "Task_Notify", "Task_Note", "End_service"]
        assert view["completed"] == elements
        assert view["flows"] == ["F1_service", "F2_service", "F3_service", "F4_service"]


async def test_a_user_task_waits_for_task_completed_and_shows_its_assignment(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_basics.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("basics_user", {"reviewer": "alice"})
        await settle(rt, iid)
        assert await status(rt, iid) == "waiting"
        view = await rt.query(iid)
        assert view["active"] == ["Task_Approve"]
        assert view["tasks"] == {
            "Task_Approve": {"assignee": "alice", "candidate_groups": ["finance", "managers"]}
        }
        other = Event(type="task.completed", subject="someone-else/Task_Approve")
        assert (await rt.publish(other)).delivered == ()
        await complete_task(rt, iid, "Task_Approve", {"approved": True})
        assert await rt.result(iid) == {"reviewer": "alice", "approved": True}
        assert (await rt.query(iid))["tasks"] == {}


async def test_receive_tasks_and_message_catch_events_correlate_by_their_key(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_basics.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        a = await rt.start("basics_messages", {"orderId": "A"})
        b = await rt.start("basics_messages", {"orderId": 7})  # a number: subject "7"
        await settle(rt, a)
        assert (await rt.publish(Event(type="receipt", subject="B"))).delivered == ()
        assert (await rt.publish(Event(type="receipt", subject="A"))).delivered == (a,)
        assert (await rt.publish(Event(type="receipt", subject="7"))).delivered == (b,)
        await settle(rt, a)
        assert (await rt.query(a))["active"] == ["Event_Shipped"]
        shipped = Event(type="shipped", subject="A", data={"carrier": "dhl", "other": 1})
        assert (await rt.publish(shipped)).delivered == (a,)
        assert await rt.result(a) == {"orderId": "A", "shippedWith": "dhl"}
        assert await status(rt, b) == "waiting"


async def test_a_terminate_end_event_ends_every_token_and_completes_the_instance(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_basics.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("basics_terminate", {})
        assert await rt.result(iid) == {"quick": True}
        kinds = [item.kind for item in await rt.history(iid)]
        assert "step_cancelled" in kinds  # the user task's wait was withdrawn
        view = await rt.query(iid)
        assert view["active"] == [] and "End_Terminate" in view["completed"]
        assert "Task_Wait" not in view["completed"]


async def test_an_error_end_event_at_process_level_fails_the_instance_with_its_code(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_basics.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("basics_error")
        failed = await failure(rt, iid)
        assert failed.type == "UncaughtBpmnError"
        assert "'BOOM'" in failed.message and "'End_Boom'" in failed.message


async def test_a_message_start_event_starts_an_instance_per_event_with_its_data(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    welcomed: list[str] = []

    @bpmn.handler("welcome", registry=registry)
    async def welcome(variables: dict[str, Any]) -> dict[str, Any]:
        welcomed.append(variables["name"])
        return {"welcomed": True}

    bpmn.load(FIXTURES / "run_basics.bpmn", registry=registry)
    assert registry.workflow("basics_signup").trigger == "signed-up"
    async with opened(db, registry) as rt:
        signed_up = Event(type="signed-up", source="web", id="u1", data={"name": "Ed"})
        (iid,) = (await rt.publish(signed_up)).started
        assert await rt.result(iid) == {"name": "Ed", "welcomed": True}
        again = await rt.publish(signed_up)
        assert again.duplicate and welcomed == ["Ed"]


async def test_a_missing_handler_raises_an_incident_naming_the_element(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_basics.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("basics_unhandled", {})
        found = await incident(rt, iid)
        assert found["element_id"] == "Task_Nobody"
        assert "'nobody-handles-this'" in found["message"]


async def test_a_condition_that_is_not_a_boolean_raises_an_incident_naming_the_gateway(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_basics.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("basics_bad_condition", {"amount": 1})
        found = await incident(rt, iid)
        assert found["element_id"] == "Gateway_Check"
        assert "'F_Then'" in found["message"] and "not a boolean" in found["message"]


# --- gateways, intermediate events, loops --------------------------------------------------


async def test_an_exclusive_gateway_takes_the_first_true_flow_else_the_default(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_gateways.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        for amount, size in ((5000, "big"), (500, "big"), (5, "small")):  # F_Big comes first
            iid = await rt.start("gw_exclusive", {"amount": amount})
            assert (await rt.result(iid))["size"] == size
        iid = await rt.start("gw_no_way", {"amount": 5})
        found = await incident(rt, iid)
        assert found["element_id"] == "Gateway_NoWay"
        assert "no default flow" in found["message"]


async def test_a_parallel_gateway_forks_and_joins(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    after: list[dict[str, Any]] = []

    @bpmn.handler("step", registry=registry)
    async def step(variables: dict[str, Any]) -> dict[str, Any]:
        return {f"done{variables['name']}": True}

    @bpmn.handler("after", registry=registry)
    async def run_after(variables: dict[str, Any]) -> None:
        after.append(variables)

    bpmn.load(FIXTURES / "run_gateways.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("gw_parallel", {})
        await settle(rt, iid)
        view = await rt.query(iid)
        assert view["active"] == ["Task_C", "Join_parallel"]  # A and B wait at the join
        assert after == []
        await complete_task(rt, iid, "Task_C", {"doneC": True})
        assert await rt.result(iid) == {"doneA": True, "doneB": True, "doneC": True}
        assert after == [{"doneA": True, "doneB": True, "doneC": True}]


async def test_an_inclusive_gateway_joins_once_no_other_token_can_reach_it(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    after: list[dict[str, Any]] = []

    @bpmn.handler("after", registry=registry)
    async def run_after(variables: dict[str, Any]) -> None:
        after.append(dict(variables))

    bpmn.load(FIXTURES / "run_gateways.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        # A and B are taken, C is not: the merge waits for B's token, then fires once.
        flags = {"a": True, "b": True, "c": False}
        iid = await rt.start("gw_inclusive", flags)
        await settle(rt, iid)
        assert set((await rt.query(iid))["active"]) == {"Gateway_IMerge", "Task_IB"}
        assert after == []
        await complete_task(rt, iid, "Task_IB", {"away": False})
        assert await rt.result(iid) == {**flags, "gotA": True, "away": False}
        assert len(after) == 1

        # B's token leaves for End_Away: nothing can reach the merge any more, so it fires.
        iid = await rt.start("gw_inclusive", {"a": True, "b": True, "c": False})
        await settle(rt, iid)
        await complete_task(rt, iid, "Task_IB", {"away": True})
        assert (await rt.result(iid))["gotA"] is True
        assert len(after) == 2
        assert "End_Away" in (await rt.query(iid))["completed"]

        # No condition is true: the default flow alone reaches the merge.
        iid = await rt.start("gw_inclusive", {"a": False, "b": False, "c": False})
        assert "gotA" not in await rt.result(iid)
        assert len(after) == 3


async def test_an_event_based_gateway_takes_whichever_event_comes_first(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_gateways.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        by_message = await rt.start("gw_event", {"id": "m"})
        by_timer = await rt.start("gw_event", {"id": "t"})
        await settle(rt, by_message)
        await rt.publish(Event(type="go", subject="m", data={"extra": 1}))
        assert await rt.result(by_message) == {"id": "m", "extra": 1, "how": "message"}
        kinds = [item.kind for item in await rt.history(by_message)]
        assert "step_cancelled" in kinds  # the hour's timer was withdrawn
        assert await status(rt, by_timer) == "waiting"
        await trio.sleep(3600)
        assert await rt.result(by_timer) == {"id": "t", "how": "timer"}
        late = await rt.publish(Event(type="go", subject="t"))
        assert late.delivered == ()


async def test_loops_built_from_gateways(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    calls: list[int] = []
    bpmn.load(FIXTURES / "run_gateways.bpmn", registry=registry)

    @bpmn.handler("count", registry=registry)  # after the load: handlers are looked up late
    async def count(variables: dict[str, Any]) -> dict[str, Any]:
        calls.append(variables.get("count", 0))
        return {"count": variables.get("count", 0) + 1}

    async with opened(db, registry) as rt:
        iid = await rt.start("gw_loop", {})
        assert await rt.result(iid) == {"count": 3}
        assert calls == [0, 1, 2]


async def test_a_link_throw_event_continues_at_its_catch_event(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_gateways.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("gw_link", {})
        assert await rt.result(iid) == {"landed": True}
        completed = (await rt.query(iid))["completed"]
        assert completed[:3] == ["Start_link", "Throw_Jump", "Catch_Jump"]


async def test_intermediate_timers_wait_for_a_duration_a_date_and_a_cycle(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_gateways.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("gw_timers", {"cycle": "R3/PT10S"})
        start = trio.current_time()

        async def active_at(minutes: float) -> list[str]:
            await trio.sleep_until(start + minutes * 60)
            return list((await rt.query(iid))["active"])

        assert await active_at(9.9) == ["Timer_TenMinutes"]
        assert await active_at(10.1) == ["Timer_NineOClock"]  # 08:10, due at 09:00
        assert await active_at(59.9) == ["Timer_NineOClock"]
        assert await active_at(60.05) == ["Timer_Cycle"]  # the cycle first fires 10 s later
        assert await status(rt, iid) == "waiting"
        await trio.sleep(10)
        assert await rt.result(iid) == {"cycle": "R3/PT10S"}


# --- boundary events -----------------------------------------------------------------------


async def test_an_interrupting_timer_boundary_event_withdraws_the_task(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    escalated: list[str] = []

    @bpmn.handler("escalate", registry=registry)
    async def escalate(variables: dict[str, Any]) -> dict[str, Any]:
        escalated.append(variables["who"])
        return {"escalated": True}

    bpmn.load(FIXTURES / "run_boundaries.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        on_time = await rt.start("bd_timer", {"who": "on time"})
        late = await rt.start("bd_timer", {"who": "late"})
        await settle(rt, on_time)
        await complete_task(rt, on_time, "Task_Review")
        assert await rt.result(on_time) == {"who": "on time"}
        await trio.sleep(3600)
        assert await rt.result(late) == {"who": "late", "escalated": True}
        assert escalated == ["late"]
        view = await rt.query(late)
        assert "Boundary_Late" in view["completed"] and "End_Reviewed" not in view["completed"]
        gone = Event(type="task.completed", subject=f"{late}/Task_Review")
        assert (await rt.publish(gone)).delivered == ()


async def test_an_interrupting_message_boundary_event_takes_its_data(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_boundaries.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("bd_message", {"id": "o1"})
        await settle(rt, iid)
        await rt.publish(Event(type="cancel", subject="o1", data={"reason": "changed mind"}))
        assert await rt.result(iid) == {"id": "o1", "cancelReason": "changed mind"}
        assert "End_Cancelled" in (await rt.query(iid))["completed"]
        assert (await rt.publish(Event(type="paid", subject="o1"))).delivered == ()


async def test_error_boundary_events_catch_a_task_error_by_code(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    attempts: list[str] = []

    @bpmn.handler("charge", registry=registry)
    async def charge(variables: dict[str, Any]) -> dict[str, Any]:
        attempts.append(variables["card"])
        if variables["card"] == "good":
            return {"charged": True}
        raise bpmn.TaskError(variables["card"].upper(), "the bank said no")

    bpmn.load(FIXTURES / "run_boundaries.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        ends = {}
        for card in ("good", "declined", "stolen"):
            iid = await rt.start("bd_error", {"card": card})
            await rt.result(iid)
            ends[card] = (await rt.query(iid))["completed"][-1]
        assert ends == {
            "good": "End_Charged",
            "declined": "End_Declined",
            "stolen": "End_OtherError",  # the boundary without an error code catches any
        }
        assert attempts == ["good", "declined", "stolen"]  # a TaskError is never retried


async def test_a_failing_handler_is_retried_then_raises_an_incident_naming_the_task(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    attempts: list[int] = []

    @bpmn.handler("charge", registry=registry)
    async def charge(variables: dict[str, Any]) -> dict[str, Any]:
        attempts.append(1)
        raise ConnectionError("bank unreachable")

    bpmn.load(FIXTURES / "run_boundaries.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("bd_error", {"card": "good"})
        found = await incident(rt, iid)
        assert len(attempts) == 5  # retries="5" on the task definition
        assert found["element_id"] == "Task_Charge"
        assert "ConnectionError: bank unreachable" in found["message"]


async def test_a_non_interrupting_timer_cycle_fires_while_the_task_goes_on(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    reminded: list[float] = []

    @bpmn.handler("remind", registry=registry)
    async def remind(variables: dict[str, Any]) -> None:
        reminded.append(trio.current_time())

    bpmn.load(FIXTURES / "run_boundaries.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        start = trio.current_time()
        iid = await rt.start("bd_reminders", {})
        await trio.sleep(25 * 60)
        assert [round((t - start) / 60) for t in reminded] == [10, 20]
        assert (await rt.query(iid))["active"] == ["Task_Sign"]
        await complete_task(rt, iid, "Task_Sign", {"signed": True})
        assert await rt.result(iid) == {"signed": True}
        await trio.sleep(3600)
        assert len(reminded) == 2  # withdrawn with the task

        other = await rt.start("bd_reminders", {})
        await trio.sleep(3600)
        assert len(reminded) == 5  # R3: three times at most
        assert await status(rt, other) == "waiting"


async def test_a_non_interrupting_message_starts_a_token_per_message(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    logged: list[str] = []

    @bpmn.handler("log", registry=registry)
    async def log(variables: dict[str, Any]) -> None:
        logged.append(variables["text"])

    bpmn.load(FIXTURES / "run_boundaries.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("bd_notes", {"id": "doc"})
        await settle(rt, iid)
        for text in ("first", "second"):
            await rt.publish(Event(type="note", subject="doc", data={"text": text}))
            await settle(rt, iid)
        assert logged == ["first", "second"]
        assert (await rt.query(iid))["active"] == ["Task_Edit"]
        await complete_task(rt, iid, "Task_Edit")
        assert await rt.result(iid) == {"id": "doc", "text": "second"}
        assert (await rt.publish(Event(type="note", subject="doc"))).delivered == ()


async def test_an_interrupting_boundary_event_on_a_subprocess_stops_its_tokens(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    @bpmn.handler("late", registry=registry)
    async def late(variables: dict[str, Any]) -> dict[str, Any]:
        return {"late": True}

    bpmn.load(FIXTURES / "run_boundaries.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("bd_subprocess", {"id": "w"})
        await settle(rt, iid)
        await rt.publish(Event(type="part", subject="w"))
        await settle(rt, iid)
        assert set((await rt.query(iid))["active"]) == {"Sub_Work", "Sub_TaskA", "Sub_Join"}
        await trio.sleep(2 * 3600)
        assert await rt.result(iid) == {"id": "w", "late": True}
        view = await rt.query(iid)
        assert view["active"] == [] and "End_Late" in view["completed"]
        done = Event(type="task.completed", subject=f"{iid}/Sub_TaskA")
        assert (await rt.publish(done)).delivered == ()


# --- embedded subprocesses -----------------------------------------------------------------


async def test_a_subprocess_runs_from_its_start_to_its_end(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    order: list[str] = []

    @bpmn.handler("inner", registry=registry)
    async def inner(variables: dict[str, Any]) -> dict[str, Any]:
        order.append("inner")
        return {"inner": True}

    @bpmn.handler("outer", registry=registry)
    async def outer(variables: dict[str, Any]) -> None:
        order.append("outer")

    bpmn.load(FIXTURES / "run_subprocess.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("sp_basic", {})
        assert await rt.result(iid) == {"inner": True}
        assert order == ["inner", "outer"]
        completed = (await rt.query(iid))["completed"]
        assert completed.index("Basic_End") < completed.index("Sub_Basic")


async def test_a_terminate_end_event_in_a_subprocess_ends_only_the_subprocess(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_subprocess.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("sp_terminate", {})
        assert await rt.result(iid) == {"after": True}
        completed = (await rt.query(iid))["completed"]
        assert "Term_Terminate" in completed and "Term_Wait" not in completed


async def test_an_error_end_event_in_a_subprocess_is_caught_by_its_boundary(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_subprocess.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        caught = await rt.start("sp_error", {"code": "SUB_FAILED"})
        assert await rt.result(caught) == {"code": "SUB_FAILED", "recovered": True}
        uncaught = await rt.start("sp_error", {"code": "OTHER"})
        failed = await failure(rt, uncaught)
        assert failed.type == "UncaughtBpmnError"
        assert "'OTHER'" in failed.message and "'Risky_Other'" in failed.message


async def test_a_boundary_event_on_an_outer_subprocess_stops_the_inner_one_too(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_subprocess.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("sp_nested", {"id": "n"})
        await settle(rt, iid)
        assert (await rt.query(iid))["active"] == ["Sub_Outer", "Sub_Inner", "Inner_Task"]
        await rt.publish(Event(type="abort", subject="n"))
        assert await rt.result(iid) == {"id": "n"}
        view = await rt.query(iid)
        assert view["active"] == [] and "End_Aborted" in view["completed"]
        kinds = [item.kind for item in await rt.history(iid)]
        assert kinds.count("step_cancelled") == 1  # the inner user task's wait


# --- the ordering process, crashes and versions ---------------------------------------------


def ordering_handlers(registry: Registry, calls: list[str]) -> None:
    """Handlers for every service task of the ordering example, recording their calls."""

    def make(task_type: str) -> None:
        @bpmn.handler(task_type, registry=registry)
        async def record(variables: dict[str, Any]) -> dict[str, Any]:
            calls.append(task_type)
            return {task_type.replace("-", "_"): True}

    for task_type in (
        "validate-order",
        "send-bill",
        "send-friendly-reminder",
        "cancel-order",
        "update-accounting",
        "package-and-deliver",
    ):
        make(task_type)


async def test_ordering_paid_in_time_runs_accounting_and_delivery_then_joins(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    calls: list[str] = []
    ordering_handlers(registry, calls)
    assert bpmn.load(ORDERING, registry=registry) == ["ordering-items-workflow"]
    async with opened(db, registry) as rt:
        iid = await rt.start(
            "ordering-items-workflow", {"orderId": "O-1", "amount": 12.5}, instance_id="order-O-1"
        )
        await settle(rt, iid)
        assert calls == ["validate-order", "send-bill"]
        assert (await rt.query(iid))["active"] == ["Gateway_AwaitPayment"]
        await trio.sleep(60)
        paid = await rt.publish(Event(type="payment-received", subject="O-1", data={"paid": 12.5}))
        assert paid.delivered == (iid,)
        output = await rt.result(iid)
        assert output["paid"] == 12.5 and output["update_accounting"] is True
        assert output["package_and_deliver"] is True
        assert sorted(calls[2:]) == ["package-and-deliver", "update-accounting"]
        view = await rt.query(iid)
        assert "Gateway_Join" in view["completed"] and view["completed"][-1] == "End_OrderCompleted"
        assert "Task_FriendlyReminder" not in view["completed"]


async def test_ordering_not_paid_sends_a_reminder_then_cancels(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    calls: list[str] = []
    ordering_handlers(registry, calls)
    bpmn.load(ORDERING, registry=registry)
    async with opened(db, registry) as rt:
        start = trio.current_time()
        iid = await rt.start("ordering-items-workflow", {"orderId": "O-2", "amount": 3})
        await trio.sleep_until(start + 4.9 * 60)
        assert calls == ["validate-order", "send-bill"]
        await trio.sleep_until(start + 5.1 * 60)
        assert calls[-1] == "send-friendly-reminder"
        assert (await rt.query(iid))["active"] == ["Gateway_AwaitLatePayment"]
        await trio.sleep_until(start + 14.9 * 60)
        assert await status(rt, iid) == "waiting"
        await trio.sleep_until(start + 15.1 * 60)
        assert calls[-1] == "cancel-order"
        assert (await rt.result(iid))["cancel_order"] is True
        assert (await rt.query(iid))["completed"][-1] == "End_OrderCancelled"


async def test_ordering_paid_after_the_reminder_runs_accounting_and_delivery(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    calls: list[str] = []
    ordering_handlers(registry, calls)
    bpmn.load(ORDERING, registry=registry)
    async with opened(db, registry) as rt:
        start = trio.current_time()
        iid = await rt.start("ordering-items-workflow", {"orderId": "O-4", "amount": 7})
        await trio.sleep_until(start + 10 * 60)  # between the 5- and the 15-minute timers
        assert calls == ["validate-order", "send-bill", "send-friendly-reminder"]
        paid = await rt.publish(Event(type="payment-received", subject="O-4", data={"paid": 7}))
        assert paid.delivered == (iid,)
        output = await rt.result(iid)
        assert output["paid"] == 7 and output["send_friendly_reminder"] is True
        assert output["update_accounting"] and output["package_and_deliver"]
        assert sorted(calls[3:]) == ["package-and-deliver", "update-accounting"]
        view = await rt.query(iid)
        assert "Event_LatePaymentReceived" in view["completed"]
        assert view["completed"][-1] == "End_OrderCompleted"
        await trio.sleep(3600)  # the withdrawn 10-minute timer never fires
        assert "cancel-order" not in calls and await status(rt, iid) == "completed"


async def test_a_bpmn_instance_survives_a_restart_and_replays_without_divergence(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    calls: list[str] = []
    ordering_handlers(registry, calls)
    bpmn.load(ORDERING, registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("ordering-items-workflow", {"orderId": "O-3", "amount": 3})
        await trio.sleep(6 * 60)  # the reminder went out; now it waits for payment or 10 min
        assert calls[-1] == "send-friendly-reminder"
    async with opened(db, registry) as rt:
        assert await status(rt, iid) == "waiting"
        assert (await rt.query(iid))["active"] == ["Gateway_AwaitLatePayment"]
        await rt.publish(Event(type="payment-received", subject="O-3"))
        output = await rt.result(iid)
        assert output["update_accounting"] and output["package_and_deliver"]
        assert calls.count("send-friendly-reminder") == 1 and "cancel-order" not in calls
        report = await rt.replay(iid)
        assert report.ok, report.divergence


async def test_a_changed_file_is_a_new_version_and_running_instances_keep_theirs(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    calls: list[str] = []
    ordering_handlers(registry, calls)
    v1 = ORDERING.read_bytes()
    v2 = v1.replace(b"<bpmn:timeDuration>PT5M<", b"<bpmn:timeDuration>PT1M<")
    bpmn.load(v1, registry=registry)
    first = registry.workflow("ordering-items-workflow")
    async with opened(db, registry) as rt:
        old = await rt.start("ordering-items-workflow", {"orderId": "old", "amount": 1})
        await settle(rt, old)
        bpmn.load(v2, registry=registry)
        second = registry.workflow("ordering-items-workflow")
        assert second.version != first.version
        bpmn.load(v2, registry=registry)  # the same bytes again: nothing changes
        assert registry.workflow("ordering-items-workflow") is second
        new = await rt.start("ordering-items-workflow", {"orderId": "new", "amount": 1})
        await trio.sleep(2 * 60)
        assert (await rt.query(new))["active"] == ["Gateway_AwaitLatePayment"]  # v2: 1 minute
        assert (await rt.query(old))["active"] == ["Gateway_AwaitPayment"]  # v1: 5 minutes
        assert (await rt.query(old))["version"] == first.version
        await rt.publish(Event(type="payment-received", subject="old"))
        assert (await rt.result(old))["package_and_deliver"] is True
        assert (await rt.replay(old)).ok and (await rt.replay(new)).ok


# --- loading and odd cases ----------------------------------------------------------------

NAMESPACES = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'
)


def one_process(process_id: str, body: str, root: str = "") -> str:
    return (
        f'<bpmn:definitions {NAMESPACES} id="D_{process_id}">{root}'
        f'<bpmn:process id="{process_id}" isExecutable="true">{body}</bpmn:process>'
        "</bpmn:definitions>"
    )


def flow(flow_id: str, source: str, target: str) -> str:
    return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}" />'


def test_each_extra_start_event_is_a_workflow_of_its_own(registry: Registry) -> None:
    source = one_process(
        "two_ways",
        '<bpmn:startEvent id="Start_Plain" />'
        '<bpmn:startEvent id="Start_Message"><bpmn:messageEventDefinition messageRef="M" />'
        '</bpmn:startEvent><bpmn:endEvent id="End" />'
        + flow("F1", "Start_Plain", "End")
        + flow("F2", "Start_Message", "End"),
        root='<bpmn:message id="M" name="poke" />',
    )
    assert bpmn.load(source, registry=registry) == ["two_ways", "two_ways:Start_Message"]
    assert registry.workflow("two_ways").trigger is None
    assert registry.workflow("two_ways:Start_Message").trigger == "poke"


async def test_a_parallel_join_no_token_can_complete_fails_the_instance(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    source = one_process(
        "dead_end",
        '<bpmn:startEvent id="Start" /><bpmn:parallelGateway id="Fork" />'
        '<bpmn:endEvent id="End_Early" /><bpmn:task id="Task_Orphan" />'
        '<bpmn:parallelGateway id="Join_Never" /><bpmn:endEvent id="End" />'
        + flow("F1", "Start", "Fork")
        + flow("F_Join", "Fork", "Join_Never")
        + flow("F_Early", "Fork", "End_Early")
        + flow("F_Other", "Task_Orphan", "Join_Never")
        + flow("F3", "Join_Never", "End"),
    )
    bpmn.load(source, registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("dead_end", {})
        failed = await failure(rt, iid)
        assert failed.type == "Incident"
        assert "'Join_Never' waits for 'F_Other'" in failed.message


async def test_cancelling_a_bpmn_instance_stops_all_its_tokens(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "run_boundaries.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("bd_subprocess", {"id": "c"})
        await settle(rt, iid)
        assert len((await rt.get(iid)).waiting_on) == 3  # two waits inside, the deadline
        await rt.cancel(iid, reason="changed our minds")
        assert await status(rt, iid) == "cancelled"
        done = Event(type="task.completed", subject=f"{iid}/Sub_TaskA")
        assert (await rt.publish(done)).delivered == ()
        assert (await rt.replay(iid)).ok


# --- timer start events ---------------------------------------------------------------------


def ticking(timer: str) -> str:
    """A process started by a timer start event (``timer``: its timer definition's XML)."""
    return one_process(
        "ticking",
        f'<bpmn:startEvent id="Start_Tick"><bpmn:timerEventDefinition>{timer}'
        "</bpmn:timerEventDefinition></bpmn:startEvent>"
        '<bpmn:endEvent id="End" />' + flow("F1", "Start_Tick", "End"),
    )


async def started(rt: Runtime) -> list[str]:
    """The ids of the instances the timer started, after letting them run."""
    await trio.testing.wait_all_tasks_blocked()
    return sorted(instance.id for instance in (await rt.list(workflow="ticking")).items)


async def test_a_time_date_start_event_starts_one_instance_at_the_date(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    date = "<bpmn:timeDate>2027-01-15T09:00:00Z</bpmn:timeDate>"  # an hour after T0
    assert bpmn.load(ticking(date), registry=registry) == ["ticking"]
    assert registry.workflow("ticking").schedule is not None
    async with opened(db, registry) as rt:
        await trio.sleep(3599)
        assert await started(rt) == []
        await trio.sleep(2)
        assert await started(rt) == [f"ticking@{int(T0) + 3600}"]
        assert await rt.result(f"ticking@{int(T0) + 3600}") == {}
        await trio.sleep(7 * 86400)
        assert await started(rt) == [f"ticking@{int(T0) + 3600}"]


async def test_a_time_cycle_start_event_starts_one_instance_per_repetition(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(ticking("<bpmn:timeCycle>R3/PT10S</bpmn:timeCycle>"), registry=registry)
    async with opened(db, registry) as rt:
        await trio.sleep(25)
        assert len(await started(rt)) == 2
        await trio.sleep(86400)
        assert await started(rt) == [f"ticking@{int(T0) + n}" for n in (10, 20, 30)]


async def test_a_reopened_runtime_starts_missed_dues_and_never_a_due_twice(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    hourly = "<bpmn:timeCycle>R/2027-01-15T09:00:00Z/PT1H</bpmn:timeCycle>"  # from T0 + 1 h
    bpmn.load(ticking(hourly), registry=registry)
    nine, ten = f"ticking@{int(T0) + 3600}", f"ticking@{int(T0) + 7200}"
    async with opened(db, registry) as rt:
        await trio.sleep(1.5 * 3600)
        assert await started(rt) == [nine]
    async with opened(db, registry, at=T0 + 1.5 * 3600) as rt:  # reopened at once
        assert await started(rt) == [nine]
    async with opened(db, registry, at=T0 + 2.5 * 3600) as rt:  # down while 10:00 fell due
        assert await started(rt) == [nine, ten]  # started before open returned
        assert (await rt.get(ten)).status == "completed"
        kinds = [item.kind for item in await rt.history(nine)]
        assert kinds.count("workflow_started") == 1


async def test_a_time_duration_start_event_counts_from_each_open(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(ticking("<bpmn:timeDuration>PT1M</bpmn:timeDuration>"), registry=registry)
    async with opened(db, registry) as rt:
        await trio.sleep(30)
        assert await started(rt) == []
        await trio.sleep(3600)
        assert await started(rt) == [f"ticking@{int(T0) + 60}"]
    async with opened(db, registry, at=T0 + 7200) as rt:
        await trio.sleep(3600)
        assert await started(rt) == [f"ticking@{int(T0) + 60}", f"ticking@{int(T0) + 7260}"]


def test_a_timer_start_event_that_cannot_run_is_refused_at_load_time(registry: Registry) -> None:
    with pytest.raises(bpmn.BpmnError) as refused:
        bpmn.load(ticking("<bpmn:timeCycle>=someVariable</bpmn:timeCycle>"), registry=registry)
    assert "'Start_Tick'" in str(refused.value)
    assert list(registry.workflows()) == []
