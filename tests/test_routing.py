"""Two runtimes on one PostgreSQL database, each driving the instances it started: what is sent
to one for an instance of the other reaches that other (`runtime/_routing.py`), once, through
a notification or, when that is lost, through the poll."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
import trio
from _stores import POSTGRES_URL, fresh_postgres_url
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_bpmn_run import FIXTURES

from runtime import Event, Registry, Runtime, WorkflowCancelled, WorkflowContext, bpmn, workflow
from runtime._routing_postgres import LinkedPeers


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_postgres_url() as url:
        yield url


@workflow
async def routed_wait(ctx: WorkflowContext, key: str) -> Any:
    event = await ctx.wait_event("routed.go", subject=key)
    return event.data


@workflow
async def routed_collect(ctx: WorkflowContext, count: int) -> Any:
    """Takes `count` events of type ``routed.tick`` for itself, one wait after another."""
    taken = []
    for _ in range(count):
        event = await ctx.wait_event("routed.tick", subject=ctx.instance_id)
        taken.append(event.data)
    return taken


@workflow
async def routed_signal(ctx: WorkflowContext) -> Any:
    event = await ctx.wait_event("trioflow.signal:routed")
    return event.data


def registry() -> Registry:
    registry = Registry()
    registry.add_workflow(routed_wait)
    registry.add_workflow(routed_signal)
    registry.add_workflow(routed_collect)
    bpmn.load(FIXTURES / "messages.bpmn", registry=registry)
    return registry


@contextlib.asynccontextmanager
async def two(url: str, poll_interval: float = 1.0) -> AsyncIterator[tuple[Runtime, Runtime]]:
    """Runtimes A and B on the database at `url`, as two processes would open it."""
    shared = registry()
    async with (
        Runtime.open(url, registry=shared, poll_interval=poll_interval) as a,
        Runtime.open(url, registry=shared, poll_interval=poll_interval) as b,
    ):
        yield a, b


def peers(rt: Runtime) -> LinkedPeers:
    linked = rt._services.peers
    assert isinstance(linked, LinkedPeers)
    return linked


async def waiting(rt: Runtime, iid: str) -> None:
    """The instance waits for its event: its wait is stored with its start."""
    assert (await rt.get(iid)).status == "waiting"


async def history_kinds(rt: Runtime, iid: str) -> list[str]:
    return [item.kind for item in await rt.history(iid)]


async def test_an_event_sent_to_the_other_process_completes_the_instance_once(url: str) -> None:
    async with two(url) as (a, b):
        iid = await a.start("routed_wait", "k1")
        await waiting(a, iid)
        result = await b.publish(Event(type="routed.go", subject="k1", id="e1", data=7))
        assert (result.delivered, result.forwarded) == ((), (iid,))
        with trio.fail_after(5):
            assert await a.result(iid) == 7
            assert await b.result(iid) == 7  # B polls the row of A's instance
        again = await b.publish(Event(type="routed.go", subject="k1", id="e1", data=7))
        assert again.duplicate
        assert (await history_kinds(a, iid)).count("event_received") == 1
        assert (b.stats().routing.events_forwarded, a.stats().routing.events_delivered) == (1, 1)


async def test_a_targeted_event_and_a_signal_reach_the_other_process(url: str) -> None:
    async with two(url) as (a, b):
        targeted = await a.start("routed_wait", "k2")
        signalled = await a.start("routed_signal")
        await waiting(a, targeted)
        await waiting(a, signalled)
        result = await b.publish(
            Event(type="routed.go", subject="other", instanceid=targeted, data="t")
        )
        assert result.forwarded == (targeted,)
        assert (await b.broadcast_signal("routed", {"x": 1})).forwarded == (signalled,)
        with trio.fail_after(5):
            assert await a.result(targeted) == "t"
            assert await a.result(signalled) == {"x": 1}


async def test_a_bpmn_message_goes_to_the_oldest_subscription_whoever_drives_it(
    url: str,
) -> None:
    async with two(url) as (a, b):
        first = await a.start("messages_wait", {"orderId": "A"})
        await waiting(a, first)
        second = await b.start("messages_wait", {"orderId": "A"})
        await waiting(b, second)
        paid = Event(type="paid", subject="A", data={"amount": 10})
        assert (await b.publish(paid)).forwarded == (first,)
        with trio.fail_after(5):
            assert await a.result(first) == {"orderId": "A", "paid": 10}
        assert (await b.get(second)).status == "waiting"
        # The next one is B's own, the first in line now.
        paid_again = Event(type="paid", subject="A", data={"amount": 20})
        assert (await a.publish(paid_again)).forwarded == (second,)
        with trio.fail_after(5):
            assert await b.result(second) == {"orderId": "A", "paid": 20}


async def test_a_cancel_sent_to_the_other_process_is_applied_by_the_owner(url: str) -> None:
    async with two(url) as (a, b):
        iid = await a.start("routed_wait", "k3")
        await waiting(a, iid)
        await b.cancel(iid, "changed my mind")
        with trio.fail_after(5), pytest.raises(WorkflowCancelled, match="changed my mind"):
            await a.result(iid)
        await peers(a).catch_up()  # applied at most once more: it is finished
        assert peers(a)._link.commands(mine=False) == []  # taken out once applied
        assert b.stats().routing.commands_posted == 1
        assert a.stats().routing.commands_applied in (1, 2)  # a second time refused as done


async def test_a_lost_notification_is_made_up_for_by_the_poll(url: str) -> None:
    async with two(url, poll_interval=0.2) as (a, b):
        iid = await a.start("routed_wait", "k4")
        await waiting(a, iid)
        peers(b)._link.notify = lambda owners, payload: None  # type: ignore[method-assign]
        before = peers(a).caught_up
        assert (await b.publish(Event(type="routed.go", subject="k4", data=1))).forwarded
        with trio.fail_after(5):
            assert await a.result(iid) == 1
        assert peers(a).caught_up > before


async def test_an_owner_whose_listening_connection_is_killed_still_gets_its_events(
    url: str,
) -> None:
    async with two(url) as (a, b):
        ids = [await a.start("routed_wait", f"kill{n}") for n in range(2)]
        for iid in ids:
            await waiting(a, iid)
        listener = peers(a)._listener
        assert listener is not None and listener.backend_pid is not None
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (listener.backend_pid,))
        for n in range(2):
            await b.publish(Event(type="routed.go", subject=f"kill{n}", data=n))
        with trio.fail_after(5):
            assert [await a.result(iid) for iid in ids] == [0, 1]


async def test_many_events_through_the_other_process_each_delivered_exactly_once(
    url: str,
) -> None:
    async with two(url, poll_interval=0.05) as (a, b):
        ids = [await a.start("routed_wait", f"m{n}") for n in range(30)]
        for iid in ids:
            await waiting(a, iid)
        async with trio.open_nursery() as nursery:
            for n in range(30):
                # Every event twice: the redelivery is a duplicate, delivered nowhere.
                for _ in range(2):
                    event = Event(type="routed.go", subject=f"m{n}", id=f"m{n}", data=n)
                    nursery.start_soon(b.publish, event)
        with trio.fail_after(10):
            assert [await a.result(iid) for iid in ids] == list(range(30))
        for iid in ids:
            assert (await history_kinds(a, iid)).count("event_received") == 1


async def test_a_resume_for_an_instance_whose_process_died_is_applied_where_it_arrives(
    url: str,
) -> None:
    shared = registry()
    async with Runtime.open(url, registry=shared) as a:
        iid = await a.start("routed_wait", "k6")
    # As a process leaves it that died while the instance was suspended: nobody claims a
    # suspended instance by itself, so only a command that arrives can revive it.
    with psycopg.connect(url.split("?")[0], autocommit=True) as admin:
        schema = url.split("schema=")[1].split("&")[0]
        admin.execute(
            f'UPDATE "{schema}".instances SET status = %s, owner = %s WHERE id = %s',
            ("suspended", "a-process-that-died", iid),
        )
    async with Runtime.open(url, registry=shared) as b:
        await b.resume(iid)
        assert (await b.publish(Event(type="routed.go", subject="k6", data=6))).delivered == (iid,)
        with trio.fail_after(5):
            assert await b.result(iid) == 6


async def test_an_unreadable_command_is_dropped_and_the_others_applied(url: str) -> None:
    async with two(url) as (a, b):
        iid = await a.start("routed_wait", "k7")
        link = peers(b)._link
        link.post_command(iid, "not a command", 0.0, None)
        await b.cancel(iid, "after the bad one")
        with trio.fail_after(5), pytest.raises(WorkflowCancelled, match="after the bad one"):
            await a.result(iid)
        await peers(a).catch_up()
        assert link.commands(mine=False) == []


async def test_a_result_awaited_where_nobody_drives_the_instance_comes_when_another_finishes_it(
    url: str,
) -> None:
    shared = registry()
    async with (
        Runtime.open(url, registry=shared, lease=1) as a,  # looks for orphans 4 times a second
        Runtime.open(url, registry=shared, lease=100) as b,  # not for the next 25 s
    ):
        iid = await a.start("routed_wait", "k8")
        let_go(url, iid)
        async with trio.open_nursery() as nursery:
            outcome: list[Any] = []

            async def wait_on_b() -> None:
                outcome.append(await b.result(iid, timeout=10))

            nursery.start_soon(wait_on_b)
            await claimed(a, iid)
            await a.publish(Event(type="routed.go", subject="k8", data=8))
        assert outcome == [8]


def let_go(url: str, instance_id: str) -> None:
    """Leave the instance to nobody, as a process that closed leaves its instances."""
    with psycopg.connect(url.split("?")[0], autocommit=True) as admin:
        schema = url.split("schema=")[1].split("&")[0]
        admin.execute(f'UPDATE "{schema}".instances SET owner = NULL WHERE id = %s', (instance_id,))


async def claimed(rt: Runtime, instance_id: str) -> None:
    """Until `rt` has claimed the instance (its own task does: no event tells)."""
    shared = rt._services.shared
    assert shared is not None
    with trio.fail_after(5):
        while (held := shared.owner_of(instance_id)) is None or held.id != shared.owner:  # noqa: ASYNC110
            await trio.sleep(0.02)


Sent = tuple[int, int, bool, bool]
"""An event: for which instance (of three, all on A), through which runtime (0: A, 1: B),
sent twice or not, and with B's notifications lost or not."""


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 1), st.booleans(), st.booleans()),
        min_size=1,
        max_size=12,
    )
)
def test_every_event_is_taken_once_whichever_way_it_travels(sent: list[Sent]) -> None:
    """Events for A's instances, sent to A or to B, some twice, some while B's notifications
    are lost: each instance takes each event sent to it exactly once."""
    with fresh_postgres_url() as url:
        trio.run(_send_every_way, url, sent)


