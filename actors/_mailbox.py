"""A bounded mailbox: a Trio memory channel with backpressure and a synchronous close."""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs
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
    """

    _capacity: int
    _send_channel: trio.MemorySendChannel[M]
    _receive_channel: trio.MemoryReceiveChannel[M]
    _closed: bool

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._capacity = capacity
        self._send_channel, self._receive_channel = trio.open_memory_channel[M](capacity)
        self._closed = False

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
        return self._receive_channel.statistics().current_buffer_used

    def has_room(self) -> bool:
        """True when `send_nowait` would queue a message rather than raise."""
        return not self._closed and len(self) < self._capacity

    def send_nowait(self, message: M) -> None:
        """Queue `message`, or raise `MailboxFull` at once instead of waiting for room."""
        if self._closed:
            raise MailboxClosed("mailbox must be open to send")
        try:
            self._send_channel.send_nowait(message)
        except trio.WouldBlock:
            raise MailboxFull(f"mailbox must hold at most {self._capacity} messages") from None

    async def send(self, message: M) -> None:
        """Queue `message`, waiting for room; a close while waiting raises `MailboxClosed`."""
        try:
            await self._send_channel.send(message)
        except trio.ClosedResourceError:
            raise MailboxClosed("mailbox must be open to send") from None

    def receive_nowait(self) -> M:
        """Take the oldest message; `trio.WouldBlock` when none is waiting."""
        try:
            return self._receive_channel.receive_nowait()
        except trio.EndOfChannel:
            raise MailboxClosed("mailbox is closed and drained") from None

    async def receive(self) -> M:
        """Take the oldest message, waiting for one; `MailboxClosed` once closed and drained."""
        try:
            return await self._receive_channel.receive()
        except trio.EndOfChannel:
            raise MailboxClosed("mailbox is closed and drained") from None

    def close(self) -> None:
        """Refuse further messages; those already queued can still be received. Idempotent."""
        self._closed = True
        self._send_channel.close()
