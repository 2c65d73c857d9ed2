"""Workflow throughput: N instances of a two-activity workflow on a fresh SQLite file.

Starts are kept `--concurrency` in flight at once; each instance's latency runs from just before
`rt.start` to when `rt.result` returns its output. Prints one JSON line. A progress bar is shown
on stderr when stderr is a terminal and `rich` is installed.

    python benchmarks/throughput.py [--n 5000] [--sync normal|full] [--concurrency 500] [--db PATH]
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
    _common.add_n_option(parser, 5000)
    _common.add_sync_option(parser)
    _common.add_concurrency_option(parser, 500)
    _common.add_gc_option(parser)
    return _common.parse_n_and_concurrency(parser, argv)


async def _run(
    path: str, n: int, sync: Literal["normal", "full"], concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    async with Runtime.open(path, synchronous=sync) as rt:
        with _common.progress("instances", n) as advance:

            async def one(i: int) -> None:
                began = time.perf_counter()
                instance_id = await rt.start(bench_two_steps, i)
                result = await rt.result(instance_id)
                latencies.append(time.perf_counter() - began)
                if result != (i + 1) * 2:
                    raise AssertionError(f"instance {i} returned {result!r}")
                advance()

            began = time.perf_counter()
            await _common.in_pool(n, concurrency, one)
            seconds = time.perf_counter() - began
    return {
        "benchmark": "throughput",
        "n": n,
        "sync": sync,
        "concurrency": concurrency,
        **_common.throughput_figures(n, seconds, latencies),
    }


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    with _common.database_path(args.db, "throughput.db") as path:
        if args.gc == "tuned":
            tune_gc()
        result = trio.run(_run, path, args.n, args.sync, args.concurrency)
    result = {**result, "gc": args.gc}
    _common.print_json_line(result)


if __name__ == "__main__":
    main()
