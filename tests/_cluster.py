"""What the cluster tests share: three ``trioflow serve`` processes on one PostgreSQL schema, a
client that spreads its requests over them as a client of a serious engine does, and the
records the tests compare (each activity's runs, each instance's journal).

The client sends each request to the server it is given and, when that one refuses (503) or
cannot be reached (refused, reset, no answer in time), to the next; a server it could not reach
is tried after the others until it answers again. When every server has refused, it waits
what the largest ``Retry-After`` asked and goes round again. A start carries
its instance id as ``Idempotency-Key`` and an event its own ``(source, id)``, so a request
sent again after a lost answer does nothing twice.

Each server's activities append their runs, one line ``<instance id> <activity> <pid>``, to a
file of its own (``cluster_app``); a test that holds every server still (SIGSTOP, SIGKILL)
reads how many lines each file has, which tells the runs before that moment from those after.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
from _stores import POSTGRES_URL
from test_serve import free_port

from runtime.store import open_read_only

ROOT = Path(__file__).resolve().parent.parent
APP = "tests/cluster_app.py"
ACTIVITIES = ("cluster_reserve", "cluster_charge")
Key = tuple[str, str]  # (instance id, activity)


@attrs.define(eq=False, kw_only=True)
class Server:
    """One ``trioflow serve`` process of the cluster."""

    name: str
    process: trio.Process
    client: httpx.AsyncClient
    effects: Path
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def runs(self) -> list[Key]:
        """The activity runs of this server so far, in the order they began."""
        if not self.effects.exists():
            return []
        lines = self.effects.read_text().splitlines()
        return [(line.split()[0], line.split()[1]) for line in lines]


@asynccontextmanager
async def cluster(url: str, where: Path, lease: float) -> AsyncIterator[list[Server]]:
    """Three servers on the database at `url` with a lease of `lease` seconds, once each
    answers; the first answers ``/healthz`` with 200 before the others start. Each one still
    running is killed on exit."""
    options = ["--lease", str(lease)]
    paths = [str(ROOT), str(ROOT / "tests")]
    async with AsyncExitStack() as stack:
        servers: list[Server] = []
        for name in ("first", "second", "third"):
            port = free_port()
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
            env["TRIOFLOW_TEST_EFFECTS"] = str(where / f"{name}.effects")
            env.pop("TRIOFLOW_TOKEN", None)
            command = [sys.executable, "-m", "api", "serve", APP, "--db", url]
            log = where / f"{name}.log"
            with log.open("wb") as stderr:
                process = await trio.lowlevel.open_process(
                    [*command, "--port", str(port), *options],
                    env=env,
                    cwd=str(ROOT),
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
            stack.push_async_callback(_stopped, process)
            client = await stack.enter_async_context(
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5)
            )
            effects = where / f"{name}.effects"
            server = Server(name=name, process=process, client=client, effects=effects, log=log)
            await _answers(server, 60, first=not servers)
            servers.append(server)
        yield servers


async def _stopped(process: trio.Process) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.kill()
        await process.wait()


async def _answers(server: Server, timeout: float, *, first: bool) -> None:
    """Return once `server` answers ``/healthz`` (with 200 if it is the `first`)."""
    with trio.fail_after(timeout):
        while True:  # another process: poll its health route
            assert server.process.poll() is None, server.log.read_text()
            try:
                status = (await server.client.get("/healthz")).status_code
                if status == 200 or (not first and status == 503):
                    return
            except httpx.TransportError:
                pass
            await trio.sleep(0.05)


@attrs.define(eq=False)
class Client:
    """Requests spread over `servers`, each sent on to the next server when one refuses."""

    servers: Sequence[Server]
    answered_by: dict[str, Server] = attrs.field(factory=dict)
    """Which server acknowledged each start."""
    _unreachable: set[str] = attrs.field(factory=set)
    """Servers that a request could not reach (refused, reset, no answer in time) since they
    last answered: tried after the others."""

    async def send(self, first: int, method: str, path: str, **options: Any) -> Server:
        """Send the request to server `first`, else the next ones (those that could not be
        reached last), until one answers it with 2xx (returned); any answer but 2xx and 503
        fails the test."""
        while True:
            retry_after = 0.0
            turn = [self.servers[(first + n) % len(self.servers)] for n in range(len(self.servers))]
            for server in sorted(turn, key=lambda server: server.name in self._unreachable):
                try:
                    answer = await server.client.request(method, path, **options)
                except httpx.TransportError:
                    self._unreachable.add(server.name)
                    continue
                self._unreachable.discard(server.name)
                if answer.status_code == 503:
                    retry_after = max(retry_after, float(answer.headers["Retry-After"]))
                    continue
                assert answer.is_success, (server.name, method, path, answer.text)
                return server
            await trio.sleep(retry_after)  # every server refused: as they asked

    async def start(self, first: int, instance_id: str) -> None:
        headers = {"Idempotency-Key": instance_id}
        path = "/workflows/cluster_order"
        self.answered_by[instance_id] = await self.send(
            first, "POST", path, json=instance_id, headers=headers
        )

    async def pay(self, first: int, instance_id: str) -> None:
        """Publish the CloudEvent that instance `instance_id` waits for."""
        event = {
            "specversion": "1.0",
            "source": "/cluster-test",
            "id": f"paid-{instance_id}",
            "type": "cluster.paid",
            "subject": instance_id,
        }
        headers = {"Content-Type": "application/cloudevents+json"}
        await self.send(first, "POST", "/events", content=json.dumps(event), headers=headers)

    async def run(self, starts: Sequence[str], payments: Sequence[str], seed: int) -> None:
        """Start `starts` (the i-th sent first to server i mod 3), then pay `payments` (each
        sent first to a server drawn at random from `seed`), 20 requests at a time; an instance
        in both is paid as soon as it has started."""
        import random

        draw = random.Random(seed)
        limiter = trio.CapacityLimiter(20)
        unpaid = [i for i in payments if i not in set(starts)]

        async def start(n: int, instance_id: str) -> None:
            async with limiter:
                await self.start(n, instance_id)
            if instance_id in payments:
                await pay(instance_id)

        async def pay(instance_id: str) -> None:
            async with limiter:
                await self.pay(draw.randrange(len(self.servers)), instance_id)

        async with trio.open_nursery() as nursery:
            for n, instance_id in enumerate(starts):
                nursery.start_soon(start, n, instance_id)
            for instance_id in unpaid:
                nursery.start_soon(pay, instance_id)


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` (other processes' progress: no event of ours tells) until it holds."""
    with trio.move_on_after(timeout):
        while not condition():  # noqa: ASYNC110
            await trio.sleep(0.02)
        return
    raise AssertionError(f"not within {timeout} s: {what}")


