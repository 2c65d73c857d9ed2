"""BPMN messages as Zeebe correlates them: one message to one subscription per workflow,
oldest first, and buffered for its ``ttl`` when no subscription waits for it yet."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio.testing
from test_bpmn_run import FIXTURES, opened, settle, status

from api import create_app
from runtime import Event, InvalidInput, Registry, Runtime, WorkflowContext, bpmn, workflow
from runtime import _records as r

CE_JSON = "application/cloudevents+json"


@pytest.fixture
def registry() -> Registry:
    return Registry()


async def started(rt: Runtime, process: str, count: int, order: str = "A") -> list[str]:
    """``count`` instances of ``process`` for the same order, started one after another."""
    ids = []
    for _ in range(count):
        iid = await rt.start(process, {"orderId": order})
        await settle(rt, iid)
        ids.append(iid)
    return ids


def paid(amount: int, **attributes: Any) -> Event:
    return Event(type="paid", subject="A", data={"amount": amount}, **attributes)


async def test_one_message_goes_to_one_waiting_instance_the_oldest_first(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "messages.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        first, second = await started(rt, "messages_wait", 2)
        assert (await rt.publish(paid(10))).delivered == (first,)
        assert await rt.result(first) == {"orderId": "A", "paid": 10}
        assert await status(rt, second) == "waiting"
        assert (await rt.publish(paid(20))).delivered == (second,)
        assert await rt.result(second) == {"orderId": "A", "paid": 20}
        assert (await rt.publish(paid(30))).delivered == ()


async def test_the_oldest_subscription_goes_first_whatever_the_instance_ids(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "messages.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        late = await rt.start("messages_wait", {"orderId": "A"}, instance_id="b-first")
        await settle(rt, late)
        later = await rt.start("messages_wait", {"orderId": "A"}, instance_id="a-second")
        await settle(rt, later)
        assert (await rt.publish(paid(10))).delivered == (late,)


async def test_a_message_with_a_ttl_waits_for_the_instance_to_reach_it(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "messages.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        buffered, plain = await started(rt, "messages_later", 2)
        assert await status(rt, buffered) == "waiting"  # on its timer
        assert (await rt.publish(paid(10, ttl=7200))).delivered == ()
        assert await rt.result(buffered) == {"orderId": "A", "paid": 10}
        # The buffered message was taken once: the other instance reaches its task, waits.
        with trio.move_on_after(7200):
            await rt.result(plain)
        assert await status(rt, plain) == "waiting"
        assert (await rt.query(plain))["active"] == ["Task_Paid"]


async def test_a_message_without_a_ttl_is_not_kept_for_a_later_subscription(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "messages.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        [iid] = await started(rt, "messages_later", 1)
        assert (await rt.publish(paid(10))).delivered == ()
        with trio.move_on_after(7200):
            await rt.result(iid)
        assert (await rt.query(iid))["active"] == ["Task_Paid"]
        assert (await rt.publish(paid(20))).delivered == (iid,)
        assert await rt.result(iid) == {"orderId": "A", "paid": 20}


async def test_an_expired_message_is_not_correlated(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "messages.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        [iid] = await started(rt, "messages_later", 1)
        assert (await rt.publish(paid(10, ttl=1800))).delivered == ()  # half the timer
        with trio.move_on_after(7200):
            await rt.result(iid)
        assert (await rt.query(iid))["active"] == ["Task_Paid"]


async def test_a_buffered_message_goes_to_one_instance_of_each_workflow(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "messages.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        assert (await rt.publish(paid(10, ttl=600))).delivered == ()
        [waiting] = await started(rt, "messages_wait", 1)
        assert await rt.result(waiting) == {"orderId": "A", "paid": 10}
        [other] = await started(rt, "messages_wait", 1)
        assert await status(rt, other) == "waiting"


async def test_code_workflows_still_get_every_delivery(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    @workflow(name="payment_watch")
    async def payment_watch(ctx: WorkflowContext, order: str) -> Any:
        event = await ctx.wait_event("paid", subject=order)
        return event.data

    registry.add_workflow(payment_watch)
    bpmn.load(FIXTURES / "messages.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        one = await rt.start("payment_watch", "A")
        two = await rt.start("payment_watch", "A")
        [bpmn_one, bpmn_two] = await started(rt, "messages_wait", 2)
        result = await rt.publish(paid(10))
        assert sorted(result.delivered) == sorted([one, two, bpmn_one])
        assert await rt.result(one) == await rt.result(two) == {"amount": 10}
        assert await status(rt, bpmn_two) == "waiting"


async def test_a_message_start_event_starts_one_instance_per_message(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "messages.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        ordered = Event(type="ordered", source="/shop", id="o-1", data={"orderId": "A"})
        (iid,) = (await rt.publish(ordered)).started
        again = await rt.publish(ordered)  # the same (source, id): the same message
        assert again.duplicate and again.started == ()
        (other,) = (await rt.publish(Event(type="ordered", data={"orderId": "A"}))).started
        assert other != iid
        await settle(rt, other)
        # Both wait for the payment of order A: one message ends one of them, the oldest.
        assert (await rt.publish(paid(1))).delivered == (iid,)
        assert await status(rt, other) == "waiting"


def test_a_wait_journaled_before_message_subscriptions_replays() -> None:
    old = r.decode(
        "wait_started", 1, '{"step": 3, "type": "paid", "subject": "A", "timeout_at": null}'
    )
    assert isinstance(old, r.WaitStarted) and old.message is False
    new = r.WaitStarted(step=3, type="paid", subject="A", timeout_at=None, message=True)
    assert old == new  # what replay compares: the flag is not part of it
    kind, version, data = r.encode(new)
    assert r.decode(kind, version, data) == new and '"message":true' in data.replace(" ", "")


# --- over HTTP: the ttl extension attribute ------------------------------------------------


def cloudevent(id: str, **attributes: Any) -> str:
    document = {"specversion": "1.0", "source": "/bank", "id": id, "type": "paid"}
    return json.dumps({**document, "subject": "A", "data": {"amount": 5}, **attributes})


async def test_the_ttl_extension_buffers_a_message_posted_over_http(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "messages.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        client = create_app(rt).test_client()
        first, second = await started(rt, "messages_later", 2)
        # Binary mode: the ttl in a ce- header, in seconds; gone before the timers fire.
        binary = {"Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": "e-1"}
        binary |= {"ce-source": "/bank", "ce-type": "paid", "ce-subject": "A", "ce-ttl": "60"}
        posted = await client.post("/events", data='{"amount": 6}', headers=binary)
        assert posted.status_code == 202
        assert (await posted.get_json())["delivered"] == []
        headers = {"Content-Type": CE_JSON}
        posted = await client.post("/events", data=cloudevent("e-2", ttl="PT2H"), headers=headers)
        assert posted.status_code == 202
        with trio.move_on_after(7200):
            await rt.result(first)
            await rt.result(second)
        outcomes = sorted([await status(rt, first), await status(rt, second)])
        assert outcomes == ["completed", "waiting"]
        done = first if await status(rt, first) == "completed" else second
        assert await rt.result(done) == {"orderId": "A", "paid": 5}


@pytest.mark.parametrize("ttl", ["10 minutes", "P1M", "PT", "-5", -5, True, "PT1H30", 10**400])
async def test_a_bad_ttl_is_400_naming_it_and_nothing_is_stored(
    db: str, registry: Registry, ttl: Any, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(FIXTURES / "messages.bpmn", registry=registry)
    async with opened(db, registry) as rt:
        client = create_app(rt).test_client()
        headers = {"Content-Type": CE_JSON}
        posted = await client.post("/events", data=cloudevent("e-1", ttl=ttl), headers=headers)
        assert posted.status_code == 400
        document = await posted.get_json()
        assert document["attribute"] == "ttl", document
        again = await client.post("/events", data=cloudevent("e-1"), headers=headers)
        assert (await again.get_json())["duplicate"] is False


async def test_a_bad_ttl_given_to_publish_is_invalid_input(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with opened(db, registry) as rt:
        for ttl in (-1, float("inf"), float("nan")):
            with pytest.raises(InvalidInput, match=r"event\.ttl"):
                await rt.publish(paid(1, ttl=ttl))