async def _send_every_way(url: str, sent: list[Sent]) -> None:
    counts = [sum(1 for target, *_ in sent if target == k) for k in range(3)]
    async with two(url, poll_interval=0.05) as (a, b):
        ids = [await a.start("routed_collect", count) for count in counts]
        notify = peers(b)._link.notify
        for number, (target, via, twice, lost) in enumerate(sent):
            runtime = (a, b)[via]
            peers(b)._link.notify = (  # type: ignore[method-assign]
                (lambda owners, payload: None) if lost else notify
            )
            event = Event(type="routed.tick", subject=ids[target], id=f"e{number}", data=number)
            for _ in range(2 if twice else 1):
                await runtime.publish(event)
        with trio.fail_after(20):
            for k, iid in enumerate(ids):
                expected = [n for n, (target, *_) in enumerate(sent) if target == k]
                assert sorted(await a.result(iid)) == expected


async def test_an_incident_resolved_through_the_other_process_is_retried_by_the_owner(
    url: str,
) -> None:
    shared = Registry()
    cards: list[str] = []

    @bpmn.handler("charge-card", registry=shared)
    async def charge(variables: dict[str, Any]) -> dict[str, Any]:
        cards.append(variables["card"])
        if variables["card"] != "good":
            raise ConnectionError(f"card {variables['card']} declined")
        return {"charged": True}

    bpmn.load(FIXTURES / "incidents.bpmn", registry=shared)
    async with (
        Runtime.open(url, registry=shared) as a,
        Runtime.open(url, registry=shared) as b,
    ):
        iid = await a.start("incident_charge", {"card": "bad"})
        with trio.fail_after(20):
            while (instance := await b.get(iid)).status != "incident":  # noqa: ASYNC110
                await trio.sleep(0.05)
        [incident] = instance.incidents
        await b.resolve_incident(iid, incident["id"], {"card": "good"})
        with trio.fail_after(10):
            assert await b.result(iid) == {"card": "good", "charged": True}
        assert cards[-1] == "good" and all(card == "bad" for card in cards[:-1])


