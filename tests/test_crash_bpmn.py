"""A real crash while BPMN orders are parked at an event-based gateway.

The child (``tests/bpmn_worker.py``) loads the ordering example, starts 30 orders and, once each
has validated and sent its bill and waits at ``Gateway_AwaitPayment`` (for ``payment-received``
or its 5-minute timer), is SIGKILLed. This process reopens the file with the same handlers on a
mock clock, publishes the payment of two orders in three while time stands still, then lets the
clock jump: the paid orders go through accounting and delivery, the others through the
reminder and, 10 minutes later, the cancellation. Every handler ran exactly once (the first two
in the child, the rest here), and every journal replays without divergence.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import bpmn_worker
import pytest
import trio.testing
from _processes import read_effects, run_until_killed

from runtime import Event, Runtime
from runtime.store import SqliteStore

INSTANCES = 30


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
async def test_bpmn_orders_parked_at_a_gateway_survive_a_kill(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    db, effects = tmp_path / "orders.db", tmp_path / "effects.txt"
    orders = bpmn_worker.order_ids(INSTANCES)
    ids = [bpmn_worker.instance_id(order) for order in orders]
    paid = [order for n, order in enumerate(orders) if n % 3 != 2]

    killed = await run_until_killed(
        bpmn_worker.__file__,
        [str(db), str(effects), str(INSTANCES)],
        tmp_path / "child-stderr.txt",
        ready=b"parked\n",
        timeout=15,
        clock=mock_clock,
    )
    child = killed.pid
    with SqliteStore(db) as store:
        assert set(store.unfinished()) == set(ids)
        assert {store.get(i).status for i in ids} == {"waiting"}  # type: ignore[union-attr]
    before = ("validate-order", "send-bill")
    assert read_effects(effects) == {(i, task): [child] for i in ids for task in before}

    # From here on time stands still until every task waits, then jumps to the next timer.
    registry = bpmn_worker.ordering_registry(str(effects))
    with trio.fail_after(3600):  # mock seconds: jumped to if an instance never finishes
        async with Runtime.open(str(db), registry=registry) as rt:
            for n, order in enumerate(paid):
                payment = Event(
                    type="payment-received", source="bank", id=f"pay-{n}", subject=order
                )
                delivered = (await rt.publish(payment)).delivered
                assert delivered == (bpmn_worker.instance_id(order),)
            await trio.testing.wait_all_tasks_blocked()
            mock_clock.autojump_threshold = 0  # the 5- and 10-minute timers of the unpaid
            outputs = {i: await rt.result(i) for i in ids}
            reports = {i: await rt.replay(i) for i in ids}

    me = os.getpid()
    expected = {(i, task): [child] for i in ids for task in before}
    for order in orders:
        i = bpmn_worker.instance_id(order)
        if order in paid:
            assert outputs[i]["update_accounting"] and outputs[i]["package_and_deliver"]
            assert "send_friendly_reminder" not in outputs[i]
            after = ("update-accounting", "package-and-deliver")
        else:
            assert outputs[i]["send_friendly_reminder"] and outputs[i]["cancel_order"]
            assert "update_accounting" not in outputs[i]
            after = ("send-friendly-reminder", "cancel-order")
        expected.update({(i, task): [me] for task in after})
    assert read_effects(effects) == expected  # every handler ran once, none twice
    assert all(report.ok for report in reports.values()), [
        report.divergence for report in reports.values() if not report.ok
    ]
