"""An order service on trioflow: validate, charge, then pack and bill in parallel.

Run it twice: the second run finds the orders of the first in ``orders.db`` and
starts nothing again (instance ids are the order ids, so starts are idempotent).

    python examples/orders.py [orders.db]
"""

from __future__ import annotations

import sys

import attrs
import trio

from runtime import ActivityError, RetryPolicy, Runtime, WorkflowContext, activity, workflow


@attrs.frozen
class Order:
    order_id: str
    amount: float = attrs.field()

    @amount.validator
    def _positive(self, _: attrs.Attribute[float], value: float) -> None:
        if value <= 0:
            raise ValueError("amount must be > 0")


@activity
async def validate(order: Order) -> bool:
    return order.order_id.startswith("A")


@activity(retry=RetryPolicy(max_attempts=5, initial_interval=0.1, backoff=2.0), timeout=10.0)
async def charge(order_id: str, amount: float) -> str:
    await trio.sleep(0.01)  # the payment provider
    return f"txn-{order_id}-{int(amount * 100)}"


@activity
def pack(order: Order) -> str:  # a sync activity runs in a worker thread
    return f"parcel-{order.order_id}"


@activity
async def bill(order: Order, txn: str) -> str:
    return f"invoice-{order.order_id}-{txn}"


@workflow
async def process_order(ctx: WorkflowContext, order: Order) -> dict[str, object]:
    if not await ctx.run(validate, order):
        return {"order_id": order.order_id, "status": "rejected"}
    try:
        txn = await ctx.run(charge, order.order_id, order.amount)
    except ActivityError as exc:
        return {"order_id": order.order_id, "status": "payment failed", "error": exc.message}
    parcel, invoice = await ctx.gather(ctx.run(pack, order), ctx.run(bill, order, txn))
    return {"order_id": order.order_id, "status": "shipped", "parcel": parcel, "invoice": invoice}


async def main(path: str) -> None:
    async with Runtime.open(path) as rt:
        ids = [
            await rt.start(process_order, Order(f"A{n}", 10.0 * n), instance_id=f"order-A{n}")
            for n in range(1, 4)
        ]
        ids.append(await rt.start(process_order, Order("B1", 5.0), instance_id="order-B1"))
        for iid in ids:
            print(iid, await rt.result(iid, timeout=30))


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "orders.db")