async def test_every_publish_reports_the_delivery_it_made_while_the_poll_runs(url: str) -> None:
    # The owner's own poll runs all the time and most instances must be read back from the
    # store to take their event: the poll must not hand over an event this process stored
    # itself ahead of the publish (which would then report it undelivered).
    shared = registry()
    async with Runtime.open(url, registry=shared, poll_interval=0.001, max_resident=4) as rt:
        ids = [await rt.start("routed_wait", f"race-{i}") for i in range(150)]
        results: dict[str, tuple[str, ...]] = {}

        async def publish(i: int) -> None:
            event = Event(type="routed.go", subject=f"race-{i}", id=f"race-{i}", data=i)
            results[ids[i]] = (await rt.publish(event)).delivered

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for i in range(len(ids)):
                    nursery.start_soon(publish, i)
            assert peers(rt).caught_up > 0
            assert {iid: results[iid] for iid in ids} == {iid: (iid,) for iid in ids}
            for i, iid in enumerate(ids):
                assert await rt.result(iid) == i
                assert (await history_kinds(rt, iid)).count("event_received") == 1
        assert rt.stats().routing.events_delivered == 0


@pytest.mark.parametrize("kind", ["signal", "message"])
async def test_a_signal_or_message_the_owner_stopped_before_delivering_reaches_the_claimer(
    url: str, kind: str
) -> None:
    # Signals and messages reach only the waits open when they were stored, so a replay does
    # not take them from the store: the claimer must offer them to the instance it claims.
    shared = registry()
    async with Runtime.open(url, registry=shared, lease=1) as b:  # looks for orphans often
        async with Runtime.open(url, registry=shared) as a:
            # A stops before it delivers what B forwards: it reads no routed event any more.
            peers(a)._link.events_after = lambda cursor, **_: ([], cursor)  # type: ignore[method-assign]
            if kind == "signal":
                iid = await a.start("routed_signal")
                await waiting(a, iid)
                result = await b.broadcast_signal("routed", {"x": 1})
                expected: Any = {"x": 1}
            else:
                iid = await a.start("messages_wait", {"orderId": "lost"})
                await waiting(a, iid)
                result = await b.publish(Event(type="paid", subject="lost", data={"amount": 5}))
                expected = {"orderId": "lost", "paid": 5}
            assert result.forwarded == (iid,)
            assert (await a.get(iid)).status == "waiting"
        # A closed and let its instance go: B claims it, replays it, and hands it the event.
        with trio.fail_after(5):
            assert await b.result(iid) == expected
        assert (await history_kinds(b, iid)).count("event_received") == 1
