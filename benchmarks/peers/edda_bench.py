"""Edda (edda-framework 0.16): N instances of a two-activity workflow on a fresh SQLite file.

The workload of `benchmarks/throughput.py` on Edda: a workflow that awaits two trivial async
activities (`@activity`), started `--concurrency` at a time with `Workflow.start`, which runs
the instance inline until it finishes; its result is then read back from Edda's storage. Each
instance's latency runs from just before `start` to when that read returned. One instance runs
alone first, untimed (see `_run`). Prints one JSON line
like throughput.py. Run it with the interpreter of the environment that `setup.sh` made:

    benchmarks/peers/.venv-edda/bin/python benchmarks/peers/edda_bench.py [--n 1000]
        [--concurrency 1] [--loop uvloop|asyncio] [--db PATH]

Edda runs on asyncio with SQLAlchemy over aiosqlite; it recommends uvloop (the default here) and
keeps SQLite's own defaults (no WAL, `synchronous=FULL`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.metadata
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from edda import EddaApp, WorkflowContext, activity, workflow


@activity
async def bench_first(ctx: WorkflowContext, n: int) -> int:
    return n + 1


@activity
async def bench_second(ctx: WorkflowContext, n: int) -> int:
    return n * 2


@workflow
async def bench_two_steps(ctx: WorkflowContext, n: int) -> int:
    first = await bench_first(ctx, n)
    return await bench_second(ctx, first)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run N instances of a two-activity Edda workflow on a fresh SQLite file and"
        " print one JSON line: instances/s, activities/s, p50/p99 latency, peak RSS."
    )
    parser.add_argument("--n", type=int, default=1000, help="instances to run (default 1000)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="instances started and not yet finished at once (default 1)",
    )
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop (default uvloop, as Edda recommends)",
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
    with progress_bar.Progress(console=console.Console(stderr=True), transient=True) as progress:
        task = progress.add_task("instances", total=total)
        yield lambda: progress.advance(task)


async def _run(path: str, n: int, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    limiter = asyncio.Semaphore(concurrency)
    app = EddaApp(service_name="edda-bench", db_url=f"sqlite:///{path}")
    await app.initialize()
    try:
        with _progress(n) as advance:

            async def one(i: int) -> None:
                async with limiter:
                    began = time.perf_counter()
                    instance_id = await bench_two_steps.start(n=i)
                    instance = await app.storage.get_instance(instance_id)
                    latencies.append(time.perf_counter() - began)
                output = (instance or {}).get("output_data") or {}
                if instance is None or instance["status"] != "completed":
                    raise AssertionError(f"instance {i} is {instance and instance['status']}")
                if output.get("result") != (i + 1) * 2:
                    raise AssertionError(f"instance {i} returned {output!r}")
                advance()

            # Not timed: with the first instances starting together, each stores the workflow's
            # definition, and all but one fail ("UNIQUE constraint failed: workflow_definitions").
            await bench_two_steps.start(n=-1)
            began = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            seconds = time.perf_counter() - began
    finally:
        await app.shutdown()
    latencies.sort()
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if n > 1 else latencies * 99
    return {
        "benchmark": "edda",
        "version": importlib.metadata.version("edda-framework"),
        "n": n,
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
        path = os.path.abspath(args.db or os.path.join(tmp, "edda.db"))
        if args.loop == "uvloop":
            import uvloop  # a dependency of edda-framework

            result = uvloop.run(_run(path, args.n, args.concurrency))
        else:
            result = asyncio.run(_run(path, args.n, args.concurrency))
        result["loop"] = args.loop
    print(json.dumps(result))


if __name__ == "__main__":
    main()
