"""The app ``tests/test_http_fuzz.py`` serves with ``trioflow serve``: a workflow of each shape
a request can meet (typed input, any input, no input, waiting for events, triggered)."""

from __future__ import annotations

from typing import Any

import attrs

from runtime import WorkflowContext, workflow


@attrs.frozen
class Order:
    order_id: str
    amount: float
    lines: list[dict[str, int]] = attrs.Factory(list)


@workflow
async def typed(ctx: WorkflowContext, order: Order) -> float:
    return order.amount


@workflow
async def echo(ctx: WorkflowContext, value: Any) -> Any:
    return value


@workflow
async def waits(ctx: WorkflowContext) -> Any:
    first = await ctx.wait_event("fuzz.ping", timeout=3600)
    return first.data


@workflow(trigger="fuzz.signup")
async def on_signup(ctx: WorkflowContext, user: dict[str, str]) -> str:
    return user.get("name", "")
