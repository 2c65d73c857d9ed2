"""Two ``trioflow serve`` processes on one PostgreSQL database: both serve commands, each
drives the instances it owns, and each takes over the other's when it is killed (SIGKILL) or
paused past its lease (SIGSTOP).

Every acknowledged instance completes; an activity whose completion was journaled before the
takeover does not run again; one in flight then runs again at most once; a paused server that
wakes finds its instances taken, writes not one record into them and drops them.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import trio
from _processes import read_effects
from _stores import fresh_postgres_url
from test_serve import free_port

from runtime.store import PostgresStore, open_read_only

ROOT = Path(__file__).resolve().parent.parent
APP = "tests/shared_app.py"
INSTANCES = 200
LEASE = ("--lease", "1")


@asynccontextmanager
async def serving(
    url: str, port: int, log: Path, effects: Path, *options: str
) -> AsyncIterator[trio.Process]:
    """A ``trioflow serve`` process; killed on exit if it still runs."""
    paths = [str(ROOT), str(ROOT / "tests")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    env["TRIOFLOW_TEST_EFFECTS"] = str(effects)
    env.pop("TRIOFLOW_TOKEN", None)
    command = [sys.executable, "-m", "api", "serve", APP, "--db", url, "--port", str(port)]
    with log.open("wb") as stderr:
        proc = await trio.lowlevel.open_process(
            [*command, *options],
            env=env,
            cwd=str(ROOT),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            await proc.wait()


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` (another process's progress: no event of ours tells) until it holds."""
    with trio.move_on_after(timeout):
        while not condition():  # noqa: ASYNC110
            await trio.sleep(0.02)
        return
    raise AssertionError(f"not within {timeout} s: {what}")


async def healthy(client: httpx.AsyncClient, timeout: float) -> None:
    with trio.fail_after(timeout):
        while True:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await trio.sleep(0.05)


async def start_all(
    client: httpx.AsyncClient, ids: list[str], workflow: str = "failover_order"
) -> None:
    """Start one instance per id (its id, its input), 20 at a time; each acknowledged."""
    limiter = trio.CapacityLimiter(20)

    async def start(instance_id: str) -> None:
        async with limiter:
            answer = await client.post(
                f"/workflows/{workflow}",
                json=instance_id,
                headers={"Idempotency-Key": instance_id},
            )
            assert answer.status_code == 202, answer.text

    async with trio.open_nursery() as nursery:
        for instance_id in ids:
            nursery.start_soon(start, instance_id)


async def send_go(client: httpx.AsyncClient, ids: list[str]) -> None:
    limiter = trio.CapacityLimiter(20)

    async def send(instance_id: str) -> None:
        async with limiter:
            answer = await client.post(f"/instances/{instance_id}/events", json={"type": "go"})
            assert answer.status_code == 202, answer.text

    async with trio.open_nursery() as nursery:
        for instance_id in ids:
            nursery.start_soon(send, instance_id)


async def all_completed(client: httpx.AsyncClient, ids: list[str], timeout: float) -> None:
    async def completed() -> int:
        answer = await client.get("/instances", params={"status": "completed", "limit": 500})
        return len(answer.json()["items"])

    with trio.fail_after(timeout):
        while await completed() < len(ids):  # noqa: ASYNC110 (another process)
            await trio.sleep(0.1)
    for instance_id in ids:
        answer = await client.get(f"/instances/{instance_id}")
        body = answer.json()
        assert (body["status"], body["output"]) == ("completed", instance_id)


def completions(url: str) -> collections.Counter[tuple[str, str]]:
    """How many completions of each ``(instance id, activity)`` the journals hold."""
    done: collections.Counter[tuple[str, str]] = collections.Counter()
    with open_read_only(url) as store:
        page = store.list(limit=500)
        for row in page.items:
            names: dict[int, str] = {}
            seqs = []
            for record in store.read(row.id):
                seqs.append(record.seq)
                data: Any = json.loads(record.data)
                if record.kind == "activity_scheduled":
                    names[data["step"]] = data["name"]
                elif record.kind == "activity_completed":
                    done[row.id, names[data["step"]]] += 1
            assert seqs == list(range(1, len(seqs) + 1)), row.id
    return done


