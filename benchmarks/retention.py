"""Retention under load: N two-activity instances on one SQLite file whose finished instances
are deleted `--retention` seconds after they finish, while new ones keep coming.

Instances are kept `--concurrency` in flight. Every `--every` seconds a sample is taken: the
instances finished so far and the rate since the last sample, their p50/p99 start-to-result
latency in that interval, the mean commit time of the journal (deletes share its transactions),
the instances stored and the file's size (database and WAL). With retention the file and the
rate must stay flat. `--minutes` stops the run early if N takes longer. `--retention never`
keeps everything: the last sample's `bytes_per_instance` is then what a finished instance costs.
Prints one JSON line. A progress bar is shown on stderr when stderr is a terminal and `rich` is
installed.

    python benchmarks/retention.py [--n 1000000] [--retention 5|never] [--minutes 10]
        [--every 10] [--concurrency 500] [--db PATH]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import TYPE_CHECKING, Any

import trio

from runtime import Runtime, WorkflowContext, activity, tune_gc, workflow

if TYPE_CHECKING:  # mypy, run from the repository's root, names this folder `benchmarks`
    from benchmarks import _common
else:  # run as a script, this file's folder comes first on the import path
    import _common


@activity
async def bench_retention_first(n: int) -> int:
    return n + 1


@activity
async def bench_retention_second(n: int) -> int:
    return n * 2


@workflow
async def bench_retention_two_steps(ctx: WorkflowContext, n: int) -> int:
    # `Any`: mypy types `ctx.run` of an async activity as the coroutine, not its result.
    first: Any = await ctx.run(bench_retention_first, n)
    second: Any = await ctx.run(bench_retention_second, first)
    return int(second)


def _retention(text: str) -> float | None:
    if text == "never":
        return None
    seconds = float(text)
    if not seconds > 0:
        raise argparse.ArgumentTypeError("--retention must be seconds > 0, or never")
    return seconds


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run N two-activity instances with a short retention and print one JSON"
        " line: file size, instances stored, throughput and latency sampled over time."
    )
    _common.add_n_option(parser, 1_000_000)
    _common.add_concurrency_option(parser, 500)
    parser.add_argument(
        "--retention",
        type=_retention,
        default=5.0,
        help="seconds a finished instance is kept, or never (default 5)",
    )
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="stop after this long (default 10)"
    )
    parser.add_argument("--every", type=float, default=10.0, help="seconds per sample (default 10)")
    _common.add_gc_option(parser)
    return _common.parse_args(
        parser,
        argv,
        "--n, --concurrency, --minutes and --every must be > 0",
        lambda a: a.n < 1 or a.concurrency < 1 or a.minutes <= 0 or a.every <= 0,
    )


def _file_bytes(path: str) -> tuple[int, int]:
    """The database file's size and its WAL's."""
    sizes = [os.path.getsize(p) if os.path.exists(p) else 0 for p in (path, path + "-wal")]
    return sizes[0], sizes[1]


async def _run(path: str, args: argparse.Namespace) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    latencies: list[float] = []
    done = 0
    async with Runtime.open(path, retention=args.retention) as rt:
        began = time.perf_counter()
        deadline = trio.current_time() + 60 * args.minutes
        last = {"t": 0.0, "done": 0, "batches": 0, "commit_seconds": 0.0}

        def sample() -> None:
            t = time.perf_counter() - began
            stats = rt.stats()
            database, wal = _file_bytes(path)
            stored = sum(stats.instances.values())
            batches = stats.journal.batches - last["batches"]
            committing = stats.journal.commit_seconds - last["commit_seconds"]
            samples.append(
                {
                    "t": round(t, 1),
                    "finished": done,
                    "instances_per_s": round((done - last["done"]) / (t - last["t"]), 1),
                    **_common.p50_p99_ms(latencies),
                    "mean_commit_ms": round(1000 * committing / max(1, batches), 2),
                    "stored": stored,
                    "file_mb": round(database / 2**20, 1),
                    "wal_mb": round(wal / 2**20, 1),
                    "bytes_per_instance": round((database + wal) / max(1, stored)),
                }
            )
            latencies.clear()
            last.update(
                t=t,
                done=done,
                batches=stats.journal.batches,
                commit_seconds=stats.journal.commit_seconds,
            )

        async def sampler() -> None:
            while True:
                await trio.sleep(args.every)
                sample()

        async def one(i: int) -> None:
            nonlocal done
            if trio.current_time() > deadline:
                return
            start = time.perf_counter()
            result = await rt.result(await rt.start(bench_retention_two_steps, i))
            latencies.append(time.perf_counter() - start)
            if result != (i + 1) * 2:
                raise AssertionError(f"instance {i} returned {result!r}")
            done += 1
            advance()

        with _common.progress("instances", args.n) as advance:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sampler)
                await _common.in_pool(args.n, args.concurrency, one)
                nursery.cancel_scope.cancel()
        sample()
    rates = [s["instances_per_s"] for s in samples[:-1]] or [samples[-1]["instances_per_s"]]
    files = [s["file_mb"] + s["wal_mb"] for s in samples]
    return {
        "benchmark": "retention",
        "retention_s": args.retention,
        "instances": done,
        "seconds": round(time.perf_counter() - began, 1),
        "instances_per_s": round(done / (time.perf_counter() - began), 1),
        "min_sample_rate": min(rates),
        "max_sample_rate": max(rates),
        "max_file_mb": max(files),
        "last_file_mb": files[-1],
        "samples": samples,
        "peak_rss_mb": _common.peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    with _common.database_path(args.db, "retention.db") as path:
        if args.gc == "tuned":
            tune_gc()
        result = trio.run(_run, path, args)
    _common.print_json_line({**result, "gc": args.gc})


if __name__ == "__main__":
    main()
