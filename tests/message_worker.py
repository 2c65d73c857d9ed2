"""The message crash test's child process.

``python tests/message_worker.py DB`` loads ``tests/bpmn/messages.bpmn``, starts two instances
that reach their receive task for order A in an hour, publishes A's payment with a two-hour
``ttl`` (buffered: nothing waits for it yet), starts one instance waiting for order B's payment
and publishes it (that instance takes it), prints ``parked`` and idles until the test SIGKILLs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio
from _processes import ready_for_the_kill, until_all

from runtime import Event, Registry, Runtime, bpmn

MESSAGES = Path(__file__).parent / "bpmn" / "messages.bpmn"
LATER = ("later-1", "later-2")
TOOK_B = "wait-b-1"


def messages_registry() -> Registry:
    registry = Registry()
    bpmn.load(MESSAGES, registry=registry)
    return registry


def payment(order: str, amount: int) -> Event:
    return Event(
        type="paid",
        source="bank",
        id=f"pay-{order}",
        subject=order,
        data={"amount": amount},
        ttl=7200,
    )


async def _main(db: str) -> None:
    async with Runtime.open(db, registry=messages_registry()) as rt:
        for iid in LATER:
            await rt.start("messages_later", {"orderId": "A"}, instance_id=iid)
        assert (await rt.publish(payment("A", 10))).delivered == ()
        await rt.start("messages_wait", {"orderId": "B"}, instance_id=TOOK_B)
        await until_all(rt, [TOOK_B], "waiting")
        assert (await rt.publish(payment("B", 20))).delivered == (TOOK_B,)
        assert await rt.result(TOOK_B) == {"orderId": "B", "paid": 20}
        await ready_for_the_kill("parked")


if __name__ == "__main__":
    trio.run(_main, sys.argv[1])
