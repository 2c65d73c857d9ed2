"""Two ``trioflow serve`` processes on one PostgreSQL database: one serves, the other stands
by and takes over when the first is killed (SIGKILL) or paused past its lease (SIGSTOP).

Every acknowledged instance completes; an activity whose completion was journaled before the
takeover does not run again; one in flight then runs again at most once; a paused server that
wakes finds it was taken over and stops, having written nothing more.
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
import psycopg
import pytest
import trio
from _processes import read_effects
from _stores import fresh_postgres_url
from test_serve import free_port

from runtime.store import PostgresStore, open_read_only

ROOT = Path(__file__).resolve().parent.parent
APP = "tests/standby_app.py"
INSTANCES = 300


@asynccontextmanager
async def serving(
    url: str, port: int, log: Path, effects: Path, *options: str
) -> AsyncIterator[trio.Process]:
    """A ``trioflow serve --standby`` process; killed on exit if it still runs."""
    paths = [str(ROOT), str(ROOT / "tests")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    env["TRIOFLOW_TEST_EFFECTS"] = str(effects)
    env.pop("TRIOFLOW_TOKEN", None)
    command = [sys.executable, "-m", "api", "serve", APP, "--db", url, "--port", str(port)]
    with log.open("wb") as stderr:
        proc = await trio.lowlevel.open_process(
            [*command, "--standby", *options],
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


async def start_all(client: httpx.AsyncClient, ids: list[str]) -> None:
    """Start one instance per id (its id, its input), 20 at a time; each acknowledged."""
    limiter = trio.CapacityLimiter(20)

    async def start(instance_id: str) -> None:
        async with limiter:
            answer = await client.post(
                "/workflows/failover_order",
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


async def test_a_standby_takes_over_a_killed_server(tmp_path: Path) -> None:
    effects = tmp_path / "effects"
    ids = [f"order-{n:03d}" for n in range(INSTANCES)]
    first_port, second_port = free_port(), free_port()
    with fresh_postgres_url() as url:
        async with (
            serving(url, first_port, tmp_path / "first.log", effects) as first,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{first_port}", timeout=30) as one,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{second_port}", timeout=30) as two,
        ):
            await healthy(one, 60)
            async with serving(url, second_port, tmp_path / "second.log", effects) as second:
                await until(
                    lambda: "standing by" in (tmp_path / "second.log").read_text(),
                    60,
                    "the second server stands by",
                )
                await start_all(one, ids)
                await send_go(one, ids[: INSTANCES // 2])
                await until(lambda: len(effects.read_text().splitlines()) >= 200, 60, "work")
                # The standby is held still while the journal is read, so that what it holds
                # is what the killed server left.
                second.send_signal(signal.SIGSTOP)
                first.kill()
                await first.wait()
                journaled = journaled_activities(url)
                second.send_signal(signal.SIGCONT)
                await healthy(two, 60)
                await send_go(two, ids[INSTANCES // 2 :])
                await all_completed(two, ids, 120)
    assert "taking over" in (tmp_path / "second.log").read_text()
    again = check_runs(effects, first.pid, journaled, ids)
    assert sum(again.values()) <= 256  # at most the activities one process runs at once


async def test_a_paused_server_is_taken_over_and_stops_when_it_wakes(tmp_path: Path) -> None:
    effects = tmp_path / "effects"
    ids = [f"order-{n:03d}" for n in range(INSTANCES)]
    first_port, second_port = free_port(), free_port()
    lease = ("--lease", "1")
    with fresh_postgres_url() as url:
        async with (
            serving(url, first_port, tmp_path / "first.log", effects, *lease) as first,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{first_port}", timeout=30) as one,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{second_port}", timeout=30) as two,
        ):
            await healthy(one, 60)
            async with serving(url, second_port, tmp_path / "second.log", effects, *lease):
                await until(
                    lambda: "standing by" in (tmp_path / "second.log").read_text(),
                    60,
                    "the second server stands by",
                )
                await start_all(one, ids)
                await send_go(one, ids)
                await until(lambda: len(effects.read_text().splitlines()) >= 200, 60, "work")
                first.send_signal(signal.SIGSTOP)
                await healthy(two, 60)  # the lease ran out: the standby took over
                first.send_signal(signal.SIGCONT)
                with trio.fail_after(60):
                    await first.wait()
                await all_completed(two, ids, 120)
                journaled = completions(url)
    assert set(journaled.values()) == {1} and len(journaled) == 2 * INSTANCES
    first_log = (tmp_path / "first.log").read_text()
    assert first.returncode == 1, first_log
    assert "another process took over" in first_log
    assert "another server took over" in first_log
    runs = read_effects(effects)
    for instance_id in ids:
        for name in ("failover_reserve", "failover_charge"):
            assert 1 <= len(runs[instance_id, name]) <= 2, (instance_id, name)


async def answers(client: httpx.AsyncClient, path: str, timeout: float) -> httpx.Response:
    """The first answer to ``GET path`` once the server's port is open."""
    with trio.fail_after(timeout):
        while True:
            try:
                return await client.get(path)
            except httpx.TransportError:
                await trio.sleep(0.05)


