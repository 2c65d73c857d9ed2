"""The ordering microservice: a BPMN diagram run by trioflow, behind a small HTTP API.

    trioflow serve examples/ordering/app.py --db ordering.db

``ordering-items-workflow.bpmn`` (drawn in Camunda Modeler) validates an order, sends the
bill, and waits for a ``payment-received`` message correlated by ``orderId``. Paid in
time, accounting and delivery run in parallel; after 5 minutes without payment a friendly
reminder goes out, and after 10 more the order is cancelled. This file only supplies what
the diagram leaves to code: the service-task handlers and the HTTP routes. See README.md.
"""

from __future__ import annotations

import html
import logging
import urllib.parse
from pathlib import Path
from typing import Any

import trio.lowlevel
from quart import Response
from quart_trio import QuartTrio

from api import HTTPProblem, read_json
from runtime import Event, InstanceNotFound, Runtime, bpmn

PROCESS = "ordering-items-workflow"
PAYMENT = "payment-received"  # the message name in the diagram: an event of this type
log = logging.getLogger("ordering")

bpmn.load(Path(__file__).with_name(f"{PROCESS}.bpmn"))


# --- service-task handlers: each runs as an activity (journaled, retried) ----------------


@bpmn.handler("validate-order")
async def validate_order(variables: dict[str, Any]) -> dict[str, Any]:
    amount = variables.get("amount")
    if not isinstance(amount, int | float) or isinstance(amount, bool) or amount <= 0:
        raise bpmn.TaskError("INVALID_ORDER", f"amount {amount!r} is not a positive number")
    return {"valid": True}


@bpmn.handler("send-bill")
async def send_bill(variables: dict[str, Any]) -> dict[str, Any]:
    await trio.lowlevel.checkpoint()  # the billing system
    log.info("bill sent for order %s: %s", variables["orderId"], variables["amount"])
    return {"invoiceId": f"INV-{variables['orderId']}"}


@bpmn.handler("send-friendly-reminder")
async def send_friendly_reminder(variables: dict[str, Any]) -> dict[str, Any]:
    log.info("reminder sent for order %s", variables["orderId"])
    return {"reminded": True}


@bpmn.handler("cancel-order")
async def cancel_order(variables: dict[str, Any]) -> dict[str, Any]:
    log.info("order %s cancelled: not paid", variables["orderId"])
    return {"cancelled": True}


@bpmn.handler("update-accounting")
async def update_accounting(variables: dict[str, Any]) -> dict[str, Any]:
    return {"booked": True}


@bpmn.handler("package-and-deliver")
def package_and_deliver(variables: dict[str, Any]) -> dict[str, Any]:  # sync: a worker thread
    return {"trackingId": f"TRK-{variables['orderId']}"}


# --- HTTP routes ------------------------------------------------------------------------


def instance_id(order_id: str) -> str:
    return f"order-{order_id}"


def check_order(body: Any) -> tuple[str, float]:
    """``(orderId, amount)`` from the body, or a 400 naming the field."""
    if not isinstance(body, dict):
        raise HTTPProblem(400, 'the body must be {"orderId", "amount"}', kind="invalid-body")
    order_id, amount = body.get("orderId"), body.get("amount")
    if not isinstance(order_id, str) or not 0 < len(order_id) <= 64 or "/" in order_id:
        detail = "orderId: must be 1 to 64 characters, none of them '/'"
        raise HTTPProblem(400, detail, kind="invalid-body", field="orderId")
    if not isinstance(amount, int | float) or isinstance(amount, bool) or amount <= 0:
        raise HTTPProblem(400, "amount: must be a number > 0", kind="invalid-body", field="amount")
    return order_id, float(amount)


def routes(app: QuartTrio, runtime: Runtime) -> None:
    """The service's own routes, next to trioflow's (``trioflow serve`` calls this)."""

    async def order_state(order_id: str) -> dict[str, Any]:
        try:
            instance = await runtime.get(instance_id(order_id))
        except InstanceNotFound:
            raise HTTPProblem(404, f"no order {order_id!r}", kind="not-found") from None
        view = await runtime.query(instance.id) or {}
        return {
            "orderId": order_id,
            "instance_id": instance.id,
            "status": instance.status,
            "active": view.get("active", []),
            "completed": view.get("completed", []),
            "variables": view.get("variables", instance.input),
            "error": instance.error,
        }

    @app.post("/orders")
    async def create_order() -> Any:
        order_id, amount = check_order(await read_json())
        iid = await runtime.start(
            PROCESS, {"orderId": order_id, "amount": amount}, instance_id=instance_id(order_id)
        )
        location = f"/orders/{urllib.parse.quote(order_id, safe='')}"
        return {"orderId": order_id, "instance_id": iid}, 202, {"Location": location}

    @app.get("/orders/<order_id>")
    async def get_order(order_id: str) -> Any:
        return await order_state(order_id)

    @app.post("/orders/<order_id>/payment")
    async def pay_order(order_id: str) -> Any:
        state = await order_state(order_id)
        if state["status"] in ("completed", "failed", "cancelled"):
            raise HTTPProblem(409, f"order {order_id!r} is {state['status']}", kind="finished")
        data = await read_json(allow_empty=True)
        event = Event(type=PAYMENT, source="ordering-api", subject=order_id, data=data)
        result = await runtime.publish(event)
        return {"orderId": order_id, "delivered": list(result.delivered)}, 202

    @app.get("/orders/<order_id>/diagram")
    async def order_diagram(order_id: str) -> Any:
        state = await order_state(order_id)
        svg = await bpmn.instance_diagram(runtime, state["instance_id"])
        title = html.escape(f"Order {order_id}: {state['status']}")
        page = (
            "<!doctype html><html><head><meta charset=utf-8>"
            '<meta http-equiv="refresh" content="5">'
            f"<title>{title}</title></head>"
            '<body style="font-family:sans-serif">'
            f"<h1>{title}</h1>"
            "<p>Completed steps are green, the current ones orange.</p>"
            f'<div style="max-width:100%;overflow:auto">{svg}</div>'
            "</body></html>"
        )
        return Response(page, content_type="text/html; charset=utf-8")
