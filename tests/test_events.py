"""Events: publish, wait_event, matching, dedupe, early arrival, timeouts, triggers."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio
import trio.testing

from runtime import (
    Event,
    EventTimeout,
    InstanceFinished,
    InstanceNotFound,
    InvalidInput,
    Runtime,
    WorkflowCancelled,
    WorkflowContext,
    workflow,
)


@attrs.frozen
class Payment:
    amount: float
    currency: str


@workflow(name="ev_pay")
async def ev_pay(ctx: WorkflowContext, order_id: str) -> Any:
    paid = await ctx.wait_event("payment.completed", subject=order_id, data_type=Payment)
    assert isinstance(paid.data, Payment)
    return {"amount": paid.data.amount, "source": paid.source}


@workflow(name="ev_timeout")
async def ev_timeout(ctx: WorkflowContext, order_id: str) -> str:
    try:
        await ctx.wait_event("payment.completed", subject=order_id, timeout=300)
    except EventTimeout:
        return "timed out"
    return "paid"


@workflow(name="ev_any")
async def ev_any(ctx: WorkflowContext) -> Any:
    first = await ctx.wait_event("ping")
    second = await ctx.wait_event("ping")
    return [first.id, second.id]


async def settle(rt: Runtime, iid: str) -> None:
    """Let the instance run until it waits (the clock only jumps when all is idle)."""
    with trio.move_on_after(1):
        await rt.result(iid)


def paid(order_id: str, **kw: Any) -> Event:
    return Event(
        type="payment.completed",
        source="bank",
        subject=order_id,
        data={"amount": 9.5, "currency": "EUR"},
        **kw,
    )


async def test_an_event_wakes_the_instance_waiting_for_its_subject(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as rt:
        a = await rt.start(ev_pay, "A1")
        b = await rt.start(ev_pay, "B1")
        await settle(rt, a)
        assert (await rt.get(a)).status == "waiting"
        result = await rt.publish(paid("A1", id="e1"))
        assert (result.duplicate, result.delivered, result.started) == (False, (a,), ())
        assert await rt.result(a) == {"amount": 9.5, "source": "bank"}
        assert (await rt.get(b)).status == "waiting"


async def test_a_redelivered_event_is_a_duplicate_and_delivered_nowhere_twice(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(ev_any)
        await settle(rt, iid)
        first = await rt.publish(Event(type="ping", source="s", id="same"))
        again = await rt.publish(Event(type="ping", source="s", id="same"))
        assert first.delivered == (iid,) and not first.duplicate
        assert again.duplicate and again.delivered == ()
        assert (await rt.get(iid)).status == "waiting"
        other_source = await rt.publish(Event(type="ping", source="t", id="same"))
        assert other_source.delivered == (iid,)
        assert await rt.result(iid) == ["same", "same"]


async def test_an_event_that_arrives_before_the_wait_is_not_lost(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    @workflow(name="ev_late_waiter")
    async def late(ctx: WorkflowContext) -> str:
        await ctx.sleep(60)
        event = await ctx.wait_event("shipment.ready", subject="S1")
        return str(event.data)

    async with Runtime.open(db) as rt:
        iid = await rt.start(late)
        await settle(rt, iid)
        result = await rt.publish(Event(type="shipment.ready", subject="S1", data="box"))
        assert result.delivered == ()
        assert await rt.result(iid) == "box"


async def test_an_event_whose_data_does_not_fit_is_rejected_and_the_instance_waits_on(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(ev_pay, "A1")
        await settle(rt, iid)
        wrong = paid("A1", id="e1")
        wrong = attrs.evolve(wrong, data={"amount": "lots", "currency": "EUR"})
        result = await rt.publish(wrong)
        assert result.delivered == ()
        [reason] = result.rejected
        assert reason.startswith(f"{iid}: ") and reason.endswith("@ event.data.amount")
        assert (await rt.get(iid)).status == "waiting"
        assert (await rt.publish(paid("A1", id="e2"))).delivered == (iid,)
        assert await rt.result(iid) == {"amount": 9.5, "source": "bank"}


async def test_a_stored_event_that_does_not_fit_is_passed_over_for_one_that_does(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    @workflow(name="ev_late_payer")
    async def late_payer(ctx: WorkflowContext, order_id: str) -> str:
        await ctx.sleep(60)
        event = await ctx.wait_event("payment.completed", subject=order_id, data_type=Payment)
        return event.id

    async with Runtime.open(db) as rt:
        iid = await rt.start(late_payer, "A1")
        await settle(rt, iid)
        await rt.publish(attrs.evolve(paid("A1", id="wrong"), data={"amount": 1}))
        await rt.publish(paid("A1", id="right"))
        assert await rt.result(iid) == "right"


async def test_events_from_before_the_instance_started_are_not_taken(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as rt:
        await rt.publish(Event(type="ping", source="s", id="old"))
        await trio.sleep(1)
        iid = await rt.start(ev_any)
        await settle(rt, iid)
        assert (await rt.get(iid)).status == "waiting"


async def test_a_wait_times_out_with_event_timeout(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(ev_timeout, "A1")
        before = trio.current_time()
        assert await rt.result(iid) == "timed out"
        assert trio.current_time() - before == pytest.approx(300, abs=0.1)
        late = await rt.publish(paid("A1"))
        assert late.delivered == ()


async def test_an_event_targeting_an_instance_reaches_only_that_instance(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as rt:
        a = await rt.start(ev_any)
        b = await rt.start(ev_any)
        await settle(rt, b)
        result = await rt.publish(Event(type="ping", instanceid=b))
        assert result.delivered == (b,)
        assert (await rt.history(a))[-1].kind == "wait_started"


async def test_a_trigger_starts_one_instance_per_event_even_when_redelivered(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    @workflow(name="ev_on_signup", trigger="user.signed_up")
    async def on_signup(ctx: WorkflowContext, user: dict[str, str]) -> str:
        return f"welcome {user['name']}"

    async with Runtime.open(db) as rt:
        event = Event(type="user.signed_up", source="web", id="u-1", data={"name": "Ada"})
        first = await rt.publish(event)
        again = await rt.publish(event)
        assert len(first.started) == 1 and again.duplicate and again.started == ()
        assert await rt.result(first.started[0]) == "welcome Ada"
        bad = await rt.publish(Event(type="user.signed_up", data=["not", "a", "user"]))
        assert bad.started == () and "ev_on_signup" in bad.rejected[0]
        page = await rt.list(workflow="ev_on_signup")
        assert len(page.items) == 1


async def test_bad_events_are_refused_naming_the_attribute(db: str) -> None:
    async with Runtime.open(db) as rt:
        with pytest.raises(InvalidInput, match=r"event\.type"):
            await rt.publish(Event(type=""))
        with pytest.raises(InvalidInput, match=r"event\.data"):
            await rt.publish(Event(type="x", data=object()))


async def test_events_past_their_retention_are_forgotten(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    @workflow(name="ev_patient")
    async def patient(ctx: WorkflowContext) -> str:
        await ctx.sleep(3 * 86400)
        try:
            await ctx.wait_event("memo", timeout=1)
        except EventTimeout:
            return "forgotten"
        return "kept"

    async with Runtime.open(db, event_retention=86400) as rt:
        iid = await rt.start(patient)
        await settle(rt, iid)
        await rt.publish(Event(type="memo"))
        assert await rt.result(iid) == "forgotten"


async def test_a_withdrawn_wait_takes_no_event(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    @workflow(name="ev_race")
    async def race(ctx: WorkflowContext) -> Any:
        wait = ctx.wait_event("approval")
        index, _ = await ctx.first(wait, ctx.sleep(60))
        if index == 1:
            ctx.cancel(wait)
        await ctx.sleep(600)
        return index

    async with Runtime.open(db) as rt:
        iid = await rt.start(race)
        with trio.move_on_after(120):
            await rt.result(iid)
        result = await rt.publish(Event(type="approval"))
        assert result.delivered == ()
        assert await rt.result(iid) == 1
        assert "step_cancelled" in [h.kind for h in await rt.history(iid)]


@pytest.mark.parametrize("attribute", ["id", "source", "type", "subject"])
async def test_a_lone_surrogate_in_an_attribute_is_refused_by_name(db: str, attribute: str) -> None:
    with pytest.raises(InvalidInput, match=rf"event\.{attribute}: holds a lone surrogate"):
        Event(**{"type": "ping", attribute: "a\ud800"})
    async with Runtime.open(db) as rt:
        event = Event(type="ping", id="e-1")
        with pytest.raises(InvalidInput, match=rf"event\.{attribute}"):
            await rt.publish(attrs.evolve(event, **{attribute: "\udfff"}))
        assert not (await rt.publish(event)).duplicate  # nothing was stored before


async def test_an_event_for_a_missing_or_finished_instance_is_refused_and_not_stored(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    @workflow(name="ev_quick")
    async def quick(ctx: WorkflowContext) -> str:
        return "done"

    async with Runtime.open(db) as rt:
        with pytest.raises(InstanceNotFound, match="'nobody', which does not exist"):
            await rt.publish(Event(type="ping", id="e-1", instanceid="nobody"))
        waiting = await rt.start(ev_any)
        await settle(rt, waiting)
        delivered = Event(type="ping", id="e-2", instanceid=waiting)
        assert (await rt.publish(delivered)).delivered == (waiting,)
        await rt.cancel(waiting)
        with pytest.raises(WorkflowCancelled):
            await rt.result(waiting)
        with pytest.raises(InstanceFinished, match="which has finished \\(cancelled\\)"):
            await rt.publish(Event(type="ping", id="e-3", instanceid=waiting))
        # A redelivery of what was stored before the instance finished stays a duplicate.
        assert (await rt.publish(delivered)).duplicate
        done = await rt.start(quick)
        await rt.result(done)
        with pytest.raises(InstanceFinished):
            await rt.publish(Event(type="ping", id="e-4", instanceid=done))
        assert not rt._services.store.has_event("trioflow", "e-1")
        assert not rt._services.store.has_event("trioflow", "e-3")
        assert not rt._services.store.has_event("trioflow", "e-4")


async def test_publish_many_stores_every_event_or_none(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(ev_any)
        await settle(rt, iid)
        first = Event(type="ping", source="s", id="1")
        with pytest.raises(InstanceNotFound, match=r"events\[1\]: event '2' targets"):
            await rt.publish_many([first, Event(type="ping", id="2", instanceid="nobody")])
        with pytest.raises(InvalidInput, match=r"events\[2\]: .*no JSON form @ event\.data$"):
            await rt.publish_many([first, first, Event(type="x", data=object())])
        assert not rt._services.store.has_event("s", "1")
        results = await rt.publish_many([first, first, Event(type="ping", source="s", id="2")])
        assert [r.duplicate for r in results] == [False, True, False]
        assert results[0].delivered == (iid,) and results[1].delivered == ()
        # The second arrives before the second wait or at it: either way it is taken, in order.
        assert await rt.result(iid) == ["1", "2"]
        again = await rt.publish_many([Event(type="ping", source="s", id="2"), first])
        assert [r.duplicate for r in again] == [True, True]
        assert await rt.publish_many([]) == []
