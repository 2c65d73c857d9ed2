"""Accepting connections: a bound on open connections, and a shutdown that answers them all.

Theory of operation: this stands in for Hypercorn's Trio ``worker_serve`` (its lifespan,
its ``WorkerContext`` and the connection class, ``_connection.Connection``, are used as
they are) for what Hypercorn does not do:

- *a bound on open connections.* Hypercorn accepts every connection the kernel queued,
  so under a flood latency grows for everyone and, once the listen queue overflows, the
  kernel drops connections without a word. Here a connection over ``max_connections`` is
  accepted and answered at once: a 503 problem document with ``Retry-After`` and
  ``Connection: close``. When its whole request is already there (it usually is: it
  waited in the kernel's queue) that takes two system calls and no task; otherwise a
  task reads the request head, answers, and closes the lingering way (our side first,
  then what the client still sends is read and dropped), so that the answer is not lost
  to a reset.
- *accepting in bursts.* Each await is a turn of Trio's scheduler, and a turn takes
  longer the busier the server is: one accept per turn left new clients waiting in the
  kernel's queue for seconds. Every connection queued when the socket becomes readable
  is accepted in the same turn (up to ``ACCEPT_BURST``).
- *a shutdown that leaves no client without an answer.* When the trigger returns, the
  listening sockets stop being served; the connections already queued in the kernel are
  accepted and answered 503 the same way, then the sockets are closed. Connections being
  served finish their request (``Connection`` gives one that has not sent its first
  request yet a moment to send it), idle keep-alive ones are closed, and all of it is
  bounded by ``graceful_timeout``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio
from hypercorn.config import Config
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import AppWrapper, ConnectionState
from hypercorn.utils import repr_socket_addr

from ._connection import Connection, busy_answer

_log = logging.getLogger("trioflow")

REFUSE_SECONDS = 2.0
"""How long a refused connection may take: to send its request head, then to go away."""
_MAX_HEAD = 16_384
ACCEPT_BURST = 256
"""At most this many queued connections are accepted in one turn of the scheduler."""
ACCEPT_PAUSE = 0.1
"""How long to wait before accepting again when the process is out of files or memory."""
_GONE_BEFORE_ACCEPT = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})
"""What accept reports for a connection that was dropped while queued (as Trio skips)."""
"""How long to wait before accepting again when the process is out of files or memory."""


@attrs.define(eq=False)
class Listener:
    """Serves ``app`` on ``config``'s sockets with at most ``max_connections`` open at once."""

    app: AppWrapper
    config: Config
    max_connections: int
    connection: type[TCPServer] = attrs.field(default=Connection, kw_only=True)
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
                    sock.setblocking(False)
                    sock.listen(config.backlog)
                binds = [f"http://{repr_socket_addr(s.family, s.getsockname())}" for s in sockets]
                for bind in binds:
                    _log.info("listening on %s", bind)
                async with trio.open_nursery() as connections:
                    async with trio.open_nursery() as acceptors:
                        for sock in sockets:
                            acceptors.start_soon(self._accept, sock, connections, context)
                        task_status.started(binds)
                        await shutdown_trigger()
                        acceptors.cancel_scope.cancel()
                    for sock in sockets:
                        self._refuse_queued(sock, connections)
                        trio.lowlevel.notify_closing(sock)
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
        self, sock: socket.socket, nursery: trio.Nursery, context: WorkerContext
    ) -> None:
        state = ConnectionState(self._state.copy())
        while True:
            await trio.lowlevel.wait_readable(sock)
            # Every await is a turn of Trio's scheduler, which takes longer the busier the
            # server is: one accept per turn left new clients queued in the kernel behind
            # hundreds of others for seconds. What is queued now is taken in this turn.
            try:
                clients = _queued(sock, ACCEPT_BURST)
            except OSError as exc:  # out of files or memory: wait, as trio.SocketListener does
                _log.warning("cannot accept connections for now: %s", exc)
                await trio.sleep(ACCEPT_PAUSE)
                continue
            for client in clients:
                if self.open >= self.max_connections:
                    self._refuse(client, nursery, "the server has too many connections open")
                    continue
                self.open += 1
                stream: Any = trio.SocketStream(trio.socket.from_stdlib_socket(client))
                # (Any: Hypercorn's annotation names only the TLS stream.)
                connection = self.connection(self.app, self.config, context, state, stream)
                nursery.start_soon(self._serve_one, connection)

    async def _serve_one(self, connection: TCPServer) -> None:
        try:
            await connection.run()
        finally:
            self.open -= 1

    def _refuse_queued(self, sock: socket.socket, nursery: trio.Nursery) -> None:
        """Accept what the kernel has queued on ``sock`` and answer each 503."""
        with contextlib.suppress(OSError):  # what cannot be accepted now is reset
            for client in _queued(sock, math.inf):
                self._refuse(client, nursery, "the server is shutting down")

    def _refuse(self, client: socket.socket, nursery: trio.Nursery, detail: str) -> None:
        """Answer ``client`` 503 and close it: at once when its whole request is already
        here (the usual case: it waited in the kernel's queue), else in a task."""
        self.refused += 1
        answer = busy_answer(detail, retry_after=1)
        try:
            received = client.recv(_MAX_HEAD, socket.MSG_DONTWAIT)
        except BlockingIOError:
            received = b""
        except OSError:
            client.close()
            return
        # Closing with nothing unread sends FIN, and the answer arrives; with unread bytes
        # the kernel sends a reset, which may destroy the answer before the client reads it.
        if _whole_request(received):
            with contextlib.suppress(OSError):
                if client.send(answer, socket.MSG_DONTWAIT) == len(answer):
                    client.close()
                    return
                answer = b""  # part of it went: the rest cannot follow a 503 of its own
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(client))
        nursery.start_soon(self._refuse_slowly, stream, received, answer)

    async def _refuse_slowly(self, stream: trio.SocketStream, head: bytes, answer: bytes) -> None:
        """Read the request head, answer 503 and close without losing the answer to a reset."""
        with trio.CancelScope(shield=True), trio.move_on_after(REFUSE_SECONDS):
            try:
                while answer and b"\r\n\r\n" not in head and len(head) < _MAX_HEAD:
                    chunk = await stream.receive_some(_MAX_HEAD)
                    if not chunk:
                        break
                    head += chunk
                await stream.send_all(answer)
                await stream.send_eof()
                while await stream.receive_some(_MAX_HEAD):
                    pass
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await stream.aclose()


def _queued(sock: socket.socket, most: float) -> list[socket.socket]:
    """The connections the kernel has queued on the listening ``sock`` (at most ``most``),
    accepted without waiting. Raises the ``OSError`` of an accept (EMFILE, say) only when
    it accepted nothing."""
    clients: list[socket.socket] = []
    while len(clients) < most:
        try:
            client, _ = sock.accept()
        except (BlockingIOError, InterruptedError):
            break
        except OSError as exc:
            if exc.errno in _GONE_BEFORE_ACCEPT:
                continue
            if clients:
                break
            raise
        clients.append(client)
    return clients


def _whole_request(data: bytes) -> bool:
    """``data`` is one whole request: a head and, when it declares one, its whole body."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    declared = 0
    for line in data[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            return False
        if name == b"content-length":
            try:
                declared = int(value.strip())
            except ValueError:
                return False
    return len(data) - (end + 4) == declared
