"""Workflows the viewer's tests show: waits, timers, a gather, a retried and a failing step."""

from __future__ import annotations

from runtime import RetryPolicy, WorkflowContext, activity, workflow

SCRIPT = "<script>window.pwned='{}'</script>"
"""A script that would set window.pwned if a page let it run."""

_flaky_calls: dict[str, int] = {}


@activity
async def ui_step(text: str) -> str:
    return text.upper()


@activity(retry=RetryPolicy(max_attempts=2, initial_interval=0.01))
async def ui_flaky(key: str) -> str:
    _flaky_calls[key] = _flaky_calls.get(key, 0) + 1
    if _flaky_calls[key] == 1:
        raise ConnectionError(f"gateway down for {key}")
    return "ok"


@activity(retry=RetryPolicy(max_attempts=1))
async def ui_broken(text: str) -> None:
    raise ValueError(SCRIPT.format("error") + text)


@workflow(name="ui_flow")
async def ui_flow(ctx: WorkflowContext, text: str) -> str:
    return str(await ctx.run(ui_step, text))


@workflow(name="ui_pay")
async def ui_pay(ctx: WorkflowContext, order: str) -> dict[str, object]:
    """Waits for payment-received about ``order``, then finishes."""
    paid = await ctx.wait_event("payment-received", subject=order)
    return {"order": order, "paid": paid.data}


@workflow(name="ui_sleeps")
async def ui_sleeps(ctx: WorkflowContext) -> None:
    await ctx.sleep(3600)


@workflow(name="ui_gather")
async def ui_gather(ctx: WorkflowContext, key: str) -> list[str]:
    first = await ctx.run(ui_step, "a")
    both = await ctx.gather(ctx.run(ui_step, "b"), ctx.run(ui_flaky, key))
    return [str(first), *map(str, both)]


@workflow(name="ui_fails")
async def ui_fails(ctx: WorkflowContext, text: str) -> None:
    await ctx.run(ui_broken, text)


def define_changing(argument: str) -> None:
    """(Re)defines ui_changing; instances started under one argument suspend under another."""

    @workflow(name="ui_changing")
    async def ui_changing(ctx: WorkflowContext) -> str:
        await ctx.run(ui_step, argument)
        await ctx.sleep(3600)
        return "done"
