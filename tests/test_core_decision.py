"""The core's whole decision for one input: records, the rows its append sets and clears, the
summary row and the commands the shell carries out. Driven directly, no I/O."""

from __future__ import annotations

from typing import Any

import attrs

from runtime import _records as r
from runtime._core import WorkflowCore
from runtime._decision import STALE, Commands, Decision
from runtime._definitions import RetryPolicy, activity, workflow
from runtime._replay import replay
from runtime.store import Summary, TimerRow, WaitRow


@activity(retry=RetryPolicy(max_attempts=3, initial_interval=1.0, backoff=2.0))
async def ship(order_id: str) -> str:
    return f"parcel-{order_id}"


@workflow(name="decided")
async def decided(ctx: Any, order_id: str) -> str:
    paid = await ctx.wait_event("paid", subject=order_id, timeout=30)
    await ctx.sleep(5)
    return str(await ctx.run(ship, paid.subject))


def started(at: float = 100.0) -> tuple[WorkflowCore, Decision]:
    core = WorkflowCore(decided, "i1")
    record = r.WorkflowStarted(workflow="decided", input="A1", seed=1)
    return core, core.decide(record, at)


def test_a_start_names_its_wait_and_timeout_rows_and_arms_them() -> None:
    _, decision = started()
    wait = WaitRow(instance_id="i1", step=1, type="paid", subject="A1")
    timeout = TimerRow(instance_id="i1", step=1, fire_at=130.0)
    waiting_on = '[{"kind":"event","step":1,"subject":"A1","timeout_at":130.0,"type":"paid"}]'
    assert decision == Decision(
        taken=True,
        outputs=(r.WaitStarted(step=1, type="paid", subject="A1", timeout_at=130.0),),
        summary=Summary(status="waiting", waiting_on=waiting_on, updated_at=100.0),
        waits_set=(wait,),
        timers_set=(timeout,),
    )


def test_an_event_clears_its_wait_and_its_timeout_and_sets_the_next_timer() -> None:
    core, _ = started()
    event = {"type": "paid", "source": "s", "id": "e1", "subject": "A1"}
    decision = core.decide(r.EventReceived(step=1, event=event), 110.0)
    sleep = TimerRow(instance_id="i1", step=2, fire_at=115.0)
    assert decision.outputs == (r.TimerStarted(step=2, fire_at=115.0, purpose="sleep"),)
    assert (decision.waits_cleared, decision.timers_cleared) == ((1,), (1,))
    assert (decision.waits_set, decision.timers_set) == ((), (sleep,))
    assert decision.commands == Commands(timers=(sleep,))
    assert decision.summary is not None and decision.summary.status == "waiting"
    assert not decision.finished and decision.refused is None


def test_a_retry_sets_a_backoff_timer_whose_firing_clears_it_and_runs_the_next_attempt() -> None:
    core, _ = started()
    event = {"type": "paid", "source": "s", "id": "e1", "subject": "A1"}
    core.decide(r.EventReceived(step=1, event=event), 110.0)
    first = core.decide(r.TimerFired(step=2), 115.0)
    attempt = r.ActivityScheduled(step=3, name="ship", args=["A1"], kwargs={}, attempt=1)
    assert first.timers_cleared == (2,) and first.commands == Commands(activities=(attempt,))
    error = r.ErrorInfo(type="ConnectionError", message="down")
    failed = core.decide(r.ActivityFailed(step=3, attempt=1, error=error, retryable=True), 116.0)
    backoff = TimerRow(instance_id="i1", step=3, fire_at=117.0)
    assert failed.outputs == (r.TimerStarted(step=3, fire_at=117.0, purpose="retry"),)
    assert failed.timers_set == (backoff,) and failed.commands == Commands(timers=(backoff,))
    retry = core.decide(r.TimerFired(step=3), 117.0)
    second = attrs.evolve(attempt, attempt=2)
    assert retry.outputs == (second,)
    assert retry.timers_cleared == (3,) and retry.commands == Commands(activities=(second,))
    done = core.decide(r.ActivityCompleted(step=3, attempt=2, result="parcel-A1"), 118.0)
    assert done.finished and done.outputs == (r.WorkflowCompleted(output="parcel-A1"),)
    assert done.summary == Summary(status="completed", output='"parcel-A1"', updated_at=118.0)
    assert done.commands == Commands() and done.timers_cleared == ()


def test_a_cancel_withdraws_the_wait_and_clears_its_rows() -> None:
    core, _ = started()
    decision = core.decide(r.CancelRequested(reason="changed my mind"), 101.0)
    assert decision.outputs == (
        r.StepCancelled(step=1),
        r.WorkflowCancelled(reason="changed my mind"),
    )
    assert (decision.waits_cleared, decision.timers_cleared) == ((1,), (1,))
    assert decision.finished and decision.commands == Commands()
    assert decision.summary is not None and decision.summary.status == "cancelled"


def test_a_stale_input_decides_nothing() -> None:
    core, _ = started()
    assert core.decide(r.ActivityCompleted(step=7, attempt=1, result=None), 101.0) is STALE
    assert core.decide(r.TimerFired(step=2), 101.0) is STALE


def test_an_event_of_another_subject_is_stale_and_not_refused() -> None:
    core, _ = started()
    event = {"type": "paid", "source": "s", "id": "e1", "subject": "B2"}
    assert core.decide(r.EventReceived(step=1, event=event), 101.0) is STALE


def test_what_is_in_flight_after_replay_is_armed_again() -> None:
    journal: list[tuple[r.Record, float]] = [
        (r.WorkflowStarted(workflow="decided", input="A1", seed=1), 100.0),
        (r.WaitStarted(step=1, type="paid", subject="A1", timeout_at=130.0), 100.0),
    ]
    fresh = WorkflowCore(decided, "i1")
    replay(fresh, journal)
    wait = WaitRow(instance_id="i1", step=1, type="paid", subject="A1")
    assert fresh.in_flight() == Commands(
        timers=(TimerRow(instance_id="i1", step=1, fire_at=130.0),), waits=(wait,)
    )
