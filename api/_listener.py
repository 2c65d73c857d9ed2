"""Accepting connections: a bound on open connections, and a shutdown that answers them all.

Theory of operation: this stands in for Hypercorn's Trio ``worker_serve`` (its lifespan,
its ``WorkerContext`` and its connection class, ``_connection.Connection``, are used as
they are) for two things Hypercorn does not do:

- *a bound on open connections.* Hypercorn accepts every connection the kernel queued,
  so under a flood latency grows for everyone and, once the listen queue overflows, the
  kernel drops connections without a word. Here a connection over ``max_connections`` is
  accepted and answered at once: its request head is read (briefly), it gets a 503
  problem document with ``Retry-After`` and ``Connection: close``, and it is closed the
  lingering way (our side first, then what the client still sends is read and dropped),
  so that the answer is not lost to a reset.
- *a shutdown that leaves no client without an answer.* When the trigger returns, the
  listening sockets stop being served; the connections already queued in the kernel are
  accepted and answered 503 the same way, then the sockets are closed. Connections being
  served finish their request (``Connection`` gives one that has not sent its first
  request yet a moment to send it), idle keep-alive ones are closed, and all of it is
  bounded by ``graceful_timeout``.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio
from hypercorn.config import Config
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import AppWrapper, ConnectionState
from hypercorn.utils import repr_socket_addr

from ._connection import Connection

_log = logging.getLogger("trioflow")

REFUSE_SECONDS = 2.0
"""How long a refused connection may take: to send its request head, then to go away."""
_MAX_HEAD = 16_384


def busy_answer(detail: str, retry_after: int) -> bytes:
    """A whole HTTP/1.1 503 answer, problem+json, that closes the connection."""
    body = json.dumps(
        {
            "type": "urn:trioflow:problem:overloaded",
            "title": "Service Unavailable",
            "status": 503,
            "detail": detail,
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        f"retry-after: {retry_after}\r\n"
        "connection: close\r\n\r\n"
    ).encode()
    return head + body


@attrs.define(eq=False)
class Listener:
    """Serves ``app`` on ``config``'s sockets with at most ``max_connections`` open at once."""

    app: AppWrapper
    config: Config
    max_connections: int
    open: int = 0
    refused: int = 0
    _state: dict[str, Any] = attrs.field(factory=dict)

    async def serve(
        self,
        shutdown_trigger: Callable[[], Awaitable[None]],
        task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        config = self.config
        context = WorkerContext(None)
        lifespan = Lifespan(self.app, config, self._state)
        async with trio.open_nursery() as lifespan_nursery:
            await lifespan_nursery.start(lifespan.handle_lifespan)
            await lifespan.wait_for_startup()
            sockets = config.create_sockets().insecure_sockets
            try:
                for sock in sockets:
                    sock.listen(config.backlog)
                binds = [f"http://{repr_socket_addr(s.family, s.getsockname())}" for s in sockets]
                for bind in binds:
                    _log.info("listening on %s", bind)
                async with trio.open_nursery() as connections:
                    async with trio.open_nursery() as acceptors:
                        for sock in sockets:
                            listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
                            acceptors.start_soon(self._accept, listener, connections, context)
                        task_status.started(binds)
                        await shutdown_trigger()
                        acceptors.cancel_scope.cancel()
                    for sock in sockets:
                        self._refuse_queued(sock, connections)
                        sock.close()
                    await context.terminated.set()
                    connections.cancel_scope.deadline = (
                        trio.current_time() + config.graceful_timeout
                    )
            finally:
                for sock in sockets:
                    sock.close()
            await lifespan.wait_for_shutdown()
            lifespan_nursery.cancel_scope.cancel()

    async def _accept(
        self, listener: trio.SocketListener, nursery: trio.Nursery, context: WorkerContext
    ) -> None:
        state = ConnectionState(self._state.copy())
        while True:
            stream = await listener.accept()  # waits out EMFILE and the like, as Trio does
            if self.open >= self.max_connections:
                nursery.start_soon(self._refuse, stream, "the server has too many connections open")
            else:
                self.open += 1
                nursery.start_soon(
                    self._serve_one, Connection(self.app, self.config, context, state, stream)
                )

    async def _serve_one(self, connection: Connection) -> None:
        try:
            await connection.run()
        finally:
            self.open -= 1

    def _refuse_queued(self, sock: socket.socket, nursery: trio.Nursery) -> None:
        """Accept what the kernel has queued on ``sock`` and answer each 503."""
        while True:
            try:
                client, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and the like: what is left gets reset
                _log.warning("could not accept a queued connection at shutdown: %s", exc)
                return
            stream = trio.SocketStream(trio.socket.from_stdlib_socket(client))
            nursery.start_soon(self._refuse, stream, "the server is shutting down")

    async def _refuse(self, stream: trio.SocketStream, detail: str) -> None:
        """Read the request head, answer 503 and close without losing the answer to a reset."""
        self.refused += 1
        with trio.CancelScope(shield=True), trio.move_on_after(REFUSE_SECONDS):
            try:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < _MAX_HEAD:
                    chunk = await stream.receive_some(_MAX_HEAD)
                    if not chunk:
                        break
                    head += chunk
                await stream.send_all(busy_answer(detail, retry_after=1))
                await stream.send_eof()
                while await stream.receive_some(_MAX_HEAD):
                    pass
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await stream.aclose()
