"""Shipping: a BPMN process that reserves every item of an order at once and then calls a
payment process of its own, served by trioflow.

    trioflow serve examples/shipping/app.py --db shipping.db

``shipping.bpmn`` holds two processes. ``ship-order`` reserves each item in parallel (a
multi-instance service task: one job per item, the reservations collected in item order),
then calls ``collect-payment`` (a call activity: a child instance with the order's total),
whose receipt comes back through the call's output mapping. A declined card is a BPMN error
the child does not catch: it reaches the error boundary event on the call activity. This
file only supplies the handlers; trioflow's own API starts and shows the instances. See
README.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from runtime import bpmn

log = logging.getLogger("shipping")

bpmn.load(Path(__file__).with_name("shipping.bpmn"))


@bpmn.handler("reserve-item")
async def reserve_item(variables: dict[str, Any]) -> dict[str, Any]:
    item = variables["item"]
    if not isinstance(item, dict) or not isinstance(item.get("sku"), str):
        raise bpmn.TaskError("BAD_ITEM", f"item {item!r} has no sku")
    log.info("reserved %s (item %d)", item["sku"], variables["loopCounter"])
    return {"reservation": f"R-{variables['loopCounter']}-{item['sku']}"}


@bpmn.handler("charge-card")
async def charge_card(variables: dict[str, Any]) -> dict[str, Any]:
    total = variables["total"]
    if total > 1000:  # the card's limit, for the example
        raise bpmn.TaskError("CARD_DECLINED", f"{total} is over the card's limit")
    return {"receipt": f"PAID-{total:g}"}
