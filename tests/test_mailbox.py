import pytest
import trio
import trio.testing

from actors import Mailbox, MailboxClosed, MailboxFull


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        Mailbox[int](0)
    assert Mailbox[int](3).capacity == 3


async def test_messages_come_out_in_order_and_are_counted() -> None:
    mailbox = Mailbox[int](4)
    for n in range(3):
        mailbox.send_nowait(n)
    assert len(mailbox) == 3
    assert [mailbox.receive_nowait(), await mailbox.receive()] == [0, 1]
    assert len(mailbox) == 1


async def test_receive_nowait_on_empty_would_block() -> None:
    with pytest.raises(trio.WouldBlock):
        Mailbox[int](1).receive_nowait()


async def test_full_mailbox_pushes_back() -> None:
    mailbox = Mailbox[str](2)
    mailbox.send_nowait("a")
    mailbox.send_nowait("b")
    with pytest.raises(MailboxFull, match="at most 2"):
        mailbox.send_nowait("c")

    sent = trio.Event()

    async def send_c() -> None:
        await mailbox.send("c")
        sent.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_c)
        await trio.testing.wait_all_tasks_blocked()
        assert not sent.is_set()
        assert mailbox.receive_nowait() == "a"
        await sent.wait()
    assert [mailbox.receive_nowait(), mailbox.receive_nowait()] == ["b", "c"]


async def test_close_is_idempotent_and_keeps_queued_messages() -> None:
    mailbox = Mailbox[int](4)
    mailbox.send_nowait(1)
    mailbox.send_nowait(2)
    mailbox.close()
    mailbox.close()
    assert mailbox.closed
    with pytest.raises(MailboxClosed):
        mailbox.send_nowait(3)
    with pytest.raises(MailboxClosed):
        await mailbox.send(3)
    assert mailbox.receive_nowait() == 1
    assert await mailbox.receive() == 2
    with pytest.raises(MailboxClosed):
        mailbox.receive_nowait()
    with pytest.raises(MailboxClosed):
        await mailbox.receive()


async def test_close_wakes_blocked_receiver_and_sender() -> None:
    empty = Mailbox[int](1)
    full = Mailbox[int](1)
    full.send_nowait(0)
    outcomes: list[str] = []

    async def receive() -> None:
        with pytest.raises(MailboxClosed):
            await empty.receive()
        outcomes.append("receiver")

    async def send() -> None:
        with pytest.raises(MailboxClosed):
            await full.send(1)
        outcomes.append("sender")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive)
        nursery.start_soon(send)
        await trio.testing.wait_all_tasks_blocked()
        empty.close()
        full.close()
    assert sorted(outcomes) == ["receiver", "sender"]
    assert full.receive_nowait() == 0


async def test_blocked_send_is_cancellable(autojump_clock: trio.testing.MockClock) -> None:
    mailbox = Mailbox[int](1)
    mailbox.send_nowait(0)
    with trio.move_on_after(1) as scope:
        await mailbox.send(1)
    assert scope.cancelled_caught
    assert len(mailbox) == 1


async def test_a_waiting_receiver_gets_the_next_message_and_cancels_cleanly(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox[int](1)
    got: list[int] = []

    async def receive() -> None:
        got.append(await mailbox.receive())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive)
        await trio.testing.wait_all_tasks_blocked()
        mailbox.send_nowait(7)  # handed over, not queued: the next send still has room
        mailbox.send_nowait(8)
    assert got == [7]
    assert len(mailbox) == 1
    with trio.move_on_after(1):  # a cancelled receive leaves the mailbox usable
        mailbox.receive_nowait()
        await mailbox.receive()
    mailbox.send_nowait(9)
    assert await mailbox.receive() == 9


async def test_one_receiver_at_a_time() -> None:
    mailbox = Mailbox[int](1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(mailbox.receive)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(RuntimeError, match="one receiver at a time"):
            await mailbox.receive()
        mailbox.send_nowait(1)


async def test_a_sender_waiting_for_room_gets_in_when_a_message_is_taken() -> None:
    mailbox = Mailbox[int](1)
    mailbox.send_nowait(1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(mailbox.send, 2)
        await trio.testing.wait_all_tasks_blocked()
        assert len(mailbox) == 1
        assert mailbox.receive_nowait() == 1
    assert mailbox.receive_nowait() == 2
