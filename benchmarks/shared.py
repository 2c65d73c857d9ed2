"""Shared throughput: P processes on one PostgreSQL schema, each running N/P instances of the
two-activity workflow of `throughput.py`; instances/s of them all together.

Each process opens the runtime (registering as an owner of the schema), says it is ready, and
waits; once all are, they start together. Each drives the instances it starts (they are its
own: nothing crosses between processes), `--concurrency` in flight at once. The figure is
N over the time from the first process's start to the last one's end. Prints one JSON line.

    python benchmarks/shared.py --db postgresql://user@host/db [--n 10000] [--processes 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # mypy, run from the repository's root, names this folder `benchmarks`
    from benchmarks import _common
else:
    import _common

HERE = os.path.dirname(os.path.abspath(__file__))


def _child(url: str, n: int, concurrency: int) -> None:
    import trio

    from runtime import Runtime, tune_gc

    if TYPE_CHECKING:
        from benchmarks.throughput import bench_two_steps
    else:
        from throughput import bench_two_steps

    tune_gc()

    async def run() -> dict[str, Any]:
        latencies: list[float] = []
        async with Runtime.open(url) as rt:
            print("ready", flush=True)
            await trio.to_thread.run_sync(sys.stdin.readline)

            async def one(i: int) -> None:
                began = time.perf_counter()
                result = await rt.result(await rt.start(bench_two_steps, i))
                latencies.append(time.perf_counter() - began)
                if result != (i + 1) * 2:
                    raise AssertionError(f"instance {i} returned {result!r}")

            began = time.time()
            await _common.in_pool(n, concurrency, one)
            ended = time.time()
        return {
            "began": began,
            "ended": ended,
            **_common.throughput_figures(n, ended - began, latencies),
        }

    print(json.dumps(trio.run(run)), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a postgresql:// URL (a schema is made)")
    _common.add_n_option(parser, 10000, "instances to run, all processes together")
    parser.add_argument("--processes", type=int, default=2, help="processes (default 2)")
    _common.add_concurrency_option(parser, 500, "instances in flight at once in each process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.db, args.n, args.concurrency)
        return
    if not _common.is_postgres_url(args.db) or args.processes < 1 or args.n < args.processes:
        parser.error("--db must be a postgresql:// URL, --processes >= 1 and --n >= --processes")
    each = args.n // args.processes
    with _common.fresh_schema(args.db) as url:
        command = [sys.executable, os.path.join(HERE, "shared.py"), "--child", "--db", url]
        command += ["--n", str(each), "--concurrency", str(args.concurrency)]
        children = [
            subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(args.processes)
        ]
        try:
            for child in children:
                assert child.stdout is not None
                if child.stdout.readline().strip() != "ready":
                    raise RuntimeError("a process did not open the runtime")
            for child in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            figures = []
            for child in children:
                assert child.stdout is not None
                figures.append(json.loads(child.stdout.readline()))
                child.wait()
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
    seconds = max(f["ended"] for f in figures) - min(f["began"] for f in figures)
    _common.print_json_line(
        {
            "benchmark": "shared",
            "n": each * args.processes,
            "processes": args.processes,
            "concurrency": args.concurrency,
            "seconds": round(seconds, 3),
            "instances_per_s": round(each * args.processes / seconds, 1),
            "each_instances_per_s": [f["instances_per_s"] for f in figures],
            "p99_ms": max(f["p99_ms"] for f in figures),
        }
    )


if __name__ == "__main__":
    main()
