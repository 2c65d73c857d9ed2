"""Hypercorn's connection with one keep-alive watcher and direct writes (api/_connection.py),
served by ``api.serve`` on 127.0.0.1 to a real client, with Trio's mock clock."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import h2.connection
import h2.events
import h11
import hypercorn.trio.run
import pytest
import trio
import trio.testing
from hypercorn.trio.tcp_server import TCPServer

from api import _fast_path, serve

KEEP_ALIVE = 5.0  # Hypercorn's default keep_alive_timeout, which serve() keeps
WAIT_LIMIT = 60.0  # longer than any wait here should take (virtual seconds on the mock clock)
Handler = Callable[[bytes], Awaitable[bytes]]  # request body -> answer body


def asgi(handler: Handler, *, cancel_sending: bool = False) -> Any:
    """An ASGI app answering every request with 200 and ``handler(body)``;
    ``cancel_sending``: the answer's body is sent from a cancelled scope."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer = await handler(body)
        headers = [(b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with trio.CancelScope() as sending:
            if cancel_sending:
                sending.cancel()
            await send({"type": "http.response.body", "body": answer})

    return app


async def echo(body: bytes) -> bytes:
    return body


def held_until(release: trio.Event) -> Handler:
    """An echo that answers the body ``b"held"`` only once ``release`` is set."""

    async def held(body: bytes) -> bytes:
        if body == b"held":
            await release.wait()
        return body

    return held


class Server:
    """The app served on a free port; ``shutdown`` set, the server shuts down."""

    def __init__(self, port: int, shutdown: trio.Event) -> None:
        self.port = port
        self.shutdown = shutdown
        self.clients: list[Client] = []

    async def client(self) -> Client:
        client = Client(await trio.open_tcp_stream("127.0.0.1", self.port))
        self.clients.append(client)
        return client


@asynccontextmanager
async def served(
    handler: Handler = echo,
    *,
    cancel_sending: bool = False,
    max_connections: int = 1000,
    fast_path: bool | None = None,
) -> AsyncIterator[Server]:
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            lambda task_status: serve(
                asgi(handler, cancel_sending=cancel_sending),
                port=0,
                shutdown_trigger=shutdown.wait,
                graceful_timeout=30,
                max_connections=max_connections,
                fast_path=fast_path,
                task_status=task_status,
            )
        )
        server = Server(int(binds[0].rsplit(":", 1)[1]), shutdown)
        try:
            yield server
        finally:
            server.shutdown.set()
            for client in server.clients:
                await client.stream.aclose()


class Client:
    """One HTTP/1.1 keep-alive connection, read and written with h11."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.http = h11.Connection(h11.CLIENT)

    def request(self, body: bytes) -> bytes:
        head = h11.Request(
            method="POST",
            target="/",
            headers=[("Host", "test"), ("Content-Length", str(len(body)))],
        )
        return (
            self.http.send(head)
            + self.http.send(h11.Data(data=body))
            + self.http.send(h11.EndOfMessage())
        )

    async def answer(self) -> bytes:
        body = b""
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                with trio.fail_after(WAIT_LIMIT):
                    self.http.receive_data(await self.stream.receive_some())
            elif isinstance(event, h11.Response):
                assert event.status_code == 200
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self.http.start_next_cycle()
                return body
            else:
                raise AssertionError(f"unexpected {event!r}")

    async def ask(self, body: bytes) -> bytes:
        await self.stream.send_all(self.request(body))
        return await self.answer()

    async def closed_by_server(self) -> bool:
        with trio.fail_after(WAIT_LIMIT):  # a connection left open fails, not hangs
            return await self.stream.receive_some() == b""


async def idle_and_busy(server: Server) -> tuple[Client, Client]:
    """A connection that was answered and is idle, and one whose request is being held."""
    idle = await server.client()
    assert await idle.ask(b"answered") == b"answered"
    busy = await server.client()
    await busy.stream.send_all(busy.request(b"held"))
    await trio.testing.wait_all_tasks_blocked()
    return idle, busy


def server_tasks() -> list[str]:
    """The names of the tasks that serve connections, anywhere in this run."""
    names: list[str] = []
    stack = [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        if task.name.endswith(("._serve_one", "._refuse", "._handle", "KeepAliveTimer._watch")):
            names.append(task.name)
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return names


async def test_hypercorn_serves_with_connection_and_its_module_is_left_alone() -> None:
    async with served() as server:
        client = await server.client()
        assert await client.ask(b"ping") == b"ping"
        assert any(name.endswith("KeepAliveTimer._watch") for name in server_tasks())
        assert hypercorn.trio.run.TCPServer is TCPServer  # type: ignore[attr-defined]


@pytest.mark.parametrize("how", ["argument", "environment"])
async def test_without_the_fast_path_hypercorn_s_own_connection_serves(
    how: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trioflow")
    if how == "environment":
        monkeypatch.setenv("TRIOFLOW_FAST_PATH", "off")
    async with served(fast_path=False if how == "argument" else None) as server:
        client = await server.client()
        assert await client.ask(b"ping") == b"ping"
        assert not any(name.endswith("KeepAliveTimer._watch") for name in server_tasks())
    assert "HTTP fast path off: Hypercorn's own connection class serves" in caplog.messages


async def test_on_a_hypercorn_it_was_not_written_for_the_stock_connection_serves(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_fast_path, "HYPERCORN", ((0, 16),))  # as if 0.19 were installed
    async with served() as server:
        client = await server.client()
        assert await client.ask(b"ping") == b"ping"
        assert not any(name.endswith("KeepAliveTimer._watch") for name in server_tasks())
    installed = importlib.metadata.version("hypercorn")
    assert (
        f"HTTP fast path off: Hypercorn {installed} is not a release it was written for"
        " (0.16); Hypercorn's own connection class serves"
    ) in caplog.messages


def test_the_fast_path_setting_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _fast_path.known("0.18.0", _fast_path.HYPERCORN)
    assert not _fast_path.known("0.19.0", _fast_path.HYPERCORN)
    assert not _fast_path.known("1.18", ((1, 1),))
    assert not _fast_path.known("dev", _fast_path.HYPERCORN)
    assert not _fast_path.known(None, _fast_path.HYPERCORN)
    monkeypatch.setenv("TRIOFLOW_FAST_PATH", "maybe")
    with pytest.raises(ValueError, match=r"TRIOFLOW_FAST_PATH must be 1 or 0 .* not 'maybe'"):
        _fast_path.requested(None)
    assert _fast_path.requested(True)


@pytest.mark.usefixtures("http_path")  # Hypercorn's own connection does this too
async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with served() as server:
        client = await server.client()
        assert await client.ask(b"one") == b"one"
        answered = trio.current_time()
        assert await client.closed_by_server()
        assert KEEP_ALIVE <= trio.current_time() - answered < KEEP_ALIVE + 1


@pytest.mark.usefixtures("http_path")  # Hypercorn's own connection does this too
async def test_every_request_rearms_the_keep_alive_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with served() as server:
        client = await server.client()
        for n in range(4):  # 12 s in all, never 5 s idle
            assert await client.ask(b"%d" % n) == b"%d" % n
            await trio.sleep(KEEP_ALIVE - 2)
        answered = trio.current_time()
        assert await client.ask(b"last") == b"last"
        assert await client.closed_by_server()
        assert KEEP_ALIVE <= trio.current_time() - answered < KEEP_ALIVE + 1


@pytest.mark.usefixtures("http_path")  # Hypercorn's own connection does this too
async def test_a_request_longer_than_the_keep_alive_timeout_is_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slow(body: bytes) -> bytes:
        await trio.sleep(4 * KEEP_ALIVE)
        return body

    async with served(slow) as server:
        client = await server.client()
        assert await client.ask(b"slow") == b"slow"
        assert await client.ask(b"again") == b"again"


async def test_a_connection_the_client_closed_leaves_no_task_behind(
    autojump_clock: trio.testing.MockClock,
) -> None:
    release = trio.Event()
    async with served(held_until(release)) as server:
        idle, busy = await idle_and_busy(server)  # the busy one leaves before its answer
        await idle.stream.aclose()
        await busy.stream.aclose()
        release.set()
        await trio.testing.wait_all_tasks_blocked()
        # Both gone at once: neither waits out its keep-alive timeout.
        assert server_tasks() == []


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with served() as server:
        stream = (await server.client()).stream
        bodies = [b"request %d" % n for n in range(20)]
        await stream.send_all(b"".join(Client(stream).request(body) for body in bodies))
        received = b""
        for body in bodies:  # each answer read by a client that sent only its request
            client = Client(stream)
            client.request(body)
            if received:  # h11 takes empty data for the end of the stream
                client.http.receive_data(received)
            assert await client.answer() == body
            received = client.http.trailing_data[0]


@pytest.mark.usefixtures("http_path")  # Hypercorn's own connection does this too
async def test_an_answer_larger_than_the_socket_buffers_arrives_whole() -> None:
    big = bytes(range(256)) * (32 * 1024)  # 8 MiB, more than the kernel buffers take

    async def large(body: bytes) -> bytes:
        return big + body

    async with served(large) as server:
        client = await server.client()
        client.stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        await client.stream.send_all(client.request(b"end"))
        await trio.testing.wait_all_tasks_blocked()  # the server is now waiting to write
        assert await client.answer() == big + b"end"
        assert await client.ask(b"next") == big + b"next"


@pytest.mark.usefixtures("http_path")  # Hypercorn's own connection does this too
async def test_an_answer_cancelled_while_it_is_written_ends_its_connection() -> None:
    """As with Hypercorn's own connection: the client sees the answer cut short and the
    connection closed, never a next answer glued to a partial one, nor a hang."""
    big = bytes(range(256)) * (32 * 1024)

    async def large(body: bytes) -> bytes:
        return big + body

    async with served(large, cancel_sending=True) as server:
        client = await server.client()
        client.stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        await client.stream.send_all(client.request(b"end"))
        with pytest.raises(h11.RemoteProtocolError, match="without sending complete message"):
            await client.answer()


@pytest.mark.usefixtures("http_path")  # Hypercorn's own connection does this too
async def test_shutdown_closes_idle_connections_and_lets_a_request_finish(
    autojump_clock: trio.testing.MockClock,
) -> None:
    release = trio.Event()
    async with served(held_until(release)) as server:
        idle, busy = await idle_and_busy(server)
        began = trio.current_time()
        server.shutdown.set()
        assert await idle.closed_by_server()
        assert trio.current_time() - began < 1
        release.set()
        assert await busy.answer() == b"held"
        assert await busy.closed_by_server()
        assert trio.current_time() - began < 1


async def refused(stream: trio.SocketStream, request: bytes) -> h11.Response:
    """Send ``request`` on ``stream`` and read the answer of a refusing server: its head,
    and that the server then closed the connection."""
    http = h11.Connection(h11.CLIENT)
    if request:
        await stream.send_all(request)
    head: h11.Response | None = None
    body = b""
    with trio.fail_after(WAIT_LIMIT):
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                http.receive_data(await stream.receive_some())
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        assert await stream.receive_some() == b""  # closed after the answer
    assert head is not None
    assert json.loads(body)["status"] == 503
    return head


async def test_connections_over_the_limit_get_a_503_and_are_closed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with served(max_connections=2) as server:
        first, second = await server.client(), await server.client()
        assert await first.ask(b"one") == b"one"
        assert await second.ask(b"two") == b"two"
        third = await server.client()
        head = await refused(third.stream, third.request(b"three"))
        assert head.status_code == 503
        headers = dict(head.headers)
        assert headers[b"content-type"] == b"application/problem+json"
        assert headers[b"retry-after"] == b"1"
        assert headers[b"connection"] == b"close"
        # A whole request already there when the server accepts: answered without a task.
        sock = socket.create_connection(("127.0.0.1", server.port))
        queued = Client(trio.SocketStream(trio.socket.from_stdlib_socket(sock)))
        sock.sendall(queued.request(b"queued"))
        assert (await refused(queued.stream, b"")).status_code == 503
        await queued.stream.aclose()
        await first.stream.aclose()
        await trio.testing.wait_all_tasks_blocked()
        fourth = await server.client()  # the first left: room for one more
        assert await fourth.ask(b"four") == b"four"
        assert await second.ask(b"still") == b"still"


async def test_shutdown_answers_connections_that_had_not_sent_their_request_yet(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Connected while the server was accepting, the request sent as it shuts down: each
    gets an answer (served, or 503 when the kernel still held the connection), none a
    closed connection."""
    async with served() as server:
        clients = []
        for _ in range(20):
            # Connected without a checkpoint: the kernel holds them, the server has not
            # accepted them when it is told to shut down.
            sock = socket.create_connection(("127.0.0.1", server.port))
            clients.append(Client(trio.SocketStream(trio.socket.from_stdlib_socket(sock))))
        server.shutdown.set()
        statuses = []
        for client in clients:
            await client.stream.send_all(client.request(b"late"))
        for client in clients:
            with trio.fail_after(WAIT_LIMIT):
                while (event := client.http.next_event()) is h11.NEED_DATA:
                    client.http.receive_data(await client.stream.receive_some())
            assert isinstance(event, h11.Response)
            statuses.append(event.status_code)
            await client.stream.aclose()
        assert set(statuses) <= {200, 503} and len(statuses) == 20


async def test_shutdown_answers_an_accepted_connection_whose_request_comes_next(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with served() as server:
        client = await server.client()
        await trio.testing.wait_all_tasks_blocked()  # accepted, waiting for a request
        server.shutdown.set()
        await trio.testing.wait_all_tasks_blocked()
        assert await client.ask(b"just in time") == b"just in time"
        assert await client.closed_by_server()


async def test_shutdown_with_a_pipelined_request_waiting_ends_the_connection_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """HTTP/1.1 holds a pipelined request until the one before is answered; at shutdown the
    connection answers it 503 and closes, and its task ends then, not at graceful_timeout."""
    release = trio.Event()
    async with served(held_until(release)) as server:
        client = await server.client()
        second = Client(client.stream)  # reads the second answer, as in the test above
        await client.stream.send_all(client.request(b"held") + second.request(b"next"))
        await trio.testing.wait_all_tasks_blocked()
        began = trio.current_time()
        server.shutdown.set()
        await trio.testing.wait_all_tasks_blocked()  # shutting down before the first answer
        release.set()
        assert await client.answer() == b"held"
        received = client.http.trailing_data[0]
        if received:
            second.http.receive_data(received)
        with trio.fail_after(WAIT_LIMIT):
            while (event := second.http.next_event()) is h11.NEED_DATA:
                second.http.receive_data(await client.stream.receive_some())
        assert isinstance(event, h11.Response) and event.status_code == 503
        assert (b"retry-after", b"1") in event.headers
        assert await client.closed_by_server()
    assert trio.current_time() - began < 1


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@pytest.mark.parametrize("sent", [PREFACE, PREFACE[:10], b""], ids=["preface", "part", "none"])
async def test_an_http2_connection_that_sends_no_request_is_closed_when_idle(
    autojump_clock: trio.testing.MockClock, sent: bytes
) -> None:
    async with served() as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        connected = trio.current_time()
        await stream.send_all(sent)
        received = b""
        with trio.fail_after(WAIT_LIMIT):
            while chunk := await stream.receive_some():
                received += chunk  # HTTP/2 answers the preface with its SETTINGS
        assert KEEP_ALIVE <= trio.current_time() - connected < KEEP_ALIVE + 1
        await stream.aclose()


@pytest.mark.usefixtures("http_path")  # Hypercorn's own connection does this too
async def test_an_http2_connection_is_closed_when_idle_after_its_requests(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with served() as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        http = h2.connection.H2Connection()
        http.initiate_connection()
        http.send_headers(
            1,
            [(":method", "POST"), (":path", "/"), (":scheme", "http"), (":authority", "t")],
        )
        http.send_data(1, b"over h2", end_stream=True)
        await stream.send_all(http.data_to_send())
        body = b""
        ended = False
        with trio.fail_after(WAIT_LIMIT):
            while not ended:
                for event in http.receive_data(await stream.receive_some()):
                    if isinstance(event, h2.events.DataReceived):
                        body += event.data
                    ended = ended or isinstance(event, h2.events.StreamEnded)
                await stream.send_all(http.data_to_send())
        assert body == b"over h2"
        answered = trio.current_time()
        with trio.fail_after(WAIT_LIMIT):
            while await stream.receive_some():
                pass
        assert KEEP_ALIVE <= trio.current_time() - answered < KEEP_ALIVE + 1
        await stream.aclose()
