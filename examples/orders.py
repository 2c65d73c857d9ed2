"""The order service: an HTTP API over a durable order workflow.

    trioflow serve examples/orders.py --db orders.db

Then, in another shell:

    curl -s -XPOST localhost:8001/orders -H 'content-type: application/json' \\
         -d '{"order_id": "A1", "amount": 12.5}'
    curl -s -XPOST localhost:8001/ -H 'content-type: application/cloudevents+json' \\
         -d '{"specversion": "1.0", "id": "pay-1", "source": "bank", \\
              "type": "payment.completed", "subject": "A1", "data": {"amount": 12.5}}'
    curl -s localhost:8001/orders/A1

An order reserves stock, then waits up to five minutes for its ``payment.completed``
CloudEvent (correlated by order id: the event's subject). Paid orders are packed and
billed in parallel; unpaid ones release their stock. Kill the server at any point: the
next start carries every order on from where it stopped.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio
import trio.lowlevel
from quart_trio import QuartTrio

from api import HTTPProblem, read_json
from runtime import (
    EventTimeout,
    InstanceNotFound,
    RetryPolicy,
    Runtime,
    WorkflowContext,
    activity,
    workflow,
)

PAYMENT_TIMEOUT = 5 * 60


@attrs.frozen
class Order:
    order_id: str = attrs.field()
    amount: float = attrs.field()

    @order_id.validator
    def _order_id(self, _: attrs.Attribute[str], value: str) -> None:
        if not value or len(value) > 64 or "/" in value:
            raise ValueError("order_id must be 1 to 64 characters, none of them '/'")

    @amount.validator
    def _amount(self, _: attrs.Attribute[float], value: float) -> None:
        if not 0 < value <= 100_000:
            raise ValueError("amount must be > 0 and <= 100000")


@attrs.frozen
class Payment:
    amount: float


@activity(retry=RetryPolicy(max_attempts=5, initial_interval=0.5), timeout=10)
async def reserve_stock(order: Order) -> str:
    await trio.lowlevel.checkpoint()  # the warehouse system
    return f"reservation-{order.order_id}"


@activity
async def release_stock(reservation: str) -> None:
    await trio.lowlevel.checkpoint()


@activity
def pack(order: Order) -> str:  # a sync activity runs in a worker thread
    return f"parcel-{order.order_id}"


@activity
async def bill(order: Order, paid: float) -> str:
    return f"invoice-{order.order_id}-{paid:.2f}"


@workflow
async def process_order(ctx: WorkflowContext, order: Order) -> dict[str, Any]:
    reservation = await ctx.run(reserve_stock, order)
    try:
        event = await ctx.wait_event(
            "payment.completed", subject=order.order_id, timeout=PAYMENT_TIMEOUT, data_type=Payment
        )
    except EventTimeout:
        await ctx.run(release_stock, reservation)
        return {"order_id": order.order_id, "status": "cancelled", "reason": "not paid in time"}
    parcel, invoice = await ctx.gather(
        ctx.run(pack, order), ctx.run(bill, order, event.data.amount)
    )
    return {"order_id": order.order_id, "status": "shipped", "parcel": parcel, "invoice": invoice}


def instance_id(order_id: str) -> str:
    return f"order-{order_id}"


def routes(app: QuartTrio, runtime: Runtime) -> None:
    """The service's own routes, added next to trioflow's (``trioflow serve`` calls this)."""

    @app.post("/orders")
    async def create_order() -> Any:
        body = await read_json()
        order_id = body.get("order_id") if isinstance(body, dict) else None
        key = instance_id(order_id) if isinstance(order_id, str) and order_id else None
        iid = await runtime.start(process_order, body, instance_id=key)  # validates the body
        return {"order_id": order_id, "instance_id": iid}, 202, {"Location": f"/orders/{order_id}"}

    @app.get("/orders/<order_id>")
    async def get_order(order_id: str) -> Any:
        try:
            instance = await runtime.get(instance_id(order_id))
        except InstanceNotFound:
            raise HTTPProblem(404, f"no order {order_id!r}", kind="not-found") from None
        return {
            "order_id": order_id,
            "instance_id": instance.id,
            "status": instance.status,
            "waiting_on": instance.waiting_on,
            "result": instance.output,
            "error": instance.error,
        }
