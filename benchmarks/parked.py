"""Parked instances: M instances waiting for an event, their memory, then resume throughput.

Starts M instances that each wait for an event (`wait_event("wake", subject=str(i))`), keeping
`--batch` starts in flight; measures the time to start them all and the process's RSS once they
are all parked (current RSS from /proc/self/statm, peak from getrusage; per instance: the growth
of current RSS since the runtime opened, divided by M) and how many workflow actors stay in memory.
Then publishes the M events, `--batch` at a time, and measures how many instances per second
resume and complete (`publish` returns once the instance's completion is committed). Prints one
JSON line. A progress bar is shown on stderr when stderr is a terminal and `rich` is installed.

    python benchmarks/parked.py [--m 100000] [--max-resident 10000] [--batch 500] [--db PATH]
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from typing import TYPE_CHECKING, Any

import trio

from runtime import Event, Runtime, WorkflowContext, tune_gc, workflow

if TYPE_CHECKING:  # mypy, run from the repository's root, names this folder `benchmarks`
    from benchmarks import _common
else:  # run as a script, this file's folder comes first on the import path
    import _common


@workflow
async def bench_parked(ctx: WorkflowContext, key: str) -> Any:
    event = await ctx.wait_event("wake", subject=key)
    return event.data


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Park M instances on an event wait, measure start time, RSS per instance and"
        " resident actors, then publish M events and measure resumes per second. Prints one"
        " JSON line."
    )
    parser.add_argument("--m", type=int, default=100_000, help="instances (default 100000)")
    parser.add_argument(
        "--max-resident",
        type=int,
        default=10_000,
        help="workflow actors kept in memory (Runtime.open max_resident; default 10000)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=500,
        help="starts, then publishes, in flight at once (default 500)",
    )
    _common.add_gc_option(parser)
    return _common.parse_args(
        parser,
        argv,
        "--m and --batch must be >= 1, --max-resident >= 0",
        lambda args: args.m < 1 or args.batch < 1 or args.max_resident < 0,
    )


async def _run(path: str, m: int, max_resident: int, batch: int) -> dict[str, Any]:
    ids: list[str] = [""] * m
    latencies: list[float] = []
    async with Runtime.open(path, max_resident=max_resident) as rt:
        gc.collect()
        rss_before = _current_rss()

        with _common.progress("starting", m) as advance:

            async def start(i: int) -> None:
                ids[i] = await rt.start(bench_parked, str(i), instance_id=f"parked-{i}")
                advance()

            began = time.perf_counter()
            await _common.in_pool(m, batch, start)
            start_seconds = time.perf_counter() - began

        gc.collect()
        rss_parked = _current_rss()
        peak_parked = _common.peak_rss_mb()
        resident_parked = rt.resident
        # Sampled, not all M: a full check would page through every row and touch the cache.
        for i in range(0, m, max(1, m // 100)):
            status = (await rt.get(ids[i])).status
            if status != "waiting":
                raise AssertionError(f"instance {ids[i]} is {status}, not parked")

        with _common.progress("resuming", m) as advance:

            async def wake(i: int) -> None:
                sent = time.perf_counter()
                result = await rt.publish(Event(type="wake", subject=str(i), data=i))
                latencies.append(time.perf_counter() - sent)
                if result.delivered != (ids[i],):
                    raise AssertionError(f"event {i} was delivered to {result.delivered}")
                advance()

            began = time.perf_counter()
            await _common.in_pool(m, batch, wake)
            resume_seconds = time.perf_counter() - began

        left = await rt.list(status="waiting", limit=1)
        if left.items:
            raise AssertionError(f"instance {left.items[0].id} is still waiting")
        for i in range(0, m, max(1, m // 100)):
            if await rt.result(ids[i], timeout=0) != i:
                raise AssertionError(f"instance {ids[i]} returned the wrong event data")
        resident_after = rt.resident

    return {
        "benchmark": "parked",
        "m": m,
        "max_resident": max_resident,
        "batch": batch,
        "start_seconds": round(start_seconds, 3),
        "starts_per_s": round(m / start_seconds, 1),
        "rss_before_mb": _mb(rss_before),
        "rss_parked_mb": _mb(rss_parked),
        "peak_rss_parked_mb": peak_parked,
        "rss_per_instance_bytes": None
        if rss_before is None or rss_parked is None
        else round((rss_parked - rss_before) / m),
        "resident_parked": resident_parked,
        "resume_seconds": round(resume_seconds, 3),
        "resumes_per_s": round(m / resume_seconds, 1),
        **_common.p50_p99_ms(latencies, prefix="resume_"),
        "resident_after": resident_after,
        "peak_rss_mb": _common.peak_rss_mb(),
    }


def _current_rss() -> int | None:
    """Resident set size now, in bytes (Linux only: None elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _mb(size: int | None) -> float | None:
    return None if size is None else round(size / (1024 * 1024), 1)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    with _common.database_path(args.db, "parked.db") as path:
        if args.gc == "tuned":
            tune_gc()
        result = trio.run(_run, path, args.m, args.max_resident, args.batch)
    result = {**result, "gc": args.gc}
    _common.print_json_line(result)


if __name__ == "__main__":
    main()