def journaled_activities(url: str) -> set[tuple[str, str]]:
    """``(instance id, activity)`` of every activity whose completion is in the journal."""
    return set(completions(url))


def check_runs(
    effects: Path, first_pid: int, journaled: set[tuple[str, str]], ids: list[str]
) -> collections.Counter[str]:
    """The activities ran as a takeover allows; how many ran again after it, by activity."""
    runs = read_effects(effects)
    again: collections.Counter[str] = collections.Counter()
    for instance_id in ids:
        for name in ("failover_reserve", "failover_charge"):
            pids = runs.get((instance_id, name), [])
            assert 1 <= len(pids) <= 2, (instance_id, name, pids)
            if (instance_id, name) in journaled:
                # Completed and journaled before the takeover: never again.
                assert pids == [first_pid], (instance_id, name, pids)
            if len(pids) == 2:
                # In flight at the takeover: once more, by the process that took over.
                assert pids[0] == first_pid != pids[1], (instance_id, name, pids)
                again[name] += 1
    return again


def owned_by(url: str, pid: int) -> int:
    """How many unfinished instances the process `pid` owns."""
    with PostgresStore(url, read_only=True) as store:
        ids = [o.id for o in store.owners() if o.pid == pid and o.live]
        if not ids:
            return 0
        rows = store._query(
            "SELECT count(*) FROM instances WHERE owner = ANY(%s)"
            " AND status NOT IN ('completed', 'failed', 'cancelled')",
            (ids,),
        )
    return int(rows[0][0])


async def test_two_servers_both_serve_and_each_answers_queries_of_all(tmp_path: Path) -> None:
    effects = tmp_path / "effects"
    ports = free_port(), free_port()
    ids = {port: [f"p{port}-{n:02d}" for n in range(20)] for port in ports}
    with fresh_postgres_url() as url:
        async with (
            serving(url, ports[0], tmp_path / "first.log", effects) as first,
            # --standby is deprecated: accepted, and this server serves like the other.
            serving(url, ports[1], tmp_path / "second.log", effects, "--standby") as second,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30) as one,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[1]}", timeout=30) as two,
        ):
            await healthy(one, 60)
            await healthy(two, 60)
            await start_all(one, ids[ports[0]])
            await start_all(two, ids[ports[1]])
            await send_go(one, ids[ports[0]])
            await send_go(two, ids[ports[1]])
            # Each process drives what it started; each answers about every instance.
            for client in (one, two):
                await all_completed(client, [*ids[ports[0]], *ids[ports[1]]], 60)
            other = ids[ports[1]][0]
            result = await one.get(f"/instances/{other}/result", params={"wait": 5})
            assert result.json() == {"status": "completed", "output": other}
            history = (await one.get(f"/instances/{other}/history")).json()["items"]
            assert history == (await two.get(f"/instances/{other}/history")).json()["items"]
            with PostgresStore(url, read_only=True) as store:
                owners = {o.pid: o for o in store.owners()}
                for pid, port in ((first.pid, ports[0]), (second.pid, ports[1])):
                    assert owners[pid].live and owners[pid].url == f"http://127.0.0.1:{port}"
                    for instance_id in ids[port]:
                        held = store.owner_of(instance_id)
                        assert held is not None and held.pid == pid
    assert "--standby is deprecated and does nothing" in (tmp_path / "second.log").read_text()
    runs = read_effects(effects)
    for port, pid in ((ports[0], first.pid), (ports[1], second.pid)):
        for instance_id in ids[port]:
            assert runs[instance_id, "failover_charge"] == [pid]


