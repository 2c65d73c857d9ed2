"""Routing latency: an event published to one process for an instance another process drives,
both on one PostgreSQL database. How long until the owner has it?

A child process (the owner, ``--owner``) starts N instances that each wait for an event and
says so; this process then publishes the N events, one every ``--every`` seconds (latency,
not throughput), through a runtime of its own, which stores each and notifies the owner. The
figure for an event runs from the moment before ``publish`` was called here to the time the
owner's instance took it (the ``at`` of its ``event_received`` journal record, in the owner's
clock: the same host's wall clock). Prints one JSON line: p50/p99/max in milliseconds, and
how many events were forwarded (all of them, unless ownership moved).

    python benchmarks/routing.py --db postgresql://user@host/db [--n 200] [--every 0.01]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import trio

from runtime import Event, Runtime, WorkflowContext, workflow

if TYPE_CHECKING:  # mypy, run from the repository's root, names this folder `benchmarks`
    from benchmarks import _common
else:
    import _common


@workflow
async def bench_routed(ctx: WorkflowContext, key: str) -> Any:
    event = await ctx.wait_event("bench.routed", subject=key)
    return event.data


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a PostgreSQL URL")
    _common.add_n_option(parser, 200, "events (and instances)")
    parser.add_argument("--every", type=float, default=0.01, help="seconds between events")
    parser.add_argument(
        "--lose-notifications",
        action="store_true",
        help="send no NOTIFY: every event waits for the owner's poll (the fallback's latency)",
    )
    parser.add_argument("--owner", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def _own(url: str, n: int) -> None:
    """The owner: start the instances, say so, and serve until they have all finished."""
    async with Runtime.open(url) as rt:
        for i in range(n):
            await rt.start(bench_routed, f"k{i}", instance_id=f"routed-{i}")
        # Each waits once its start is committed: the wait is stored with the start.
        print("ready", flush=True)
        for i in range(n):
            await rt.result(f"routed-{i}")


async def _publish(
    url: str, n: int, every: float, lose: bool, owner: subprocess.Popen[str]
) -> None:
    assert owner.stdout is not None
    line = await trio.to_thread.run_sync(owner.stdout.readline)
    if line.strip() != "ready":
        raise SystemExit(f"the owner did not start: {line!r}")
    sent: dict[str, float] = {}
    forwarded = 0
    async with Runtime.open(url) as rt:
        if lose:  # as if each notification were lost with a dropped connection
            link = getattr(rt._services.peers, "_link")  # noqa: B009  (private on purpose)
            link.notify = lambda owners, payload: None
        with _common.progress("routing", n) as advance:
            for i in range(n):
                sent[f"routed-{i}"] = time.time()
                result = await rt.publish(Event(type="bench.routed", subject=f"k{i}", data=i))
                forwarded += len(result.forwarded)
                advance()
                await trio.sleep(every)
        latencies = []
        for iid, at in sent.items():
            with trio.fail_after(60):
                await rt.result(iid)
            [taken] = [item for item in await rt.history(iid) if item.kind == "event_received"]
            latencies.append(taken.at.timestamp() - at)
    owner.wait(timeout=60)
    _common.print_json_line(
        {
            "benchmark": "routing",
            "n": n,
            "forwarded": forwarded,
            "notified": not lose,
            **_stats(latencies),
        }
    )


def _stats(latencies: list[float]) -> dict[str, float]:
    figures = _common.p50_p99_ms(latencies)
    figures["max_ms"] = round(max(latencies) * 1000, 2)
    return figures


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    if args.owner:
        trio.run(_own, args.db, args.n)
        return
    if not _common.is_postgres_url(args.db):
        raise SystemExit("routing needs a PostgreSQL database (--db postgresql://...)")
    with _common.database_path(args.db, "") as url:
        command = [sys.executable, os.path.abspath(__file__), "--owner", "--db", url]
        with subprocess.Popen(
            [*command, "--n", str(args.n)], stdout=subprocess.PIPE, text=True
        ) as owner:
            try:
                trio.run(_publish, url, args.n, args.every, args.lose_notifications, owner)
            finally:
                if owner.poll() is None:
                    owner.kill()


if __name__ == "__main__":
    main()
