"""Pinned crash points with time, events and cancellation: the cases the property in
``test_replay_property_time`` reaches only by chance (a crash at one given append, an outage
of positive length), and what a cancelled await leaves behind. Built on that module's
schedule driver and checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from test_replay_property import WORLD, prop_call
from test_replay_property_time import (
    BASE,
    INSTANCES,
    SOURCE,
    Action,
    Result,
    _rel,
    _run_trio,
    assert_same_result,
    check_attempts,
    check_result,
    reference_run,
    reset_world,
    run_schedule,
)

from runtime import Event, EventTimeout, Runtime, WorkflowCancelled, WorkflowContext, workflow
from runtime.store import Append

# Each case is its own trio.run on an autojumping MockClock.
pytestmark = pytest.mark.usefixtures("inline_commits")

# --- pinned crash points ---------------------------------------------------------------------

IID = INSTANCES[0]
"""The instance the pinned tests look at (the other one runs the same program alongside)."""


def _call(call_id: str, result: Any) -> dict[str, Any]:
    return {"id": call_id, "result": result, "fails": 0, "fatal": False, "delay": 0}


def _program(*steps: dict[str, Any], compensate: bool = False) -> dict[str, Any]:
    return {
        "steps": list(steps),
        "compensate": compensate,
        "swallow": False,
        "comp": _call("comp", "undone"),
    }


def _wait(timeout: float | None, catch: bool = False) -> dict[str, Any]:
    return {"wait": {"type": "a", "subject": "x", "timeout": timeout}, "catch": catch}


def _publish(at: float, event_id: str = "e0") -> Action:
    ev = Event(type="a", source=SOURCE, id=event_id, subject="x", data={"n": 0})
    return Action(at=at, kind="publish", event=ev)


def _holding(kind: str) -> Callable[[Append], bool]:
    """True of an append of ``IID`` that holds a ``kind`` record (the store dies at the first)."""

    def holds(append: Append) -> bool:
        return append.instance_id == IID and any(rec.kind == kind for rec in append.records)

    return holds


def _history(result: Result, kind: str) -> list[tuple[float, Any]]:
    return [(_rel(h), h.data) for h in result.runs[IID].history if h.kind == kind]


def _pinned(
    tmp_path: Path,
    program: dict[str, Any],
    actions: list[Action],
    crash: Callable[[Append], bool],
    *,
    at_once: bool,
    outage: float = 0.0,
    on_reopen: Callable[[Runtime], Awaitable[None]] | None = None,
) -> tuple[Result, Result]:
    """Run uninterrupted, then die at the first append ``crash`` is true of: (reference,
    crashed). ``at_once``: that append is committed, else it is refused.

    Without an outage the crashed run must equal the reference; with one, time moved on
    while the process was down and the test says what must have happened instead.
    """

    async def main() -> tuple[Result, Result]:
        reference, _ = await reference_run(str(tmp_path / "ref.db"), program, actions)
        crashed = await run_schedule(
            str(tmp_path / "crashed.db"),
            program,
            actions,
            die_at=crash,
            at_once=at_once,
            outage=outage,
            on_reopen=on_reopen,
        )
        assert crashed.died_at is not None
        check_result(crashed, actions)
        check_attempts(crashed)
        if not outage:
            assert_same_result(crashed, reference)
        return reference, crashed

    result: tuple[Result, Result] = _run_trio(main)
    return result


def test_an_event_stored_just_before_the_crash_is_delivered_at_reopen(tmp_path: Path) -> None:
    program = _program(_wait(None), {"call": _call("c0", "shipped"), "catch": False})
    actions = [Action(at=0.0, kind="start"), _publish(5.0625)]

    async def delivered_by_recovery(rt: Runtime) -> None:
        # Before anyone publishes again, recovery took the event from the store.
        received = [h for h in await rt.history(IID) if h.kind == "event_received"]
        assert [(_rel(h), h.data["event"]["id"]) for h in received] == [(5.0625, "e0")]

    # The event row is committed; the append of its delivery to IID is refused.
    _, crashed = _pinned(
        tmp_path,
        program,
        actions,
        _holding("event_received"),
        at_once=False,
        on_reopen=delivered_by_recovery,
    )
    assert crashed.died_at == 5.0625
    assert 1 in crashed.retried and crashed.answers[1] == (True, [], ())  # the publisher's retry
    assert [at for at, _ in _history(crashed, "event_received")] == [5.0625]
    assert crashed.runs[IID].status == "completed"


def test_an_event_published_while_the_process_is_down_is_delivered_after_reopen(
    tmp_path: Path,
) -> None:
    program = _program({"sleep": 10, "catch": False}, _wait(100))
    actions = [Action(at=0.0, kind="start"), _publish(20.0625)]
    # The process dies at 10, as the sleep ends, and is down for 30 s: the publisher gets
    # through at 40, when the process is back and the sleep's timer fired late.
    reference, crashed = _pinned(
        tmp_path,
        program,
        actions,
        _holding("timer_fired"),
        at_once=False,
        outage=30,
    )
    assert crashed.died_at == 10
    assert [at for at, _ in _history(reference, "event_received")] == [20.0625]
    assert [at for at, _ in _history(crashed, "timer_fired")] == [40]
    [(started_at, wait)] = _history(crashed, "wait_started")
    assert (started_at, wait["timeout_at"]) == (40, BASE + 140)
    [(received_at, received)] = _history(crashed, "event_received")
    assert (received_at, received["event"]["id"]) == (40, "e0")
    output = crashed.runs[IID].output
    assert crashed.runs[IID].status == "completed"
    assert output["results"][1]["value"] == {"event": "e0", "data": {"n": 0}, "at": BASE + 40}


@pytest.mark.parametrize(("at_once", "outage"), [(True, 0), (False, 0), (True, 20), (False, 20)])
def test_a_crash_between_a_timeout_and_the_next_step(
    tmp_path: Path, at_once: bool, outage: float
) -> None:
    program = _program(
        _wait(5, catch=True), {"call": _call("c0", "next"), "catch": False}, {"sleep": 1}
    )
    actions = [Action(at=0.0, kind="start")]
    # at_once: the timeout and the activity it leads to are journaled, the activity not run;
    # otherwise the timeout's append is refused and the timer fires again after reopen.
    _, crashed = _pinned(
        tmp_path,
        program,
        actions,
        _holding("timer_fired"),
        at_once=at_once,
        outage=outage,
    )
    fired_at = 5 if at_once else 5 + outage
    assert crashed.died_at == 5
    assert _history(crashed, "timer_fired") == [
        (fired_at, {"step": 1}),
        (5 + outage + 1, {"step": 3}),
    ]
    assert [at for at, _ in _history(crashed, "activity_completed")] == [5 + outage]
    assert (IID, "c0", 1) not in WORLD.before and WORLD.after[(IID, "c0", 1)] >= 1
    run = crashed.runs[IID]
    assert run.status == "completed"
    first, second, _ = run.output["results"]
    assert first["value"]["error"] == "EventTimeout" and first["at"] == BASE + fired_at
    assert (second["value"], second["at"]) == ("next", BASE + 5 + outage)


@pytest.mark.parametrize(("at_once", "outage"), [(True, 0), (False, 0), (True, 10)])
def test_a_cancel_requested_just_before_a_crash_takes_effect_after_reopen(
    tmp_path: Path, at_once: bool, outage: float
) -> None:
    program = _program(_wait(None), compensate=True)
    actions = [Action(at=0.0, kind="start"), Action(at=3.0625, kind="cancel", instance=IID)]

    async def cancelled_by_recovery(rt: Runtime) -> None:
        # The cancel was committed before the death: nobody needs to ask again.
        with pytest.raises(WorkflowCancelled, match=f"stop {IID}"):
            await rt.result(IID, timeout=1)

    # at_once: the cancel (and the compensation it schedules) is committed, then the process
    # dies before compensating; otherwise the cancel's append is refused and rt.cancel fails,
    # so the caller asks again after reopen.
    _, crashed = _pinned(
        tmp_path,
        program,
        actions,
        _holding("cancel_requested"),
        at_once=at_once,
        outage=outage,
        on_reopen=cancelled_by_recovery if at_once else None,
    )
    assert crashed.died_at == 3.0625
    assert [at for at, _ in _history(crashed, "cancel_requested")] == [3.0625]
    assert 1 in crashed.retried
    assert crashed.answers[1] == ("finished" if at_once else "requested")
    assert WORLD.after[(IID, "comp", 1)] >= 1 and (IID, "comp", 1) not in WORLD.before
    assert [at for at, _ in _history(crashed, "activity_completed")] == [3.0625 + outage]
    run = crashed.runs[IID]
    assert (run.status, run.error) == (
        "cancelled",
        {"type": "WorkflowCancelled", "message": f"stop {IID}"},
    )
    assert crashed.runs[INSTANCES[1]].status == "waiting"  # not cancelled, nothing came


# --- known bugs: what a cancelled await leaves behind -------------------------------------------


@workflow(name="tprop_wait_after_cancel")
async def tprop_wait_after_cancel(ctx: WorkflowContext) -> str:
    try:
        await ctx.wait_event("a", subject="x")
    except WorkflowCancelled:
        try:
            got = await ctx.wait_event("a", subject="x", timeout=10)
        except EventTimeout:
            return "timed out"
        return f"got {got.id}"
    return "not cancelled"


async def test_an_event_after_a_cancel_goes_to_the_wait_that_is_awaited(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(str(tmp_path / "db")) as rt:
        iid = await rt.start(tprop_wait_after_cancel)
        await trio.sleep(1)
        await rt.cancel(iid)
        await trio.sleep(1)
        await rt.publish(Event(type="a", source=SOURCE, id="e0", subject="x"))
        assert await rt.result(iid, timeout=60) == "got e0"


RETRIED_AFTER_CANCEL: list[int] = []


@workflow(name="tprop_cancel_in_backoff")
async def tprop_cancel_in_backoff(ctx: WorkflowContext) -> str:
    try:
        await ctx.run(prop_call, ctx.instance_id, "charge")
    except WorkflowCancelled:
        await ctx.sleep(20)  # a compensation that takes a while
        return "compensated"
    return "charged"


def test_a_cancelled_activity_is_not_attempted_again(tmp_path: Path) -> None:
    async def main() -> None:
        reset_world(_program({"call": {**_call("charge", "ok"), "fails": 3}, "catch": False}))
        async with Runtime.open(str(tmp_path / "db")) as rt:
            iid = await rt.start(tprop_cancel_in_backoff)
            await trio.sleep(0.5)  # attempt 1 failed at 0; attempt 2 is due at 1
            await rt.cancel(iid)
            assert await rt.result(iid, timeout=60) == "compensated"
        assert sorted(attempt for _, _, attempt in WORLD.before) == [1]

    _run_trio(main)
