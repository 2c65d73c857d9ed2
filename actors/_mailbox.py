"""A bounded mailbox: a queue for one consumer, with backpressure and a synchronous close.

Theory of operation. Messages wait in a deque. A receiver that finds it empty parks itself as
the one waiting task, and the next `send_nowait` hands the message straight to it. Senders that
find it full wait in a parking lot, made on first need, and are let in one per message taken;
`close` wakes everyone. An actor system keeps one mailbox per resident actor, so a mailbox is
two objects (this and its deque) rather than a Trio memory channel's eight or so: fewer objects
for the garbage collector to walk while many actors are resident.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Generic, TypeVar

import attrs
import outcome
import trio

M = TypeVar("M")


class MailboxFull(Exception):
    """The mailbox is at capacity; the sender should back off (an HTTP layer maps this to 503).

    Full: the mailbox still works, try again later. Closed: it will never accept anything again.
    """


class MailboxClosed(Exception):
    """The mailbox was closed; no more messages are accepted.

    Receivers see this only after every message queued before the close has been received.
    """


@attrs.define(eq=False, init=False)
class Mailbox(Generic[M]):
    """A bounded queue of messages for one consumer.

    Memory stays bounded: a full mailbox makes `send_nowait` raise and `send` wait, it never grows.
    One task receives at a time; a second concurrent `receive` is a `RuntimeError`.
    """

    _capacity: int
    _queue: deque[M]
    _closed: bool
    _receiver: trio.lowlevel.Task | None
    """The task parked in `receive`, waiting for a message (the queue is then empty)."""
    _senders: trio.lowlevel.ParkingLot | None
    """Tasks parked in `send`, waiting for room; made on first need."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._capacity = capacity
        self._queue = deque()
        self._closed = False
        self._receiver = None
        self._senders = None

    @property
    def capacity(self) -> int:
        """How many messages may wait before senders are pushed back."""
        return self._capacity

    @property
    def closed(self) -> bool:
        """True once `close` was called, even while queued messages remain to be received."""
        return self._closed

    def __len__(self) -> int:
        """The number of messages waiting to be received."""
        return len(self._queue)

    def has_room(self) -> bool:
        """True when `send_nowait` would queue a message rather than raise."""
        return not self._closed and len(self._queue) < self._capacity

    def send_nowait(self, message: M) -> None:
        """Queue `message`, or raise `MailboxFull` at once instead of waiting for room."""
        if self._closed:
            raise MailboxClosed("mailbox must be open to send")
        receiver = self._receiver
        if receiver is not None:
            self._receiver = None
            trio.lowlevel.reschedule(receiver, outcome.Value(message))
        elif len(self._queue) < self._capacity:
            self._queue.append(message)
        else:
            raise MailboxFull(f"mailbox must hold at most {self._capacity} messages")

    async def send(self, message: M) -> None:
        """Queue `message`, waiting for room; a close while waiting raises `MailboxClosed`."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                self.send_nowait(message)
            except MailboxFull:
                if self._senders is None:
                    self._senders = trio.lowlevel.ParkingLot()
                await self._senders.park()
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return

    def peek(self) -> M | None:
        """The oldest waiting message, left in place; None when none is waiting."""
        return self._queue[0] if self._queue else None

    def receive_nowait(self) -> M:
        """Take the oldest message; `trio.WouldBlock` when none is waiting."""
        if self._queue:
            message = self._queue.popleft()
            if self._senders:
                self._senders.unpark()
            return message
        if self._closed:
            raise MailboxClosed("mailbox is closed and drained")
        raise trio.WouldBlock

    async def receive(self) -> M:
        """Take the oldest message, waiting for one; `MailboxClosed` once closed and drained."""
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            message = self.receive_nowait()
        except trio.WouldBlock:
            pass
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return message
        if self._receiver is not None:
            raise RuntimeError("mailbox must have one receiver at a time")
        self._receiver = trio.lowlevel.current_task()
        received: M = await trio.lowlevel.wait_task_rescheduled(self._abort_receive)
        return received

    def _abort_receive(self, _: Any) -> trio.lowlevel.Abort:
        """A waiting receiver was cancelled: it no longer takes the next message."""
        self._receiver = None
        return trio.lowlevel.Abort.SUCCEEDED

    def close(self) -> None:
        """Refuse further messages; those already queued can still be received. Idempotent."""
        self._closed = True
        receiver = self._receiver
        if receiver is not None:
            self._receiver = None
            error = MailboxClosed("mailbox is closed and drained")
            trio.lowlevel.reschedule(receiver, outcome.Error(error))
        if self._senders:
            self._senders.unpark_all()