async def test_a_standby_serves_reads_refuses_commands_and_takes_over_on_its_port(
    tmp_path: Path,
) -> None:
    effects = tmp_path / "effects"
    first_port, second_port = free_port(), free_port()
    with fresh_postgres_url() as url:
        async with (
            serving(url, first_port, tmp_path / "first.log", effects) as first,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{first_port}", timeout=30) as one,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{second_port}", timeout=30) as two,
        ):
            await healthy(one, 60)
            async with serving(url, second_port, tmp_path / "second.log", effects) as second:
                health = await answers(two, "/healthz", 60)
                assert health.status_code == 503, health.text
                assert health.headers["Retry-After"].isdigit()
                assert health.headers["Content-Type"] == "application/problem+json"
                assert f"stands by for trioflow pid {first.pid} on" in health.json()["detail"]

                started = await one.post("/workflows/failover_order", json="order-1",
                                         headers={"Idempotency-Key": "order-1"})  # fmt: skip
                assert started.status_code == 202, started.text
                # The writer's progress, read on the standby: it reaches the wait for "go".
                with trio.fail_after(60):
                    while True:
                        instance = (await two.get("/instances/order-1")).json()
                        if instance["status"] == "waiting":
                            break
                        await trio.sleep(0.05)
                assert instance["workflow"] == "failover_order"
                assert instance["input"] == "order-1" and instance["blocked"] is None
                assert instance == (await one.get("/instances/order-1")).json()
                listed = (await two.get("/instances")).json()["items"]
                assert [item["id"] for item in listed] == ["order-1"]
                history = (await two.get("/instances/order-1/history")).json()["items"]
                assert history == (await one.get("/instances/order-1/history")).json()["items"]
                result = await two.get("/instances/order-1/result")
                assert (result.status_code, result.json()) == (202, {"status": "waiting"})
                viewer = await two.get("/ui/")
                assert viewer.status_code == 200 and "order-1" in viewer.text
                assert 'status="waiting"' in (await two.get("/metrics")).text
                assert (await two.get("/openapi.json")).status_code == 200

                commands = [
                    ("/workflows/failover_order", {"json": "order-2"}),
                    ("/instances/order-1/events", {"json": {"type": "go"}}),
                    ("/instances/order-1/cancel", {"json": {}}),
                    ("/instances/order-1/resume", {}),
                    ("/signals/go", {"json": {}}),
                    ("/prune?older_than=0s", {}),
                    ("/events", {"json": {"specversion": "1.0", "id": "e1", "source": "/t",
                                          "type": "go", "instanceid": "order-1"}}),
                ]  # fmt: skip
                for path, body in commands:
                    refused = await two.post(path, **body)
                    assert refused.status_code == 503, (path, refused.text)
                    assert refused.headers["Retry-After"].isdigit(), path
                    assert f"trioflow pid {first.pid}" in refused.json()["detail"], path
                assert (await one.get("/instances/order-1")).json()["status"] == "waiting"
                assert [i["id"] for i in (await one.get("/instances")).json()["items"]] == [
                    "order-1"
                ]

                first.kill()
                await first.wait()
                # The standby's port stays open: every poll is answered, 503 then 200.
                with trio.fail_after(60):
                    while (await two.get("/healthz")).status_code != 200:  # noqa: ASYNC110
                        await trio.sleep(0.05)
                assert second.poll() is None
                sent = await two.post("/instances/order-1/events", json={"type": "go"})
                assert sent.status_code == 202, sent.text
                done = await two.get("/instances/order-1/result", params={"wait": 30})
                assert done.json() == {"status": "completed", "output": "order-1"}
    assert "taking over" in (tmp_path / "second.log").read_text()


async def test_a_standby_ends_the_session_of_a_writer_paused_in_the_middle_of_a_copy() -> None:
    # A writer paused between starting a COPY and sending its rows: its session is active,
    # reading from the client, which no idle timeout of PostgreSQL ends.
    with fresh_postgres_url() as url, PostgresStore(url, lease=0.5) as first:
        writer = first._writer
        assert writer is not None
        with first._writer_lock, writer.cursor() as cursor:
            # Its session is ended meanwhile: the COPY cannot finish.
            with (
                pytest.raises(psycopg.OperationalError),
                cursor.copy("COPY journal (instance_id) FROM STDIN"),
                trio.fail_after(30),
            ):
                second = await trio.to_thread.run_sync(
                    lambda: PostgresStore(url, standby=True, lease=0.5), abandon_on_cancel=True
                )
            with second:
                assert not second.list().items
