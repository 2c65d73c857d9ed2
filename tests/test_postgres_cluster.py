"""Three ``trioflow serve`` processes on one PostgreSQL database, clients spread over them
(``_cluster``): 300 orders, each with two activities, a durable timer and a CloudEvent.

One server is SIGKILLed mid-run: every acknowledged start completes, as any surviving server
answers; no activity whose completion was journaled before the kill runs again; one in flight
at the kill runs at most twice. Another is paused (SIGSTOP) past its lease and woken
(SIGCONT): every journal stays whole (seqs 1, 2, 3, ... and each activity's result once) and
everything completes.
"""

from __future__ import annotations

import collections
import signal
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
from _cluster import (
    ACTIVITIES,
    Client,
    Key,
    Server,
    all_completed,
    cluster,
    journaled,
    sessions_of,
    until,
)
from _stores import fresh_postgres_url

# A request that a kill or a pause cuts off as httpx writes it leaves httpcore's body stream,
# an async generator, unfinished: Trio warns when it is collected.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:Async generator 'httpx._content.ByteStream.__aiter__':ResourceWarning"
    ),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <async_generator object ByteStream.__aiter__"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
]

INSTANCES = 300
IDS = [f"order-{n:03d}" for n in range(INSTANCES)]
FIRST, PAID_FIRST = IDS[:200], IDS[:100]
"""Started, and paid, before the kill or the pause; the others while it happens."""


def every_activity_once() -> collections.Counter[Key]:
    return collections.Counter({(i, name): 1 for i in IDS for name in ACTIVITIES})


def all_runs(servers: Sequence[Server]) -> collections.Counter[Key]:
    return collections.Counter(key for server in servers for key in server.runs())


async def killed_while_the_others_stand_still(
    victim: Server, survivors: Sequence[Server], url: str
) -> tuple[dict[str, int], collections.Counter[Key]]:
    """SIGKILL `victim` while the `survivors` are held still (SIGSTOP), so that what is read
    meanwhile is what the kill left: how many runs each server had begun and which activities
    had their completion journaled."""
    for server in survivors:
        server.process.send_signal(signal.SIGSTOP)
    try:
        victim.process.kill()
        await victim.process.wait()
        begun = {server.name: len(server.runs()) for server in (victim, *survivors)}
        done = await trio.to_thread.run_sync(journaled, url)
    finally:
        for server in survivors:
            server.process.send_signal(signal.SIGCONT)
    return begun, done


async def test_every_acknowledged_order_completes_when_a_server_is_killed(tmp_path: Path) -> None:
    with fresh_postgres_url() as url:
        async with cluster(url, tmp_path, lease=2) as servers:
            victim, survivors = servers[0], servers[1:]
            client = Client(servers)
            with trio.fail_after(50):
                await client.run(FIRST, PAID_FIRST, seed=1)
                await until(lambda: len(victim.runs()) >= 50, 30, "the victim runs activities")
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(client.run, IDS[200:], IDS[100:], 2)
                    begun, done_at_kill = await killed_while_the_others_stand_still(
                        victim, survivors, url
                    )
                await all_completed(survivors, IDS, 40)
            assert journaled(url) == every_activity_once()
    assert victim.process.returncode == -signal.SIGKILL
    assert set(client.answered_by) == set(IDS)  # every start was acknowledged, somewhere

    runs = all_runs(servers)
    before_kill = collections.Counter(
        key for server in servers for key in server.runs()[: begun[server.name]]
    )
    after_kill = runs - before_kill
    for key in every_activity_once():
        assert 1 <= runs[key] <= 2, (key, runs[key])
        if done_at_kill[key]:  # journaled before the kill: never again
            assert after_kill[key] == 0, key
        if runs[key] == 2:  # in flight at the kill: once before it (by the victim), once after
            assert key in victim.runs()[: begun[victim.name]], key
            assert (before_kill[key], after_kill[key]) == (1, 1), key
    # The victim's own orders, unfinished at the kill, were carried on by the others.
    carried_on = [
        i
        for i, server in client.answered_by.items()
        if server is victim and after_kill[i, "cluster_charge"]
    ]
    assert carried_on


async def paused_with_work_in_flight(server: Server, url: str) -> set[Key]:
    """SIGSTOP `server` at a moment when it has begun activities whose results are not
    journaled (so that it has results to write when it wakes): those activities."""
    while True:
        server.process.send_signal(signal.SIGSTOP)
        latest = server.runs()[-10:]
        done = await trio.to_thread.run_sync(journaled, url, sorted({i for i, _ in latest}))
        in_flight = {key for key in latest if not done[key]}
        if in_flight:
            return in_flight
        server.process.send_signal(signal.SIGCONT)
        count = len(server.runs())
        await until(lambda: len(server.runs()) > count, 10, "the server runs one more")  # noqa: B023


async def test_a_server_paused_past_its_lease_writes_no_record_twice(
    tmp_path: Path,
) -> None:
    with fresh_postgres_url() as url:
        async with cluster(url, tmp_path, lease=1) as servers:
            paused, others = servers[0], servers[1:]
            client = Client(servers)
            with trio.fail_after(50):
                await client.run(FIRST, PAID_FIRST, seed=3)
                await until(lambda: len(paused.runs()) >= 50, 30, "the server runs activities")
                in_flight = await paused_with_work_in_flight(paused, url)
                ran_before = {server.name: len(server.runs()) for server in others}
                its_orders = {i for i, s in client.answered_by.items() if s is paused}

                def taken_over() -> bool:
                    """Another server ran an activity of an order the paused one took."""
                    return any(
                        i in its_orders
                        for server in others
                        for i, _ in server.runs()[ran_before[server.name] :]
                    )

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(client.run, IDS[200:], IDS[100:], 4)
                    try:
                        await until(taken_over, 30, "another server takes over its orders")
                    except AssertionError as exc:
                        stuck = sessions_of(paused.pid)
                        raise AssertionError(f"{exc}; the paused one's sessions: {stuck}") from None
                    paused.process.send_signal(signal.SIGCONT)
                await all_completed(others, IDS, 40)
            # Every journal is whole and holds each activity's result once.
            assert journaled(url) == every_activity_once()
    assert set(client.answered_by) == set(IDS)
    runs = all_runs(servers)
    assert all(1 <= runs[key] <= 2 for key in every_activity_once()), runs
    assert in_flight <= set(runs)
