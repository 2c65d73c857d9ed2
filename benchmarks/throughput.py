"""Workflow throughput: N instances of a two-activity workflow on a fresh SQLite file.

Starts are kept `--concurrency` in flight at once; each instance's latency runs from just before
`rt.start` to when `rt.result` returns its output. Prints one JSON line. A progress bar is shown
on stderr when stderr is a terminal and `rich` is installed.

    python benchmarks/throughput.py [--n 5000] [--sync normal|full] [--concurrency 500] [--db PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import trio

from runtime import Runtime, WorkflowContext, activity, workflow


@activity
async def bench_first(n: int) -> int:
    return n + 1


@activity
async def bench_second(n: int) -> int:
    return n * 2


@workflow
async def bench_two_steps(ctx: WorkflowContext, n: int) -> int:
    # `Any`: mypy types `ctx.run` of an async activity as the coroutine, not its result.
    first: Any = await ctx.run(bench_first, n)
    second: Any = await ctx.run(bench_second, first)
    return int(second)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run N instances of a two-activity workflow on a fresh SQLite file and print"
        " one JSON line: instances/s, activities/s, p50/p99 start-to-finish latency, peak RSS."
    )
    parser.add_argument("--n", type=int, default=5000, help="instances to run (default 5000)")
    parser.add_argument(
        "--sync",
        choices=("normal", "full"),
        default="normal",
        help="SQLite synchronous mode (default normal)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=500,
        help="instances started and not yet finished at once (default 500)",
    )
    parser.add_argument(
        "--db", default=None, help="SQLite file to create (default: a fresh temporary file)"
    )
    args = parser.parse_args(argv)
    if args.n < 1 or args.concurrency < 1:
        parser.error("--n and --concurrency must be >= 1")
    if args.db is not None and os.path.exists(args.db):
        parser.error(f"--db {args.db!r} exists already: the benchmark needs a fresh file")
    return args


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[], None]]:
    """Yield a function to call once per finished instance; draws a bar only on a terminal."""
    if not sys.stderr.isatty():
        yield lambda: None
        return
    try:
        console = importlib.import_module("rich.console")  # optional: not a dependency
        progress_bar = importlib.import_module("rich.progress")
    except ImportError:
        yield lambda: None
        return
    # rich draws on stdout by default; stdout carries the JSON line.
    with progress_bar.Progress(console=console.Console(stderr=True), transient=True) as progress:
        task = progress.add_task("instances", total=total)
        yield lambda: progress.advance(task)


async def _run(
    path: str, n: int, sync: Literal["normal", "full"], concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    limiter = trio.CapacityLimiter(concurrency)
    async with Runtime.open(path, synchronous=sync) as rt:
        with _progress(n) as advance:

            async def one(i: int) -> None:
                async with limiter:
                    began = time.perf_counter()
                    instance_id = await rt.start(bench_two_steps, i)
                    result = await rt.result(instance_id)
                    latencies.append(time.perf_counter() - began)
                if result != (i + 1) * 2:
                    raise AssertionError(f"instance {i} returned {result!r}")
                advance()

            began = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for i in range(n):
                    nursery.start_soon(one, i)
            seconds = time.perf_counter() - began
    latencies.sort()
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if n > 1 else latencies * 99
    return {
        "benchmark": "throughput",
        "n": n,
        "sync": sync,
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "instances_per_s": round(n / seconds, 1),
        "steps_per_s": round(2 * n / seconds, 1),
        "p50_ms": round(1000 * cuts[49], 2),
        "p99_ms": round(1000 * cuts[98], 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or os.path.join(tmp, "throughput.db")
        result = trio.run(_run, path, args.n, args.sync, args.concurrency)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
