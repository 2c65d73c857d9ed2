"""The sans-IO core, driven directly: inputs in, outputs out."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from runtime import _records as r
from runtime._core import WorkflowCore
from runtime._decision import Commands
from runtime._definitions import RetryPolicy, activity, workflow
from runtime._errors import ActivityError, NonDeterminismError, UnsupportedAwait
from runtime._replay import replay
from runtime.store import TimerRow


@attrs.frozen
class Order:
    order_id: str
    amount: float


@activity
async def validate(order: Order) -> bool:
    return order.amount > 0


@activity(retry=RetryPolicy(max_attempts=3, initial_interval=1.0, backoff=2.0))
async def charge(order_id: str, amount: float) -> str:
    return f"txn-{order_id}"


@workflow
async def two_steps(ctx: Any, order: Order) -> dict[str, Any]:
    ok = await ctx.run(validate, order)
    txn = await ctx.run(charge, order.order_id, order.amount)
    return {"ok": ok, "txn": txn}


def started(input: Any, seed: int = 7) -> r.WorkflowStarted:
    return r.WorkflowStarted(workflow="two_steps", input=input, seed=seed)


ORDER = {"order_id": "A1", "amount": 9.5}


def test_sequence_of_activities_issues_one_command_per_step() -> None:
    core = WorkflowCore(two_steps, "i1")
    assert core.receive(started(ORDER), 100.0) == [
        r.ActivityScheduled(step=1, name="validate", args=[ORDER], kwargs={}, attempt=1)
    ]
    assert core.status == "running"
    assert core.receive(r.ActivityCompleted(step=1, attempt=1, result=True), 101.0) == [
        r.ActivityScheduled(step=2, name="charge", args=["A1", 9.5], kwargs={}, attempt=1)
    ]
    assert core.receive(r.ActivityCompleted(step=2, attempt=1, result="txn-A1"), 102.0) == [
        r.WorkflowCompleted(output={"ok": True, "txn": "txn-A1"})
    ]
    assert core.status == "completed"


def test_stale_inputs_are_refused() -> None:
    core = WorkflowCore(two_steps, "i1")
    core.receive(started(ORDER), 1.0)
    assert core.receive(r.ActivityCompleted(step=2, attempt=1, result="x"), 2.0) is None
    assert core.receive(r.ActivityCompleted(step=1, attempt=2, result=True), 2.0) is None
    assert core.receive(started(ORDER), 2.0) is None


def test_failed_attempt_backs_off_on_a_durable_timer_then_retries() -> None:
    core = WorkflowCore(two_steps, "i1")
    core.receive(started(ORDER), 0.0)
    core.receive(r.ActivityCompleted(step=1, attempt=1, result=True), 0.0)
    err = r.ErrorInfo(type="ConnectionError", message="down")
    out = core.receive(r.ActivityFailed(step=2, attempt=1, error=err, retryable=True), 10.0)
    assert out == [r.TimerStarted(step=2, fire_at=11.0, purpose="retry")]
    assert core.status == "waiting"
    assert core.receive(r.TimerFired(step=2), 11.0) == [
        r.ActivityScheduled(step=2, name="charge", args=["A1", 9.5], kwargs={}, attempt=2)
    ]
    out = core.receive(r.ActivityFailed(step=2, attempt=2, error=err, retryable=True), 12.0)
    assert out == [r.TimerStarted(step=2, fire_at=14.0, purpose="retry")]
    core.receive(r.TimerFired(step=2), 14.0)
    out = core.receive(r.ActivityFailed(step=2, attempt=3, error=err, retryable=True), 15.0)
    assert out == [
        r.WorkflowFailed(
            error=r.ErrorInfo(
                type="ActivityError",
                message=str(ActivityError("charge", "ConnectionError", "down", 3)),
            )
        )
    ]


def test_non_retryable_failure_is_raised_into_the_workflow_at_once() -> None:
    @workflow(name="catches")
    async def catches(ctx: Any) -> str:
        try:
            await ctx.run(charge, "A", 1.0)
        except ActivityError as exc:
            return f"{exc.type}/{exc.attempts}"
        return "no"

    core = WorkflowCore(catches, "i")
    core.receive(r.WorkflowStarted(workflow="catches", input=None, seed=1), 0.0)
    err = r.ErrorInfo(type="ValueError", message="bad card")
    out = core.receive(r.ActivityFailed(step=1, attempt=1, error=err, retryable=False), 1.0)
    assert out == [r.WorkflowCompleted(output="ValueError/1")]


def test_gather_schedules_in_argument_order_and_returns_in_argument_order() -> None:
    @workflow(name="fan")
    async def fan(ctx: Any) -> list[Any]:
        async def two() -> str:
            a = await ctx.run(charge, "x", 1.0)
            b = await ctx.run(charge, "y", 2.0)
            return f"{a}+{b}"

        res = await ctx.gather(ctx.run(validate, ORDER), two(), ctx.sleep(5))
        return list(res)

    core = WorkflowCore(fan, "i")
    out = core.receive(r.WorkflowStarted(workflow="fan", input=None, seed=1), 0.0)
    assert out == [
        r.ActivityScheduled(step=1, name="validate", args=[ORDER], kwargs={}, attempt=1),
        r.TimerStarted(step=2, fire_at=5.0, purpose="sleep"),
        r.ActivityScheduled(step=3, name="charge", args=["x", 1.0], kwargs={}, attempt=1),
    ]
    assert core.receive(r.ActivityCompleted(step=3, attempt=1, result="a"), 1.0) == [
        r.ActivityScheduled(step=4, name="charge", args=["y", 2.0], kwargs={}, attempt=1),
    ]
    assert core.receive(r.TimerFired(step=2), 5.0) == []
    assert core.receive(r.ActivityCompleted(step=4, attempt=1, result="b"), 6.0) == []
    assert core.receive(r.ActivityCompleted(step=1, attempt=1, result=True), 7.0) == [
        r.WorkflowCompleted(output=[True, "a+b", None])
    ]


def test_now_random_and_uuid_are_deterministic() -> None:
    @workflow(name="det")
    async def det(ctx: Any) -> list[Any]:
        await ctx.sleep(1)
        return [ctx.now().timestamp(), ctx.random(), str(ctx.uuid4())]

    def run() -> Any:
        core = WorkflowCore(det, "i")
        core.receive(r.WorkflowStarted(workflow="det", input=None, seed=42), 10.0)
        return core.receive(r.TimerFired(step=1), 11.0)

    first = run()
    assert first == run()
    assert first[0].output[0] == 11.0


async def test_awaiting_something_else_is_reported_naming_the_call() -> None:
    import trio

    @workflow(name="bad")
    async def bad(ctx: Any) -> None:
        await trio.sleep(1)

    core = WorkflowCore(bad, "i")
    out = core.receive(r.WorkflowStarted(workflow="bad", input=None, seed=1), 0.0)
    assert out is not None and len(out) == 1
    assert isinstance(out[0], r.WorkflowFailed)
    assert out[0].error.type == UnsupportedAwait.__name__
    assert "awaited trio.sleep()" in out[0].error.message


def journal_of(core_inputs: list[tuple[r.Input, float]]) -> list[tuple[r.Record, float]]:
    core = WorkflowCore(two_steps, "i1")
    journal: list[tuple[r.Record, float]] = []
    for rec, at in core_inputs:
        out = core.receive(rec, at)
        assert out is not None
        journal.append((rec, at))
        journal.extend((o, at) for o in out)
    return journal


def test_replay_of_an_unchanged_journal_succeeds() -> None:
    journal = journal_of(
        [(started(ORDER), 0.0), (r.ActivityCompleted(step=1, attempt=1, result=True), 1.0)]
    )
    core = WorkflowCore(two_steps, "i1")
    replay(core, journal)
    assert core.in_flight() == Commands(
        activities=(
            r.ActivityScheduled(step=2, name="charge", args=["A1", 9.5], kwargs={}, attempt=1),
        )
    )


def test_replay_against_changed_code_names_the_step_and_both_commands() -> None:
    journal = journal_of(
        [(started(ORDER), 0.0), (r.ActivityCompleted(step=1, attempt=1, result=True), 1.0)]
    )

    @workflow(name="two_steps")
    async def changed(ctx: Any, order: Order) -> None:
        await ctx.run(validate, order)
        await ctx.run(charge, order.order_id, order.amount * 2)

    with pytest.raises(NonDeterminismError) as info:
        replay(WorkflowCore(changed, "i1"), journal)
    assert info.value.step == 2
    assert "charge('A1', 9.5)" in str(info.value)
    assert "charge('A1', 19.0)" in str(info.value)


def test_first_returns_the_winner_and_cancel_withdraws_the_loser() -> None:
    @workflow(name="race")
    async def race(ctx: Any) -> Any:
        timer = ctx.sleep(60)
        wait = ctx.wait_event("paid")
        index, value = await ctx.first(wait, timer)
        ctx.cancel(timer if index == 0 else wait)
        return [index, None if value is None else value.type]

    core = WorkflowCore(race, "i")
    assert core.receive(r.WorkflowStarted(workflow="race", input=None, seed=1), 0.0) == [
        r.TimerStarted(step=1, fire_at=60.0, purpose="sleep"),
        r.WaitStarted(step=2, type="paid", subject=None, timeout_at=None),
    ]
    event = {"type": "paid", "source": "s", "id": "e1"}
    assert core.receive(r.EventReceived(step=2, event=event), 5.0) == [
        r.StepCancelled(step=1),
        r.WorkflowCompleted(output=[0, "paid"]),
    ]
    assert core.receive(r.TimerFired(step=1), 60.0) is None


def test_a_withdrawn_step_ignores_its_late_result_and_is_not_reissued() -> None:
    @workflow(name="withdraw")
    async def withdraw(ctx: Any) -> str:
        slow = ctx.run(charge, "A", 1.0)
        index, _ = await ctx.first(slow, ctx.sleep(5))
        assert index == 1
        ctx.cancel(slow)
        await ctx.sleep(100)
        return "done"

    core = WorkflowCore(withdraw, "i")
    core.receive(r.WorkflowStarted(workflow="withdraw", input=None, seed=1), 0.0)
    assert core.receive(r.TimerFired(step=2), 5.0) == [
        r.StepCancelled(step=1),
        r.TimerStarted(step=3, fire_at=105.0, purpose="sleep"),
    ]
    assert core.receive(r.ActivityCompleted(step=1, attempt=1, result="late"), 6.0) is None
    assert core.in_flight() == Commands(timers=(TimerRow(instance_id="i", step=3, fire_at=105.0),))


def test_an_event_whose_data_does_not_fit_the_wait_is_refused_and_the_wait_goes_on() -> None:
    @workflow(name="typed_wait")
    async def typed_wait(ctx: Any) -> float:
        event = await ctx.wait_event("paid", data_type=Order)
        return float(event.data.amount)

    core = WorkflowCore(typed_wait, "i")
    core.receive(r.WorkflowStarted(workflow="typed_wait", input=None, seed=1), 0.0)
    wrong = {"type": "paid", "source": "s", "id": "e1", "data": {"order_id": "A1"}}
    refusal = core.decide(r.EventReceived(step=1, event=wrong), 1.0)
    assert not refusal.taken and refusal.outputs == ()
    assert refusal.refused is not None
    assert refusal.refused.problems == ["required field missing @ event.data.amount"]
    assert core.consumed == set() and core.status == "waiting"
    right = {**wrong, "id": "e2", "data": ORDER}
    decision = core.decide(r.EventReceived(step=1, event=right), 2.0)
    assert decision.outputs == (r.WorkflowCompleted(output=9.5),)
    assert decision.refused is None and core.consumed == {("s", "e2")}
