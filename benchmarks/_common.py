"""What the benchmark scripts share: their common options, a fresh database file, the optional
progress bar, the timed loops, peak RSS, latency percentiles and the one JSON line each prints.

Standard library only at import time: the peers (`benchmarks/peers/`) run in virtual environments
of their own, without trioflow or trio, and import this module by appending this folder to
`sys.path` (appending, so that `benchmarks/http.py` does not shadow the standard library's
`http`). `rich` is imported only to draw a progress bar, `trio` only by `in_pool` and `asyncio`
only by `time_instances`, the peers' loop.
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
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def is_postgres_url(db: str) -> bool:
    """Whether `--db` names a PostgreSQL database (else a SQLite file)."""
    return db.startswith(("postgresql://", "postgres://"))


def add_n_option(
    parser: argparse.ArgumentParser, default: int, what: str = "instances to run"
) -> None:
    parser.add_argument("--n", type=int, default=default, help=f"{what} (default {default})")


def add_concurrency_option(
    parser: argparse.ArgumentParser,
    default: int,
    what: str = "instances started and not yet finished at once",
) -> None:
    parser.add_argument(
        "--concurrency", type=int, default=default, help=f"{what} (default {default})"
    )


def add_sync_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sync",
        choices=("normal", "full"),
        default="normal",
        help="SQLite synchronous mode (default normal)",
    )


def add_gc_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gc",
        choices=("tuned", "default"),
        default="tuned",
        help="tuned: call runtime.tune_gc() before opening the runtime, as `trioflow serve`"
        " does (default); default: leave Python's collector settings as they are",
    )


def parse_args(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    rule: str,
    broken: Callable[[argparse.Namespace], bool],
) -> argparse.Namespace:
    """Add `--db` to `parser` and parse `argv`; exit with a usage error that states `rule` if
    `broken(args)`, or if `--db` names a file that exists: every run needs a fresh database."""
    parser.add_argument(
        "--db",
        default=None,
        help="SQLite file to create (default: a fresh temporary file), or a postgresql:// URL"
        " (the run gets a schema of its own there, dropped afterwards)",
    )
    args = parser.parse_args(argv)
    if broken(args):
        parser.error(rule)
    if args.db is not None and not is_postgres_url(args.db) and os.path.exists(args.db):
        parser.error(f"--db {args.db!r} exists already: the benchmark needs a fresh file")
    return args


def parse_n_and_concurrency(
    parser: argparse.ArgumentParser, argv: list[str] | None
) -> argparse.Namespace:
    """`parse_args` for a parser with `--n` and `--concurrency`, which must both be >= 1."""
    return parse_args(
        parser,
        argv,
        "--n and --concurrency must be >= 1",
        lambda args: args.n < 1 or args.concurrency < 1,
    )


def parse_rehydrate_args(
    argv: list[str] | None, description: str, every_help: str, repeat_help: str
) -> argparse.Namespace:
    """The options of the rehydration benchmarks: `--steps`, `--every`, `--repeat` (each
    >= 1), `--gc` and `--db`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=100_000, help="steps (default 100000)")
    parser.add_argument("--every", type=int, default=1000, help=f"{every_help} (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help=f"{repeat_help} (default 3)")
    add_gc_option(parser)
    return parse_args(
        parser,
        argv,
        "--steps, --every and --repeat must be >= 1",
        lambda a: a.steps < 1 or a.every < 1 or a.repeat < 1,
    )


@contextlib.contextmanager
def database_path(db: str | None, name: str) -> Iterator[str]:
    """Yield the absolute path of the SQLite file to create: `db` if given, else the file `name`
    in a temporary directory that is removed, with all in it, on exit. For a PostgreSQL URL,
    the URL of a fresh schema in that database, dropped on exit."""
    if db is not None and is_postgres_url(db):
        with fresh_schema(db) as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield os.path.abspath(db or os.path.join(tmp, name))


@contextlib.contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """Yield `url` naming a new, uniquely named schema of its database; dropped on exit."""
    import psycopg

    schema = f"bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}schema={schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.contextmanager
def progress(description: str, total: int) -> Iterator[Callable[[], None]]:
    """Yield a function to call once per item done; draws a bar on stderr only when stderr is a
    terminal and `rich` (optional: not a dependency) is installed."""
    if not sys.stderr.isatty():
        yield lambda: None
        return
    try:
        console = importlib.import_module("rich.console")
        progress_bar = importlib.import_module("rich.progress")
    except ImportError:
        yield lambda: None
        return
    # rich draws on stdout by default; stdout carries the JSON line.
    with progress_bar.Progress(console=console.Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


async def in_pool(count: int, width: int, one: Callable[[int], Awaitable[None]]) -> None:
    """Call `one(i)` for i in range(count), `width` at a time, from `width` long-lived Trio tasks
    (not one task per item: M parked tasks would be measured as the runtime's memory)."""
    import trio  # here, not above: the peers run without it

    items = iter(range(count))

    async def worker() -> None:
        for i in items:  # one shared iterator: each i goes to exactly one worker
            await one(i)

    async with trio.open_nursery() as nursery:
        for _ in range(min(width, count)):
            nursery.start_soon(worker)


async def time_instances(
    n: int,
    concurrency: int,
    run: Callable[[int], Awaitable[T]],
    check: Callable[[int, T], None],
) -> tuple[float, list[float]]:
    """Run instances 0 to n - 1 on asyncio, at most `concurrency` at once: `run(i)` starts
    instance i and returns its result, which `check(i, result)` verifies. Returns the seconds
    they took together and each one's latency, the time `run` took (start to result)."""
    import asyncio  # here, not above: it would add about 1 MB to the peak RSS of the others

    latencies: list[float] = []
    limiter = asyncio.Semaphore(concurrency)
    with progress("instances", n) as advance:

        async def one(i: int) -> None:
            async with limiter:
                began = time.perf_counter()
                result = await run(i)
                latencies.append(time.perf_counter() - began)
            check(i, result)
            advance()

        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        seconds = time.perf_counter() - began
    return seconds, latencies


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB, to 0.1: of this process, or with `RUSAGE_CHILDREN` of the
    largest child waited for."""
    peak = resource.getrusage(who).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)  # B vs KiB


def cut_points(latencies: Sequence[float], n: int = 100) -> list[float]:
    """The n - 1 cut points of `statistics.quantiles` (inclusive): cut i - 1 is the i/n quantile.
    Fewer than two latencies cannot be cut: the one there is (or 0.0) stands for every quantile."""
    if len(latencies) > 1:
        return statistics.quantiles(latencies, n=n, method="inclusive")
    return [*(latencies or [0.0])] * (n - 1)


def p50_p99_ms(latencies: Sequence[float], prefix: str = "") -> dict[str, float]:
    """`{prefix}p50_ms` and `{prefix}p99_ms`: the median and 99th percentile, in ms to 0.01."""
    cuts = cut_points(latencies)
    return {
        f"{prefix}p50_ms": round(1000 * cuts[49], 2),
        f"{prefix}p99_ms": round(1000 * cuts[98], 2),
    }


def throughput_figures(n: int, seconds: float, latencies: Sequence[float]) -> dict[str, float]:
    """The figures of throughput.py and its peers for `n` two-activity instances that ran in
    `seconds`, each taking one of `latencies` from start to result; peak RSS is taken now."""
    return {
        "seconds": round(seconds, 3),
        "instances_per_s": round(n / seconds, 1),
        "steps_per_s": round(2 * n / seconds, 1),
        **p50_p99_ms(latencies),
        "peak_rss_mb": peak_rss_mb(),
    }


def print_json_line(result: Mapping[str, Any]) -> None:
    """Print the benchmark's result on stdout, as the one line of JSON that is its output."""
    print(json.dumps(result))
