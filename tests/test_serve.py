"""End to end: a real ``trioflow serve`` process on 127.0.0.1 and a real HTTP client."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
import trio
from _damage import damage_a_journal_page

from api._serve import serving_token
from runtime.store import SqliteStore
from runtime.store._sqlite import MIGRATIONS

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def server(
    app: str, db: str, *options: str, token: str | None = None
) -> AsyncIterator[tuple[trio.Process, httpx.AsyncClient]]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TRIOFLOW_TOKEN", None)
    if token is not None:
        env["TRIOFLOW_TOKEN"] = token
    command = [sys.executable, "-m", "api", "serve", app, "--db", db, "--port", str(port)]
    command += options
    proc = await trio.lowlevel.open_process(
        command, env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            with trio.fail_after(30):
                while True:  # waiting on another process: poll its health route
                    try:
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if proc.poll() is not None:
                        raise RuntimeError(f"server exited with {proc.returncode}")
                    await trio.sleep(0.05)
            yield proc, client
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with trio.move_on_after(15):
                await proc.wait()
            if proc.poll() is None:
                proc.kill()
                await proc.wait()


def cloudevent(order_id: str, event_id: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "bank",
        "type": "payment.completed",
        "subject": order_id,
        "data": {"amount": 12.5},
    }


@pytest.mark.usefixtures("http_path")
async def test_orders_complete_on_structured_and_binary_cloudevents(tmp_path: Path) -> None:
    async with server("examples/orders.py", str(tmp_path / "orders.db")) as (_, client):
        for order_id in ("A1", "A2"):
            r = await client.post("/orders", json={"order_id": order_id, "amount": 12.5})
            assert r.status_code == 202, r.text
            assert r.json()["instance_id"] == f"order-{order_id}"
        r = await client.post(
            "/",
            json=cloudevent("A1", "pay-1"),
            headers={"content-type": "application/cloudevents+json"},
        )
        assert r.status_code == 202, r.text
        assert r.json()["delivered"] == ["order-A1"]
        r = await client.post(
            "/",
            content=b'{"amount": 12.5}',
            headers={
                "content-type": "application/json",
                "ce-specversion": "1.0",
                "ce-id": "pay-2",
                "ce-source": "bank",
                "ce-type": "payment.completed",
                "ce-subject": "A2",
            },
        )
        assert r.status_code == 202, r.text
        assert r.json()["delivered"] == ["order-A2"]
        again = await client.post(
            "/",
            json=cloudevent("A1", "pay-1"),
            headers={"content-type": "application/cloudevents+json"},
        )
        assert again.json()["duplicate"] is True
        for order_id in ("A1", "A2"):
            r = await client.get(f"/instances/order-{order_id}/result", params={"wait": 30})
            assert r.status_code == 200, r.text
            assert r.json()["output"]["status"] == "shipped"
            r = await client.get(f"/orders/{order_id}")
            assert r.json()["status"] == "completed"


@pytest.mark.usefixtures("http_path")
async def test_bad_requests_get_problems_and_the_server_keeps_serving(tmp_path: Path) -> None:
    async with server("examples/orders.py", str(tmp_path / "o.db"), token="s3cret") as (
        _,
        client,
    ):
        auth = {"Authorization": "Bearer s3cret"}
        cases = [
            client.post("/orders", json={"order_id": "A1"}),  # no token
            client.post("/orders", json={"order_id": "A1"}, headers={"Authorization": "Bearer x"}),
            client.post(
                "/orders", content=b"{nope", headers={**auth, "content-type": "application/json"}
            ),
            client.post("/orders", json={"order_id": "A1", "amount": -3}, headers=auth),
            client.post(
                "/",
                json={"specversion": "1.0", "source": "s", "type": "t"},
                headers={**auth, "content-type": "application/cloudevents+json"},
            ),
            client.post("/", content=b"x", headers={**auth, "content-type": "text/plain"}),
            client.post(
                "/orders",
                content=b"x" * 2_000_000,
                headers={**auth, "content-type": "application/json"},
            ),
        ]
        statuses = []
        for request in cases:
            r = await request
            statuses.append(r.status_code)
            assert r.headers["content-type"].startswith("application/problem+json")
        assert statuses[:4] == [401, 401, 400, 400]
        assert statuses[4] == 400 and statuses[5] in (400, 415) and statuses[6] == 413
        slashed = await client.post("/orders", json={"order_id": "A/9", "amount": 1}, headers=auth)
        assert slashed.status_code == 400 and "none of them '/'" in slashed.json()["detail"]
        assert (await client.get("/healthz")).status_code == 200
        r = await client.post("/orders", json={"order_id": "A9", "amount": 1}, headers=auth)
        assert r.status_code == 202


# The server closes keep-alive connections on SIGTERM; a request httpx writes on one as it
# closes fails (counted below as the end of that stream), and httpcore leaves that request's
# body stream, an async generator, unfinished: Trio warns when it is collected.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <async_generator object ByteStream.__aiter__"
    ":pytest.PytestUnraisableExceptionWarning"
)
@pytest.mark.usefixtures("http_path")
async def test_sigterm_during_a_stream_of_starts_loses_no_accepted_start(tmp_path: Path) -> None:
    db = str(tmp_path / "stream.db")
    accepted: list[str] = []
    enough = trio.Event()
    async with server("tests/serve_app.py", db) as (proc, client):

        async def stream(worker: int) -> None:
            for i in range(10_000):
                try:
                    r = await client.post(
                        "/workflows/quick", json=i, headers={"Idempotency-Key": f"w{worker}-{i}"}
                    )
                except httpx.TransportError:
                    return
                if r.status_code == 202:
                    accepted.append(r.json()["instance_id"])
                    if len(accepted) >= 100:
                        enough.set()
                elif r.status_code >= 500:
                    return

        async with trio.open_nursery() as nursery:
            for worker in range(8):
                nursery.start_soon(stream, worker)
            with trio.fail_after(30):
                await enough.wait()
            proc.send_signal(signal.SIGTERM)
        with trio.fail_after(20):
            assert await proc.wait() == 0
    assert len(accepted) >= 100
    async with server("tests/serve_app.py", db) as (_, client):
        for iid in accepted:
            r = await client.get(f"/instances/{iid}/result", params={"wait": 30})
            assert r.status_code == 200, (iid, r.text)
            assert r.json()["status"] == "completed"


async def answered(
    stream: trio.SocketStream,
    method: str,
    target: str,
    body: bytes,
    *,
    key: str | None = None,
    authorization: bytes | None = None,
) -> int:
    """Send one request on ``stream`` (kept open) and read its whole answer: its status."""
    http = h11.Connection(h11.CLIENT)
    headers: list[tuple[str, str | bytes]] = [
        ("Host", "test"),
        ("Content-Type", "application/json"),
    ]
    headers.append(("Content-Length", str(len(body))))
    if key is not None:
        headers.append(("Idempotency-Key", key))
    if authorization is not None:
        headers.append(("Authorization", authorization))
    request = h11.Request(method=method, target=target, headers=headers)
    data = http.send(request) + http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage())
    await stream.send_all(data)
    status = 0
    while True:
        event = http.next_event()
        if event is h11.NEED_DATA:
            http.receive_data(await stream.receive_some())
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.EndOfMessage):
            return status


@pytest.mark.usefixtures("http_path")
async def test_sigterm_closes_idle_keep_alive_connections_at_once(tmp_path: Path) -> None:
    """A connection kept open after its answer (from a Quart route, or from the start route
    answered in front of Quart) is closed on SIGTERM, not held for the grace period (10 s)."""
    async with server("tests/serve_app.py", str(tmp_path / "idle.db")) as (proc, client):
        port = client.base_url.port
        assert port is not None
        async with (
            await trio.open_tcp_stream("127.0.0.1", port) as quart_route,
            await trio.open_tcp_stream("127.0.0.1", port) as start_route,
        ):
            assert await answered(quart_route, "GET", "/workflows", b"") == 200
            assert await answered(start_route, "POST", "/workflows/quick", b"1") == 202
            proc.send_signal(signal.SIGTERM)
            with trio.fail_after(5):
                assert await proc.wait() == 0
                for stream in (quart_route, start_route):
                    assert await stream.receive_some() == b""  # the server closed it


async def trioflow(*args: str, token: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the ``trioflow`` command to its end (at most 30 s): exit code, stdout, stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TRIOFLOW_TOKEN", None)
    if token is not None:
        env["TRIOFLOW_TOKEN"] = token
    with trio.fail_after(30):
        return await trio.run_process(
            [sys.executable, "-m", "api", *args],
            cwd=str(ROOT),
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def test_a_second_server_on_one_database_is_refused_and_readers_work_beside(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "one.db")
    async with server("tests/serve_app.py", db) as (proc, client):
        r = await client.post("/workflows/quick", json=1, headers={"Idempotency-Key": "q1"})
        assert r.status_code == 202
        second = await trioflow("serve", "tests/serve_app.py", "--db", db, "--port", "0")
        assert second.returncode == 1
        message = second.stderr.decode()
        assert f"database {db!r} is in use by process {proc.pid}" in message, message
        assert len(message.strip().splitlines()) == 1, message
        listed = await trioflow("instances", "--db", db)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.decode().startswith("q1\tquick\t")
        shown = await trioflow("show", "q1", "--db", db)
        assert shown.returncode == 0, shown.stderr
        assert (await client.get("/instances/q1")).status_code == 200  # the first goes on


@pytest.fixture
def many_files() -> Iterator[None]:
    """Room for a thousand connections in this process (the server raises its own limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if wanted < 2100:
        pytest.skip(f"the open-file limit ({hard}) is too low for a thousand connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.usefixtures("http_path")
async def test_sigterm_with_a_thousand_requests_queued_answers_every_one(
    tmp_path: Path, many_files: None
) -> None:
    """Every client that connected gets an answer (202 or 503 with Retry-After), never a
    closed connection; and every 202 is in the database after the process exits."""
    db = str(tmp_path / "term.db")
    clients = 1000
    statuses: dict[str, int] = {}
    connected = trio.Semaphore(0)
    some_answered = trio.Event()
    async with server("tests/serve_app.py", db, "--max-connections", "2000") as (proc, client):
        port = client.base_url.port
        assert port is not None

        async def one(n: int) -> None:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            connected.release()
            async with stream:
                status = await answered(stream, "POST", "/workflows/quick", b"%d" % n, key=f"c{n}")
            statuses[f"c{n}"] = status
            if len(statuses) >= 50:
                some_answered.set()

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                for n in range(clients):
                    nursery.start_soon(one, n)
                for _ in range(clients):
                    await connected.acquire()
                await some_answered.wait()
                proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == 0
    assert len(statuses) == clients  # an exchange cut short raised instead
    assert set(statuses.values()) <= {202, 503}, statuses
    accepted = sorted(key for key, status in statuses.items() if status == 202)
    assert len(accepted) >= 50
    with SqliteStore(db, read_only=True) as store:
        missing = [key for key in accepted if store.get(key) is None]
    assert missing == []


async def test_an_empty_token_is_refused_at_startup(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    for done in (
        await trioflow("serve", "tests/serve_app.py", "--db", db, "--token", ""),
        await trioflow("serve", "tests/serve_app.py", "--db", db, "--port", "0", token=""),
        await trioflow("serve", "tests/serve_app.py", "--db", db, "--port", "0", token="  "),
    ):
        assert done.returncode == 1
        assert done.stderr.decode() == (
            "trioflow: the bearer token is empty (--token, --token-file or TRIOFLOW_TOKEN):"
            " give a token, or none at all to serve every route open\n"
        )
    (tmp_path / "empty").write_text("\n")
    done = await trioflow(
        "serve", "tests/serve_app.py", "--db", db, "--token-file", str(tmp_path / "empty")
    )
    assert done.returncode == 1
    assert "the token file" in done.stderr.decode() and "is empty" in done.stderr.decode()


async def test_the_token_may_come_from_a_file_and_must_match_byte_for_byte(tmp_path: Path) -> None:
    token = "sésame-ключ"
    (tmp_path / "token").write_text(token + "\n", encoding="utf-8")
    db = str(tmp_path / "t.db")
    async with server("tests/serve_app.py", db, "--token-file", str(tmp_path / "token")) as (
        _,
        client,
    ):
        port = client.base_url.port
        assert port is not None

        async def status_with(authorization: bytes) -> int:
            async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
                return await answered(stream, "GET", "/workflows", b"", authorization=authorization)

        assert await status_with(b"Bearer " + token.encode("utf-8")) == 200
        assert await status_with(b"Bearer " + token.encode("latin-1", "replace")) == 401
        assert await status_with(b"Bearer " + token.encode("utf-8")[:-1]) == 401
        assert await status_with(b"Bearer s\xc3\xa9same") == 401
        assert (await client.get("/workflows")).status_code == 401


async def test_a_damaged_database_is_refused_and_check_reports_it(tmp_path: Path) -> None:
    db = str(tmp_path / "damaged.db")
    async with server("tests/serve_app.py", db) as (_, client):
        for n in range(300):
            r = await client.post("/workflows/quick", json=n, headers={"Idempotency-Key": f"k{n}"})
            assert r.status_code == 202
    healthy = await trioflow("check", "--db", db)
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stdout.decode().splitlines() == [
        f"database: {db}",
        f"schema version: {len(MIGRATIONS)} (this trioflow knows {len(MIGRATIONS)})",
        "integrity: ok",
    ]
    damage_a_journal_page(db)
    done = await trioflow("serve", "tests/serve_app.py", "--db", db, "--port", "0")
    assert done.returncode == 1
    message = done.stderr.decode()
    assert message.startswith(f"trioflow: database {db!r} is damaged"), message
    assert f"'trioflow check --db {db}'" in message and len(message.splitlines()) == 1
    report = await trioflow("check", "--db", db)
    assert report.returncode == 1
    assert "integrity: DAMAGED" in report.stdout.decode()
    debug = await trioflow("serve", "tests/serve_app.py", "--db", db, "--port", "0", "--debug")
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr.decode()
    # Served anyway: the reads that touch the damaged page are 503s naming the fault.
    async with server("tests/serve_app.py", db, "--skip-check") as (_, client):
        statuses = set()
        for n in range(300):
            r = await client.get(f"/instances/k{n}/history")
            statuses.add(r.status_code)
            if r.status_code == 503:
                assert r.json()["type"] == "urn:trioflow:problem:database-fault"
                assert r.headers["Retry-After"]
        assert statuses == {200, 503}


@pytest.mark.parametrize(
    ("host", "warned"),
    [
        ("127.0.0.1", False),
        ("::1", False),
        ("localhost", False),
        ("0.0.0.0", True),
        ("192.0.2.7", True),
        ("example.org", True),
    ],
)
def test_serving_beyond_loopback_without_a_token_is_logged(
    host: str, warned: bool, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRIOFLOW_TOKEN", raising=False)
    assert serving_token(None, host) is None
    lines = [r.getMessage() for r in caplog.records if r.name == "trioflow"]
    assert lines == (
        [
            f"serving {host} without a token: anyone who can reach it may start,"
            " cancel and read instances (--token-file or TRIOFLOW_TOKEN sets one)"
        ]
        if warned
        else []
    )
    caplog.clear()
    monkeypatch.setenv("TRIOFLOW_TOKEN", "from-env")
    assert serving_token(None, host) == "from-env"
    assert serving_token("given", host) == "given"
    assert caplog.records == []


def readme_order_calls() -> list[str]:
    """The curl calls the README's opening shows after its two commands, one a string."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("take an order through it", 1)[1].split("```sh\n", 1)[1]
    block = block.split("```", 1)[0]
    return ["curl" + call for call in block.split("curl")[1:]]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
async def test_the_readme_s_curl_calls_take_an_order_through(tmp_path: Path) -> None:
    calls = readme_order_calls()
    assert len(calls) == 3
    async with server("examples/orders.py", str(tmp_path / "orders.db")) as (_, client):
        port = str(client.base_url.port)

        async def run(call: str) -> Any:
            done = await trio.run_process(
                ["bash", "-c", call.replace("localhost:8001", f"127.0.0.1:{port}")],
                capture_stdout=True,
                check=True,
            )
            return json.loads(done.stdout)

        assert await run(calls[0]) == {"instance_id": "order-A1", "order_id": "A1"}
        assert (await run(calls[1]))["delivered"] == ["order-A1"]
        outcome = await client.get("/instances/order-A1/result", params={"wait": 10})
        assert outcome.status_code == 200, outcome.text
        order = await run(calls[2])
        assert order["status"] == "completed"
        assert order["result"]["status"] == "shipped"


@pytest.mark.parametrize("option", [[], ["--no-fast-path"]], ids=["default", "no-fast-path"])
async def test_serve_no_fast_path_serves_the_stock_way_and_says_so(
    tmp_path: Path, option: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRIOFLOW_FAST_PATH", raising=False)
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "api", "serve", "tests/serve_app.py", "--port", "0"]
    command += ["--db", str(tmp_path / "t.db"), *option]
    with log.open("wb") as stderr:
        proc = await trio.lowlevel.open_process(
            command,
            cwd=str(ROOT),
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stderr=stderr,
        )
        try:
            with trio.fail_after(30):
                while b"listening on" not in log.read_bytes():
                    assert proc.poll() is None, log.read_text()
                    await trio.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            with trio.fail_after(15):
                await proc.wait()
    said = "HTTP fast path off: Hypercorn's own connection class serves" in log.read_text()
    assert said == bool(option)
