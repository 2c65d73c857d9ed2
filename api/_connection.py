"""Hypercorn's TCP connection on Trio, with two per-request costs taken out.

Theory of operation: Hypercorn (0.17, 0.18) serves each connection with a ``TCPServer``
whose keep-alive timer is a task: when a request arrives the task is cancelled, when its
answer is sent a new one is started (``nursery.start`` through a lock). Its sends take a
``trio.Lock`` and go through ``SocketStream.send_all`` even when nobody else is sending
and the socket has room, and the empty write that ends a Content-Length body is sent too.
On a small answer each of these is a trip through Trio's scheduler; together they cost
about a third of the server's CPU per request (a trivial ASGI app on 2 cores: about 1,400
answers/s with Hypercorn's own connection, about 2,400 with this one).

``Connection`` keeps Hypercorn's protocol and everything it decides, and changes how:
- one keep-alive watcher per connection (``KeepAliveTimer``), re-armed by moving the
  deadline of its cancel scope: the connection goes idle, the deadline is
  ``keep_alive_timeout`` away; a request arrives, there is none. It closes an idle
  connection when the deadline passes or the server shuts down, as Hypercorn's task does,
  and it ends with the connection's reader, so a connection the client closed is not kept
  until its timer runs out;
- a send that nobody else is making is first written straight to a plain TCP socket
  (``os.write`` on its descriptor, which never blocks: Trio's sockets are non-blocking);
  what the socket does not take, and every send with the lock held, TLS or an error, goes
  Hypercorn's way, which waits for the socket under the lock and turns errors into a close.

Three things Hypercorn's connection leaves undone at the edges of a connection's life:
- HTTP/1.1 reads the h2c preface as a request and stops the idle timer; HTTP/2 re-arms it
  only when a stream ends, so a client that sent the preface and nothing else was kept
  forever. ``Connection`` re-arms it when HTTP/2 takes over with no stream open;
- at shutdown, a connection that was accepted but has not sent its first request yet is
  given ``FIRST_REQUEST_SECONDS`` to send it (the client connected while we accepted);
- when the protocol closes (at shutdown, after an answer) and the client's next request
  is already here, that request is answered 503 with ``Retry-After``; and the reader is
  cancelled, since HTTP/1.1 would wait for it for a next cycle that never comes.

``_listener.Listener`` serves each connection with the class it is given;
``_fast_path.connection_class`` gives it ``Connection`` only on the Hypercorn releases this
was written against, and Hypercorn's own ``TCPServer`` otherwise. Hypercorn's module globals
are left as they are.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import trio
from hypercorn.events import Closed, Event, RawData
from hypercorn.protocol.h2 import H2Protocol
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.trio.task_group import TaskGroup
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext

LINGER_SECONDS = 1.0
"""How long a connection refused after an answer waits for the client to close first."""
FIRST_REQUEST_SECONDS = 1.0
"""At shutdown, how long a connection that has sent nothing yet may take to send its request."""


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


class KeepAliveTimer:
    """Closes the connection after ``keep_alive_timeout`` seconds idle, or when the server
    shuts down while it is idle; one task for the connection's whole life.

    Stands in for Hypercorn's ``TrioSingleTask`` (``restart`` when the connection goes
    idle, ``stop`` when a request arrives); ``end`` stops it for good. It runs ``close``
    itself rather than the ``action`` it is given: that is Hypercorn's timer task, which
    would wait for the timeout all over again.
    """

    def __init__(
        self, timeout: float, context: WorkerContext, close: Callable[[], Awaitable[None]]
    ) -> None:
        self._timeout = timeout
        self._context = context
        self._close = close
        self._scope = trio.CancelScope()
        self._watching = False
        self._ended = False
        self._busy_once = False
        self._first_request: trio.Event | None = None

    async def restart(self, task_group: TaskGroup, action: Callable[[], Awaitable[None]]) -> None:
        """Idle from now on: the connection closes unless a request comes in time."""
        deadline = trio.current_time() + self._timeout
        if self._watching and not self._scope.cancel_called:
            self._scope.deadline = deadline
        elif not self._ended:  # the first time, the watcher left, or its deadline just passed
            self._scope = trio.CancelScope(deadline=deadline)
            self._watching = True
            task_group.spawn(self._watch, self._scope)

    async def stop(self) -> None:
        """Busy from now on: no timeout until the next ``restart``."""
        self._scope.deadline = math.inf
        self._busy_once = True
        if self._first_request is not None:
            self._first_request.set()

    def end(self) -> None:
        """The connection is over: the watcher returns without closing anything."""
        self._ended = True
        self._scope.cancel()

    async def _watch(self, scope: trio.CancelScope) -> None:
        with scope:
            await self._context.terminated.wait()
        if scope is not self._scope:
            return  # a request came as its deadline passed; a new watcher took over
        self._watching = False
        if self._context.terminated.is_set() and not self._busy_once and not self._ended:
            # Shut down before its first request: the client connected while the server
            # was accepting, so its request, if it comes soon, is answered too.
            self._first_request = trio.Event()
            with trio.move_on_after(FIRST_REQUEST_SECONDS):
                await self._first_request.wait()
        # Shut down during a request: the protocol closes once its answer is sent.
        if scope.deadline != math.inf and not self._ended:
            with trio.CancelScope(shield=True):
                await self._close()


class Connection(TCPServer):
    """Hypercorn's ``TCPServer`` with one keep-alive watcher and direct socket writes."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.timer = KeepAliveTimer(
            self.config.keep_alive_timeout, self.context, self._initiate_server_close
        )
        self.idle_task = self.timer  # type: ignore[assignment]
        self._http2_unseen = True
        self._reading = trio.CancelScope()

    async def protocol_send(self, event: Event) -> None:
        if type(event) is RawData:
            if self._http2_unseen and type(self.protocol.protocol) is H2Protocol:
                await self._began_http2(self.protocol.protocol)
            if not event.data:
                return  # the end of a body whose length was declared: nothing to write
            if not self.send_lock.locked():
                sent = self._write_now(event.data)
                if sent == len(event.data):
                    return
                if sent:
                    event = RawData(data=event.data[sent:])
        elif type(event) is Closed:
            # The protocol closes from whichever task ends an exchange, which may be on
            # its way out, cancelled: a close cut short would leave the connection open.
            with trio.CancelScope(shield=True):
                await self._refuse_unanswered()
                await super().protocol_send(event)
            # The reader may have taken the client's next request just before: HTTP/1.1
            # then waits for a next cycle that a closed connection never starts, and the
            # connection outlived its socket until graceful_timeout (1 shutdown in 5).
            self._reading.cancel()
            return
        await super().protocol_send(event)

    async def _began_http2(self, protocol: H2Protocol) -> None:
        """HTTP/2 took over. When it did on a bare preface (h2c with prior knowledge), the
        request that HTTP/1.1 saw was the preface, not a request: the connection is idle,
        and closes after ``keep_alive_timeout`` unless a stream opens."""
        self._http2_unseen = False
        if protocol.idle:
            await self.timer.restart(self._task_group, self._idle_timeout)

    async def _refuse_unanswered(self) -> None:
        """Closing after an answer (at shutdown, say) while the client's next request is
        already here: that request gets a 503 with ``Retry-After``, not a silent close."""
        await trio.lowlevel.checkpoint()  # the reader hands over what it just received
        protocol = self.protocol.protocol
        if type(protocol) is not H11Protocol:
            return
        http = protocol.connection
        if http.our_state is not h11.DONE or not http.trailing_data[0]:
            return
        try:
            await self.stream.send_all(busy_answer("the server is shutting down", 1))
            await self.stream.send_eof()
            with trio.move_on_after(LINGER_SECONDS):  # unread bytes at close send a reset
                while await self.stream.receive_some():
                    pass
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
            pass

    def _write_now(self, data: bytes) -> int:
        """What a plain TCP socket takes of ``data`` without waiting (0 for any trouble)."""
        stream: trio.abc.Stream = self.stream  # Hypercorn's annotation names only TLS
        if not isinstance(stream, trio.SocketStream):
            return 0  # TLS: the SSL stream has its own buffers
        fd = stream.socket.fileno()  # -1 once closed; never a stale number
        if fd < 0:
            return 0
        try:
            return os.write(fd, data)
        except OSError:  # full (EAGAIN) or broken: Hypercorn's path waits or closes
            return 0

    async def _read_data(self) -> None:
        try:
            with self._reading:
                await super()._read_data()
            if self._reading.cancelled_caught:  # as Hypercorn's reader does when it ends
                with trio.CancelScope(shield=True):
                    await self.protocol.handle(Closed())
        finally:
            self.timer.end()
