"""Recovery: how long a fresh process takes to pick up K unfinished instances and finish them.

A child process (this script with `--create`) starts K instances of a two-activity workflow whose
second activity never returns in that process, waits until every instance has finished its first
activity and has its second in flight, then SIGKILLs itself. This process then opens the file
with `Runtime.open`, which replays every journal and runs each second activity again before it
returns, and measures the time until `open` returns (all K recovered and running again) and until
all K have completed. Prints one JSON line. A progress bar (the starts in the child, then the
completions) is shown on stderr when stderr is a terminal and `rich` is installed.

    python benchmarks/recovery.py [--k 10000] [--max-resident 10000] [--db PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import trio

from runtime import Runtime, WorkflowContext, activity, tune_gc, workflow

if TYPE_CHECKING:  # mypy, run from the repository's root, names this folder `benchmarks`
    from benchmarks import _common
else:  # run as a script, this file's folder comes first on the import path
    import _common

_HANG = False
"""True in the child: the second activity never returns, so the kill finds it in flight."""
_reran = 0
"""Second activities that ran to the end in this process."""


@activity
async def bench_recovery_first(n: int) -> int:
    return n + 1


@activity
async def bench_recovery_second(n: int) -> int:
    global _reran
    if _HANG:
        await trio.sleep_forever()
    _reran += 1
    return n * 2


@workflow
async def bench_recovery(ctx: WorkflowContext, n: int) -> int:
    # `Any`: mypy types `ctx.run` of an async activity as the coroutine, not its result.
    first: Any = await ctx.run(bench_recovery_first, n)
    second: Any = await ctx.run(bench_recovery_second, first)
    return int(second)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Leave K instances unfinished in a killed process (each with an activity in"
        " flight), then measure how long a fresh Runtime.open takes to recover them and how long"
        " until all complete. Prints one JSON line."
    )
    parser.add_argument("--k", type=int, default=10_000, help="instances (default 10000)")
    parser.add_argument(
        "--max-resident",
        type=int,
        default=10_000,
        help="Runtime.open max_resident in both processes (default 10000)",
    )
    parser.add_argument("--create", action="store_true", help=argparse.SUPPRESS)
    _common.add_gc_option(parser)
    return _common.parse_args(
        parser,
        argv,
        "--k must be >= 1, --max-resident >= 0",
        lambda args: args.k < 1 or args.max_resident < 0,
    )


def _instance_ids(k: int) -> list[str]:
    return [f"recover-{i}" for i in range(k)]


async def _create(path: str, k: int, max_resident: int) -> None:
    """The child: leave K instances with their second activity in flight, then die."""
    ids = _instance_ids(k)
    # Room for all K hung activities: with fewer slots they would starve the first activities.
    async with Runtime.open(path, max_resident=max_resident, max_concurrent_activities=k) as rt:
        began = time.perf_counter()

        with _common.progress("starting", k) as advance:

            async def start(i: int) -> None:
                await rt.start(bench_recovery, i, instance_id=ids[i])
                advance()

            await _common.in_pool(k, 500, start)
        # Polling the summary rows: "in flight" is what the journal says, which is what counts.
        pending = ids
        while pending:
            pending = [i for i in pending if not await _second_is_in_flight(rt, i)]
            if pending:
                await trio.sleep(0.05)
        seconds = time.perf_counter() - began
        print(json.dumps({"create_seconds": round(seconds, 3)}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # a crash: nothing is closed or flushed


async def _second_is_in_flight(rt: Runtime, instance_id: str) -> bool:
    waiting_on = (await rt.get(instance_id)).waiting_on or []
    return any(item.get("name") == bench_recovery_second.name for item in waiting_on)


def _run_child(path: str, k: int, max_resident: int) -> float:
    """Run the child to its death; return how long it took to create the K instances."""
    command = [sys.executable, os.path.abspath(__file__), "--create", "--db", path]
    command += ["--k", str(k), "--max-resident", str(max_resident)]
    # The child's stderr is this one's: its progress bar shows on a terminal, its errors too.
    child = subprocess.run(command, stdout=subprocess.PIPE, check=False)
    if child.returncode != -signal.SIGKILL:
        raise RuntimeError(
            f"the child exited with {child.returncode}, not SIGKILL (its stderr is above)"
        )
    created: float = json.loads(child.stdout)["create_seconds"]
    return created


async def _recover(path: str, k: int, max_resident: int) -> dict[str, Any]:
    ids = _instance_ids(k)
    began = time.perf_counter()
    async with Runtime.open(path, max_resident=max_resident) as rt:
        open_seconds = time.perf_counter() - began
        reran_at_open = _reran
        resident_at_open = rt.resident

        with _common.progress("completing", k) as advance:

            async def finish(i: int) -> None:
                result = await rt.result(ids[i])
                if result != (i + 1) * 2:
                    raise AssertionError(f"instance {ids[i]} returned {result!r}")
                advance()

            await _common.in_pool(k, 500, finish)
        complete_seconds = time.perf_counter() - began
    if _reran != k:
        raise AssertionError(f"{_reran} second activities ran again, not {k}")
    return {
        "open_seconds": round(open_seconds, 3),
        "recovered_per_s": round(k / open_seconds, 1),
        "activities_rerun_at_open": reran_at_open,
        "resident_at_open": resident_at_open,
        "complete_seconds": round(complete_seconds, 3),
        "completed_per_s": round(k / complete_seconds, 1),
    }


def main(argv: list[str] | None = None) -> None:
    global _HANG
    args = _parse(argv)
    if args.create:
        _HANG = True
        trio.run(_create, args.db, args.k, args.max_resident)
        return
    with _common.database_path(args.db, "recovery.db") as path:
        create_seconds = _run_child(path, args.k, args.max_resident)
        db_bytes = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
        if args.gc == "tuned":
            tune_gc()
        figures = trio.run(_recover, path, args.k, args.max_resident)
    result = {
        "benchmark": "recovery",
        "k": args.k,
        "max_resident": args.max_resident,
        "create_seconds": create_seconds,
        "db_mb": round(db_bytes / (1024 * 1024), 1),
        **figures,
        "peak_rss_mb": _common.peak_rss_mb(),
        "gc": args.gc,
    }
    _common.print_json_line(result)


if __name__ == "__main__":
    main()
