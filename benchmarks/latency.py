"""Latency under a fixed offered load: a two-activity workflow started `--rate` times a second.

An open-loop generator: instance i is due at `t0 + i / rate` and is started then, whether or not
the earlier ones have finished (each start runs in a task of its own). An instance's latency runs
from the time it was due to when `rt.result` returned its output, so a start that the generator
issued late (because the process was busy) counts its delay: coordinated omission is not hidden.
Prints one JSON line. A progress bar is shown on stderr when stderr is a terminal and `rich` is
installed.

    python benchmarks/latency.py [--rate 500] [--seconds 10] [--sync normal|full] [--db PATH]
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Literal

import trio

from runtime import Overloaded, Runtime, WorkflowContext, activity, tune_gc, workflow

if TYPE_CHECKING:  # mypy, run from the repository's root, names this folder `benchmarks`
    from benchmarks import _common
else:  # run as a script, this file's folder comes first on the import path
    import _common


@activity
async def bench_latency_first(n: int) -> int:
    return n + 1


@activity
async def bench_latency_second(n: int) -> int:
    return n * 2


@workflow
async def bench_latency_two_steps(ctx: WorkflowContext, n: int) -> int:
    # `Any`: mypy types `ctx.run` of an async activity as the coroutine, not its result.
    first: Any = await ctx.run(bench_latency_first, n)
    second: Any = await ctx.run(bench_latency_second, first)
    return int(second)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Start a two-activity workflow RATE times a second for SECONDS, on a schedule"
        " that does not wait for earlier instances, and print one JSON line: the rates achieved"
        " and p50/p99/p999/max latency from each instance's due time to its result."
    )
    parser.add_argument(
        "--rate", type=float, default=500.0, help="offered starts per second (default 500)"
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="how long to offer the load (default 10)"
    )
    _common.add_sync_option(parser)
    _common.add_gc_option(parser)
    return _common.parse_args(
        parser,
        argv,
        "--rate and --seconds must be > 0",
        lambda args: args.rate <= 0 or args.seconds <= 0,
    )


async def _run(
    path: str, rate: float, seconds: float, sync: Literal["normal", "full"]
) -> dict[str, Any]:
    total = max(1, round(rate * seconds))
    latencies: list[float] = []
    overloaded = 0
    in_flight = max_in_flight = 0
    max_lag = 0.0
    async with Runtime.open(path, synchronous=sync) as rt:
        with _common.progress("instances", total) as advance:

            async def one(i: int, due: float) -> None:
                nonlocal overloaded, in_flight
                try:
                    instance_id = await rt.start(bench_latency_two_steps, i)
                    result = await rt.result(instance_id)
                except Overloaded:
                    overloaded += 1
                    return
                finally:
                    in_flight -= 1
                    advance()
                latencies.append(trio.current_time() - due)
                if result != (i + 1) * 2:
                    raise AssertionError(f"instance {i} returned {result!r}")

            async with trio.open_nursery() as nursery:
                t0 = trio.current_time()
                for i in range(total):
                    due = t0 + i / rate
                    await trio.sleep_until(due)
                    max_lag = max(max_lag, trio.current_time() - due)
                    in_flight += 1
                    max_in_flight = max(max_in_flight, in_flight)
                    nursery.start_soon(one, i, due)
                issued = trio.current_time() - t0
            finished = trio.current_time() - t0
    latencies.sort()
    cuts = _common.cut_points(latencies, 1000)
    # The last start was due at (total - 1) / rate: count the interval it opens as well.
    span = issued + 1 / rate
    return {
        "benchmark": "latency",
        "offered_rate": rate,
        "seconds": seconds,
        "sync": sync,
        "instances": total,
        "completed": len(latencies),
        "overloaded": overloaded,
        "start_rate": round(total / span, 1),
        "completion_rate": round(len(latencies) / finished, 1),
        "p50_ms": round(1000 * cuts[499], 2),
        "p99_ms": round(1000 * cuts[989], 2),
        "p999_ms": round(1000 * cuts[998], 2),
        "max_ms": round(1000 * latencies[-1], 2) if latencies else 0.0,
        "max_start_lag_ms": round(1000 * max_lag, 2),
        "max_in_flight": max_in_flight,
        "peak_rss_mb": _common.peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    with _common.database_path(args.db, "latency.db") as path:
        if args.gc == "tuned":
            tune_gc()
        result = trio.run(_run, path, args.rate, args.seconds, args.sync)
    result = {**result, "gc": args.gc}
    _common.print_json_line(result)


if __name__ == "__main__":
    main()
