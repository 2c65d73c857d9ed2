"""The workflow that `benchmarks/http.py` starts over HTTP, as an app module for `trioflow serve`.

    python -m api serve benchmarks/_bench_app.py --db bench.db --port 8001

One trivial activity, so that a start is cheap and the figure is the HTTP path's, not the work's.
"""

from __future__ import annotations

from typing import Any

from runtime import WorkflowContext, activity, workflow


@activity
async def bench_http_step(n: int) -> int:
    return n + 1


@workflow
async def bench_http_one(ctx: WorkflowContext, n: int) -> int:
    # `Any`: mypy types `ctx.run` of an async activity as the coroutine, not its result.
    result: Any = await ctx.run(bench_http_step, n)
    return int(result)