async def test_a_killed_servers_instances_are_taken_over_long_before_its_lease_ends(
    tmp_path: Path,
) -> None:
    effects = tmp_path / "effects"
    ids = [f"order-{n:03d}" for n in range(INSTANCES)]
    first_port, second_port = free_port(), free_port()
    # A lease far longer than the test: only the end of the killed one's sessions tells.
    lease = ("--lease", "600")
    with fresh_postgres_url() as url:
        async with (
            serving(url, first_port, tmp_path / "first.log", effects, *lease) as first,
            serving(url, second_port, tmp_path / "second.log", effects, *lease) as second,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{first_port}", timeout=30) as one,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{second_port}", timeout=30) as two,
        ):
            await healthy(one, 60)
            await healthy(two, 60)
            await start_all(one, ids)
            await send_go(one, ids[: INSTANCES // 2])
            await until(lambda: len(effects.read_text().splitlines()) >= 150, 60, "work")
            # The second is held still while the journal is read, so that what it holds
            # is what the killed server left.
            second.send_signal(signal.SIGSTOP)
            first.kill()
            await first.wait()
            journaled = journaled_activities(url)
            second.send_signal(signal.SIGCONT)
            await until(
                lambda: owned_by(url, second.pid) == INSTANCES - completed_count(url),
                30,
                "every unfinished instance claimed",
            )
            await send_go(two, ids[INSTANCES // 2 :])
            await all_completed(two, ids, 120)
    assert "claimed" in (tmp_path / "second.log").read_text()
    again = check_runs(effects, first.pid, journaled, ids)
    assert sum(again.values()) <= 256  # at most the activities one process runs at once


def completed_count(url: str) -> int:
    with open_read_only(url) as store:
        return store.counts_by_status().get("completed", 0)


async def test_a_paused_server_wakes_to_find_its_instances_taken_and_writes_none(
    tmp_path: Path,
) -> None:
    effects = tmp_path / "effects"
    ids = [f"order-{n:03d}" for n in range(INSTANCES)]
    first_port, second_port = free_port(), free_port()
    # The second's lease is longer: it stays the owner while it is held still below.
    with fresh_postgres_url() as url:
        async with (
            serving(url, first_port, tmp_path / "first.log", effects, *LEASE) as first,
            serving(url, second_port, tmp_path / "second.log", effects, "--lease", "8") as second,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{first_port}", timeout=30) as one,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{second_port}", timeout=30) as two,
        ):
            await healthy(one, 60)
            await healthy(two, 60)
            await start_all(one, ids, "failover_nap")
            await until(lambda: waiting_count(url) == INSTANCES, 30, "every 5 s timer pending")
            # Paused with its timers pending: the second claims the instances and re-arms
            # them, writing nothing until they fire.
            first.send_signal(signal.SIGSTOP)
            await until(
                lambda: owned_by(url, second.pid) == INSTANCES, 30, "the second claims them all"
            )
            # The second is held still too, so that only the fence stands between the woken
            # first and the instances the second claimed (and may not have written to yet).
            second.send_signal(signal.SIGSTOP)
            before = journals(url)
            first.send_signal(signal.SIGCONT)
            log = tmp_path / "first.log"
            await until(lambda: "was taken over by" in log.read_text(), 30, "the first finds out")
            await trio.sleep(0.5)  # its other timers fire at the same moment
            assert journals(url) == before
            second.send_signal(signal.SIGCONT)
            await send_go(two, ids)
            await all_completed(two, ids, 120)
            assert (await one.get("/healthz")).status_code == 200  # it serves on
            assert first.poll() is None
            journaled = completions(url)
    # Each activity's completion is journaled once, and every journal is one unbroken run
    # of seqs (`completions` checks).
    assert set(journaled.values()) == {1} and len(journaled) == 2 * INSTANCES
    runs = read_effects(effects)
    for instance_id in ids:
        assert runs[instance_id, "failover_charge"] == [second.pid]
        assert 1 <= len(runs[instance_id, "failover_reserve"]) <= 2, instance_id


def journals(url: str) -> dict[str, int]:
    """Every instance's last seq."""
    with open_read_only(url) as store:
        return {row.id: row.last_seq for row in store.list(limit=500).items}


def waiting_count(url: str) -> int:
    with open_read_only(url) as store:
        return store.counts_by_status().get("waiting", 0)
