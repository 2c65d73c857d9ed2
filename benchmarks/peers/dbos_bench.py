"""DBOS (dbos 3.4): N instances of a two-step workflow on a fresh SQLite file.

The workload of `benchmarks/throughput.py` on DBOS Transact: an async `@DBOS.workflow()` that
awaits two trivial async `@DBOS.step()`s, started `--concurrency` at a time with
`DBOS.start_workflow_async` (which returns once the workflow's start is stored), then awaited
with `handle.get_result()`. Each instance's latency runs from just before the start to when its
result returned. Prints one JSON line like throughput.py. Run it with the interpreter of the
environment that `setup.sh` made:

    benchmarks/peers/.venv-dbos/bin/python benchmarks/peers/dbos_bench.py [--n 1000]
        [--concurrency 10] [--db PATH]

DBOS keeps its system database in SQLite with SQLite's own defaults (no WAL, `synchronous=FULL`),
through SQLAlchemy; async steps run on the caller's asyncio loop, database calls in threads.
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

from dbos import DBOS, DBOSConfig


@DBOS.step()
async def bench_first(n: int) -> int:
    return n + 1


@DBOS.step()
async def bench_second(n: int) -> int:
    return n * 2


@DBOS.workflow()
async def bench_two_steps(n: int) -> int:
    first = await bench_first(n)
    return await bench_second(first)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run N instances of a two-step DBOS workflow on a fresh SQLite file and"
        " print one JSON line: instances/s, steps/s, p50/p99 latency, peak RSS."
    )
    parser.add_argument("--n", type=int, default=1000, help="instances to run (default 1000)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=10,
        help="instances started and not yet finished at once (default 10)",
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
    config: DBOSConfig = {
        "name": "dbos-bench",
        "system_database_url": f"sqlite:///{path}",
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    latencies: list[float] = []
    limiter = asyncio.Semaphore(concurrency)
    try:
        with _progress(n) as advance:

            async def one(i: int) -> None:
                async with limiter:
                    began = time.perf_counter()
                    handle = await DBOS.start_workflow_async(bench_two_steps, i)
                    result = await handle.get_result()
                    latencies.append(time.perf_counter() - began)
                if result != (i + 1) * 2:
                    raise AssertionError(f"instance {i} returned {result!r}")
                advance()

            began = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            seconds = time.perf_counter() - began
    finally:
        DBOS.destroy()
    latencies.sort()
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if n > 1 else latencies * 99
    return {
        "benchmark": "dbos",
        "version": importlib.metadata.version("dbos"),
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
        path = os.path.abspath(args.db or os.path.join(tmp, "dbos.db"))
        result = asyncio.run(_run(path, args.n, args.concurrency))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
