"""Workflow throughput: N instances of a two-activity workflow on a fresh SQLite file.

Starts are kept `--concurrency` in flight at once; each instance's latency runs from just before
`rt.start` to when `rt.result` returns its output. Prints one JSON line. A progress bar is shown
on stderr when stderr is a terminal and `rich` is installed.

    python benchmarks/throughput.py [--n 5000] [--sync normal|full] [--concurrency 500] [--db PATH]
    python benchmarks/throughput.py --db postgresql://... --processes N

With `--processes N` (a PostgreSQL database), N worker processes (`_workers`) each open a
runtime on the same fresh schema and, started together, run every N-th instance, each with
`--concurrency` in flight. The figure is all N instances over the time from the start to the
last one's end; each process's own figures come beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import trio

from runtime import Runtime, WorkflowContext, activity, tune_gc, workflow
from runtime.store import upgrade_database

if TYPE_CHECKING:  # mypy, run from the repository's root, names this folder `benchmarks`
    from benchmarks import _common, _workers
else:  # run as a script, this file's folder comes first on the import path
    import _common
    import _workers


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
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="worker processes sharing the instances on one PostgreSQL database, started"
        " together, each with --concurrency in flight (default 1: this process alone)",
    )
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = _common.parse_n_and_concurrency(parser, argv)
    if args.processes < 1:
        parser.error("--processes must be >= 1")
    if args.processes > 1 and not (args.db and _common.is_postgres_url(args.db)):
        parser.error("--processes > 1 needs a PostgreSQL database (--db postgresql://...)")
    return args


async def _instances(
    rt: Runtime, inputs: range, concurrency: int, advance: Callable[[], None]
) -> list[float]:
    """Run an instance for each of `inputs`, `concurrency` at once; their latencies."""
    latencies: list[float] = []

    async def one(k: int) -> None:
        i = inputs[k]
        began = time.perf_counter()
        instance_id = await rt.start(bench_two_steps, i)
        result = await rt.result(instance_id)
        latencies.append(time.perf_counter() - began)
        if result != (i + 1) * 2:
            raise AssertionError(f"instance {i} returned {result!r}")
        advance()

    await _common.in_pool(len(inputs), concurrency, one)
    return latencies


async def _run(
    path: str, n: int, sync: Literal["normal", "full"], concurrency: int
) -> dict[str, Any]:
    async with Runtime.open(path, synchronous=sync) as rt:
        with _common.progress("instances", n) as advance:
            began = time.perf_counter()
            latencies = await _instances(rt, range(n), concurrency, advance)
            seconds = time.perf_counter() - began
    return {
        "benchmark": "throughput",
        "n": n,
        "sync": sync,
        "concurrency": concurrency,
        **_common.throughput_figures(n, seconds, latencies),
    }


async def _run_worker(url: str, inputs: range, concurrency: int) -> dict[str, Any]:
    """One worker of `--processes`: its share, `inputs`, run once the parent says go."""
    async with Runtime.open(url) as rt:
        await _workers.wait_for_go()
        began = time.time()
        latencies = await _instances(rt, inputs, concurrency, lambda: None)
        ended = time.time()
    return {
        "pid": os.getpid(),
        "n": len(inputs),
        "began": began,
        "ended": ended,
        "latencies": [round(latency, 6) for latency in latencies],
        "peak_rss_mb": _common.peak_rss_mb(),
    }


def _run_processes(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """Run `args.processes` workers on the schema at `url`, started together."""
    upgrade_database(url)  # once, before the workers open it together
    command = [sys.executable, os.path.abspath(__file__), "--db", url, "--n", str(args.n)]
    command += ["--concurrency", str(args.concurrency), "--processes", str(args.processes)]
    command += ["--gc", args.gc]
    workers = _workers.run_workers(command, args.processes)
    seconds = max(w["ended"] for w in workers) - min(w["began"] for w in workers)
    latencies = [latency for w in workers for latency in w["latencies"]]
    each = [
        {
            "pid": w["pid"],
            "n": w["n"],
            "seconds": round(w["ended"] - w["began"], 3),
            "instances_per_s": round(w["n"] / (w["ended"] - w["began"]), 1),
            **_common.p50_p99_ms(w["latencies"]),
            "peak_rss_mb": w["peak_rss_mb"],
        }
        for w in workers
    ]
    return {
        "benchmark": "throughput",
        "n": args.n,
        "processes": args.processes,
        "concurrency": args.concurrency,
        "seconds": round(seconds, 3),
        "instances_per_s": round(args.n / seconds, 1),
        "steps_per_s": round(2 * args.n / seconds, 1),
        **_common.p50_p99_ms(latencies),
        "peak_rss_mb": max(w["peak_rss_mb"] for w in workers),
        "per_process": each,
    }


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    if args.gc == "tuned":
        tune_gc()
    if args.worker is not None:  # the database is the parent's fresh schema
        inputs = _workers.share(args.n, args.processes, args.worker)
        _common.print_json_line(trio.run(_run_worker, args.db, inputs, args.concurrency))
        return
    with _common.database_path(args.db, "throughput.db") as path:
        if args.processes > 1:
            result = _run_processes(args, path)
        else:
            result = trio.run(_run, path, args.n, args.sync, args.concurrency)
            result = {**result, "processes": 1}
    result = {**result, "gc": args.gc}
    _common.print_json_line(result)


if __name__ == "__main__":
    main()
