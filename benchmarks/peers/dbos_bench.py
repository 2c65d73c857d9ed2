"""DBOS (dbos 3.4): N instances of a two-step workflow on a fresh SQLite file or PostgreSQL
database.

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
With `--db postgresql://user@host/db` it runs on that server instead, in a database of its own
(`dbos_bench_<pid>`, made for the run and dropped after it), as DBOS wants one to itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import sys
import urllib.parse
from collections.abc import Iterator
from typing import Any

from dbos import DBOS, DBOSConfig

# `_common` is in the folder above. It goes last on the import path: that folder holds `http.py`,
# which must not shadow the standard library's `http`.
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _common


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
    _common.add_n_option(parser, 1000)
    _common.add_concurrency_option(parser, 10)
    return _common.parse_n_and_concurrency(parser, argv)


async def _run(path: str, n: int, concurrency: int) -> dict[str, Any]:
    url = path if _common.is_postgres_url(path) else f"sqlite:///{path}"
    config: DBOSConfig = {
        "name": "dbos-bench",
        "system_database_url": url,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()

    async def run(i: int) -> Any:
        handle = await DBOS.start_workflow_async(bench_two_steps, i)
        return await handle.get_result()

    def check(i: int, result: Any) -> None:
        if result != (i + 1) * 2:
            raise AssertionError(f"instance {i} returned {result!r}")

    try:
        seconds, latencies = await _common.time_instances(n, concurrency, run, check)
    finally:
        DBOS.destroy()
    return {
        "benchmark": "dbos",
        "version": importlib.metadata.version("dbos"),
        "n": n,
        "concurrency": concurrency,
        **_common.throughput_figures(n, seconds, latencies),
    }


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    if args.db is not None and _common.is_postgres_url(args.db):
        with _own_database(args.db) as url:
            result = asyncio.run(_run(url, args.n, args.concurrency))
        result["database"] = "postgresql"
    else:
        with _common.database_path(args.db, "dbos.db") as path:
            result = asyncio.run(_run(path, args.n, args.concurrency))
    _common.print_json_line(result)


@contextlib.contextmanager
def _own_database(url: str) -> Iterator[str]:
    """A new database on the server `url` names, for this run only; dropped on exit."""
    import psycopg

    name = f"dbos_bench_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urllib.parse.urlsplit(url)
    try:
        yield urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