async def all_completed(servers: Sequence[Server], ids: Sequence[str], timeout: float) -> None:
    """Return once every instance of `ids` has completed with its id as output, as `servers`
    answer (each asked in turn)."""

    async def completed(server: Server) -> int:
        try:
            answer = await server.client.get(
                "/instances", params={"status": "completed", "limit": 500}
            )
        except httpx.TransportError:
            return 0
        return len(answer.json()["items"]) if answer.status_code == 200 else 0

    with trio.fail_after(timeout):
        turn = 0
        while await completed(servers[turn % len(servers)]) < len(ids):
            turn += 1
            await trio.sleep(0.1)
    for n, instance_id in enumerate(ids):
        answer = await servers[n % len(servers)].client.get(f"/instances/{instance_id}")
        body = answer.json()
        assert (body["status"], body["output"]) == ("completed", instance_id), body


def sessions_of(pid: int) -> list[tuple[Any, ...]]:
    """The PostgreSQL sessions of the trioflow process `pid`: state, wait event, seconds in
    that state and the statement's start, for the message of a test that waited in vain."""
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT state, wait_event, extract(epoch FROM now() - state_change)::int,"
            " left(query, 60) FROM pg_stat_activity WHERE application_name LIKE %s",
            (f"trioflow pid {pid} on %",),
        ).fetchall()
    return [tuple(row) for row in rows]


def journaled(url: str, ids: Sequence[str] | None = None) -> collections.Counter[Key]:
    """How many completions of each ``(instance id, activity)`` the journals of `ids` (of every
    instance: None) hold now; each journal's seqs run 1, 2, 3, ... without a gap."""
    done: collections.Counter[Key] = collections.Counter()
    with open_read_only(url) as store:
        if ids is None:
            ids = [row.id for row in store.list(limit=500).items]
        for instance_id in ids:
            names: dict[int, str] = {}
            seqs = []
            for record in store.read(instance_id):
                seqs.append(record.seq)
                data: Any = json.loads(record.data)
                if record.kind == "activity_scheduled":
                    names[data["step"]] = data["name"]
                elif record.kind == "activity_completed":
                    done[instance_id, names[data["step"]]] += 1
            assert seqs == list(range(1, len(seqs) + 1)), (instance_id, seqs)
    return done
