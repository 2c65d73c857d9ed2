"""A real ``trioflow serve`` whose database is on a small tmpfs that fills up.

While the disk is full: starts and events get 503 problems with Retry-After (never a 500),
the server stays up, and the instances whose steps finished cannot journal them and are
``blocked``. Once space is freed they carry on by themselves, every acknowledged start
completes, and each activity ran exactly once (the runs are noted in a file off the tmpfs).
Mounting needs root: elsewhere the test is skipped.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from _processes import read_effects
from test_serve import server

APP = str(Path(__file__).parent / "disk_full_app.py")
STARTS = 6


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill needs root")
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> None:
    """Write `path` until the filesystem has no byte left."""
    with path.open("wb", buffering=0) as file:
        for chunk in (b"\0" * 65536, b"\0" * 4096, b"\0"):
            while True:
                try:
                    file.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break


async def until(check: Any, timeout: float = 30) -> None:
    """Poll another process's state until ``check()`` (a coroutine function) is true."""
    with trio.fail_after(timeout):
        while not await check():  # noqa: ASYNC110
            await trio.sleep(0.05)


async def status(client: httpx.AsyncClient, instance_id: str) -> str:
    document = (await client.get(f"/instances/{instance_id}")).json()
    return str(document["status"])


CE = {"content-type": "application/cloudevents+json"}


def cloudevent(event_id: str) -> bytes:
    document = {"specversion": "1.0", "id": event_id, "source": "df", "type": "df.other"}
    return json.dumps(document).encode()


async def test_a_full_disk_blocks_instances_and_refuses_new_work_until_space_is_freed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    effects, gate = tmp_path / "effects", tmp_path / "gate"
    monkeypatch.setenv("DF_EFFECTS", str(effects))
    monkeypatch.setenv("DF_GATE", str(gate))
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        async with server(APP, str(disk / "df.db")) as (process, client):
            acknowledged = []
            for _ in range(STARTS):
                started = await client.post("/workflows/df_flow")
                assert started.status_code == 202
                acknowledged.append(started.json()["instance_id"])
            parked = (await client.post("/workflows/df_wait", json="k")).json()["instance_id"]
            await until(lambda: _ran(effects, "df_first", STARTS))

            # Starts keep coming while the disk fills and is freed: each is acknowledged
            # (and then completes) or refused with a 503, never anything else.
            answers: list[int] = []
            stop = trio.Event()

            async def keep_starting() -> None:
                while not stop.is_set():
                    started = await client.post("/workflows/df_flow")
                    answers.append(started.status_code)
                    if started.status_code == 202:
                        acknowledged.append(started.json()["instance_id"])
                    await trio.sleep(0.01)

            async with trio.open_nursery() as starters:
                for _ in range(4):
                    starters.start_soon(keep_starting)
                await trio.sleep(0.1)
                fill(disk / "filler")
                await trio.sleep(0.3)
                stop.set()
            assert set(answers) <= {202, 503} and 503 in answers
            gate.touch()  # the first steps finish now; their results cannot be journaled

            async def all_blocked() -> bool:
                return {await status(client, i) for i in acknowledged} == {"blocked"}

            await until(all_blocked)
            document = (await client.get(f"/instances/{acknowledged[0]}")).json()
            assert "database or disk is full" in document["blocked"]["reason"]
            refused = [
                await client.post("/workflows/df_flow"),
                await client.post("/workflows/df_wait", json="k2"),
                await client.post("/events", content=cloudevent("e1"), headers=CE),
                await client.post("/", content=cloudevent("e2"), headers=CE),
                await client.post(f"/instances/{parked}/events", json={"type": "df.go"}),
            ]
            for response in refused:
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/problem+json"
                assert int(response.headers["Retry-After"]) >= 1
                assert "database or disk is full" in response.json()["detail"]
            listed = (await client.get("/instances?status=blocked")).json()["items"]
            assert sorted(i["id"] for i in listed) == sorted(acknowledged)
            assert (await client.get("/healthz")).status_code == 200
            assert process.poll() is None

            (disk / "filler").unlink()

            async def all_completed() -> bool:
                return {await status(client, i) for i in acknowledged} == {"completed"}

            await until(all_completed)
            delivered = await client.post(
                f"/instances/{parked}/events", json={"type": "df.go", "data": 7}
            )
            assert delivered.status_code == 202
            done = (await client.get(f"/instances/{parked}/result?wait=10")).json()
            assert done == {"status": "completed", "output": 7}
            for instance_id in acknowledged:
                result = (await client.get(f"/instances/{instance_id}/result")).json()
                assert result == {"status": "completed", "output": ["df_first", "df_second"]}
            assert process.poll() is None

    runs = read_effects(effects)
    assert {key: len(pids) for key, pids in runs.items()} == {
        (i, name): 1 for i in acknowledged for name in ("df_first", "df_second")
    }


async def _ran(effects: Path, name: str, count: int) -> bool:
    await trio.lowlevel.checkpoint()
    return sum(1 for (_, n) in read_effects(effects) if n == name) >= count


if sys.platform != "linux":  # tmpfs is Linux's
    pytestmark = pytest.mark.skip(reason="needs Linux's tmpfs")
