"""Timer lateness: N instances sleep on durable timers due over a few seconds; how late each
workflow carries on after its due time.

Instance i sleeps `--after + --over * i / n` seconds from its start, so the timers fall due
evenly over `--over` seconds (n / over a second), all after the last start. When its timer
fires, the workflow runs one activity that reads the wall clock: its lateness is that time
minus the due time (the start's recorded time plus the sleep). It counts everything between
the due time and the workflow running again: the timer service waking, the fired timer's
journal append and its commit, and the next step's activity being run. Prints one JSON line.
A progress bar is shown on stderr when stderr is a terminal and `rich` is installed.

    python benchmarks/timers.py [--n 10000] [--after 2] [--over 4] [--sync normal|full]
        [--db PATH]
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any, Literal

import trio

from runtime import Runtime, WorkflowContext, activity, tune_gc, workflow

if TYPE_CHECKING:  # mypy, run from the repository's root, names this folder `benchmarks`
    from benchmarks import _common
else:  # run as a script, this file's folder comes first on the import path
    import _common

START_CONCURRENCY = 500


@activity
async def bench_timer_lateness(due: float) -> float:
    return time.time() - due


@workflow
async def bench_timer(ctx: WorkflowContext, seconds: float) -> float:
    due = ctx.now().timestamp() + seconds
    await ctx.sleep(seconds)
    # `Any`: mypy types `ctx.run` of an async activity as the coroutine, not its result.
    lateness: Any = await ctx.run(bench_timer_lateness, due)
    return float(lateness)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Start N instances sleeping on durable timers that fall due evenly over"
        " OVER seconds, AFTER seconds from now, and print one JSON line: how late each workflow"
        " carried on after its due time (p50, p99, max), fires per second, peak RSS."
    )
    _common.add_n_option(parser, 10_000)
    parser.add_argument(
        "--after",
        type=float,
        default=2.0,
        help="seconds from an instance's start to the first due time; longer than the starts"
        " take (default 2)",
    )
    parser.add_argument(
        "--over",
        type=float,
        default=4.0,
        help="seconds over which the due times are spread (default 4)",
    )
    _common.add_sync_option(parser)
    _common.add_gc_option(parser)
    return _common.parse_args(
        parser,
        argv,
        "--n must be >= 1, --after and --over >= 0",
        lambda args: args.n < 1 or args.after < 0 or args.over < 0,
    )


async def _run(
    path: str, n: int, after: float, over: float, sync: Literal["normal", "full"]
) -> dict[str, Any]:
    ids: list[str] = [""] * n
    lateness: list[float] = []
    async with Runtime.open(path, synchronous=sync) as rt:
        began = time.perf_counter()

        async def start(i: int) -> None:
            ids[i] = await rt.start(bench_timer, after + over * i / n)

        await _common.in_pool(n, START_CONCURRENCY, start)
        start_seconds = time.perf_counter() - began
        with _common.progress("timers", n) as advance:

            async def finish(i: int) -> None:
                lateness.append(await rt.result(ids[i]))
                advance()

            await _common.in_pool(n, START_CONCURRENCY, finish)
    cuts = _common.cut_points(lateness)
    return {
        "benchmark": "timers",
        "n": n,
        "after": after,
        "over": over,
        "sync": sync,
        "start_seconds": round(start_seconds, 3),
        "fires_per_s": round(n / over, 1) if over else None,
        "late_p50_ms": round(1000 * cuts[49], 2),
        "late_p99_ms": round(1000 * cuts[98], 2),
        "late_max_ms": round(1000 * max(lateness), 2),
        "late_min_ms": round(1000 * min(lateness), 2),
        "peak_rss_mb": _common.peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    with _common.database_path(args.db, "timers.db") as path:
        if args.gc == "tuned":
            tune_gc()
        result = trio.run(_run, path, args.n, args.after, args.over, args.sync)
    _common.print_json_line({**result, "gc": args.gc})


if __name__ == "__main__":
    main()
