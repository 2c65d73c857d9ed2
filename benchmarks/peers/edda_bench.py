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
import importlib.metadata
import os
import sys
from typing import Any

from edda import EddaApp, WorkflowContext, activity, workflow

# `_common` is in the folder above. It goes last on the import path: that folder holds `http.py`,
# which must not shadow the standard library's `http`.
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _common


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
    _common.add_n_option(parser, 1000)
    _common.add_concurrency_option(parser, 1)
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop (default uvloop, as Edda recommends)",
    )
    return _common.parse_n_and_concurrency(parser, argv)


async def _run(path: str, n: int, concurrency: int) -> dict[str, Any]:
    app = EddaApp(service_name="edda-bench", db_url=f"sqlite:///{path}")
    await app.initialize()

    async def run(i: int) -> Any:
        instance_id = await bench_two_steps.start(n=i)
        return await app.storage.get_instance(instance_id)

    def check(i: int, instance: Any) -> None:
        output = (instance or {}).get("output_data") or {}
        if instance is None or instance["status"] != "completed":
            raise AssertionError(f"instance {i} is {instance and instance['status']}")
        if output.get("result") != (i + 1) * 2:
            raise AssertionError(f"instance {i} returned {output!r}")

    try:
        # Not timed: with the first instances starting together, each stores the workflow's
        # definition, and all but one fail ("UNIQUE constraint failed: workflow_definitions").
        await bench_two_steps.start(n=-1)
        seconds, latencies = await _common.time_instances(n, concurrency, run, check)
    finally:
        await app.shutdown()
    return {
        "benchmark": "edda",
        "version": importlib.metadata.version("edda-framework"),
        "n": n,
        "concurrency": concurrency,
        **_common.throughput_figures(n, seconds, latencies),
    }


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    with _common.database_path(args.db, "edda.db") as path:
        if args.loop == "uvloop":
            import uvloop  # a dependency of edda-framework

            result = uvloop.run(_run(path, args.n, args.concurrency))
        else:
            result = asyncio.run(_run(path, args.n, args.concurrency))
        result["loop"] = args.loop
    _common.print_json_line(result)


if __name__ == "__main__":
    main()
