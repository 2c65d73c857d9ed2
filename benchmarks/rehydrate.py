"""Rehydration: what bringing back a long-lived instance costs, with and without runs.

Two instances, each in a fresh file of its own, do the same N steps (one trivial activity each)
and then wait for an event that never comes: `long` in one run, `chained` continuing as new
every `--every` steps. The runtime itself builds both. Then, with the runtime closed, each is
rehydrated as a process that comes back to it does: its current run's journal read, decoded and
replayed through the workflow core (`replay_report`, best of `--repeat`); and its file opened
with `Runtime.open`, which recovers every unfinished instance before it returns. Prints one JSON
line.

    python benchmarks/rehydrate.py [--steps 100000] [--every 1000] [--repeat 3] [--db PATH]
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import attrs
import trio

from runtime import (
    Runtime,
    WorkflowContext,
    activity,
    open_read_only,
    registry,
    replay_report,
    tune_gc,
    workflow,
)

if TYPE_CHECKING:  # mypy, run from the repository's root, names this folder `benchmarks`
    from benchmarks import _common
else:  # run as a script, this file's folder comes first on the import path
    import _common


@attrs.frozen
class Progress:
    done: int
    steps: int
    every: int


@activity
async def bench_rehydrate_step(n: int) -> int:
    return n + 1


@workflow
async def bench_rehydrate_long(ctx: WorkflowContext, steps: int) -> None:
    for n in range(steps):
        await ctx.run(bench_rehydrate_step, n)
    await ctx.wait_event("bench.never")


@workflow
async def bench_rehydrate_chained(ctx: WorkflowContext, progress: Progress) -> None:
    end = min(progress.steps, progress.done + progress.every)
    for n in range(progress.done, end):
        await ctx.run(bench_rehydrate_step, n)
    if end < progress.steps:
        ctx.continue_as_new(attrs.evolve(progress, done=end))
    await ctx.wait_event("bench.never")


async def _build(db: str, instance_id: str, steps: int, every: int) -> None:
    async with Runtime.open(db) as rt:
        if instance_id == "long":
            await rt.start(bench_rehydrate_long, steps, instance_id=instance_id)
        else:
            progress = Progress(done=0, steps=steps, every=every)
            await rt.start(bench_rehydrate_chained, progress, instance_id=instance_id)
        # Polling: it waits for an event that never comes, so there is no result to wait for.
        while (await rt.get(instance_id)).status != "waiting":  # noqa: ASYNC110
            await trio.sleep(0.2)


def _replay_seconds(db: str, instance_id: str, repeat: int) -> tuple[float, int, int]:
    """Best time of `repeat` replays; the records replayed and the journal's whole length."""
    best = float("inf")
    with open_read_only(db) as store:
        row = store.get(instance_id)
        assert row is not None
        for _ in range(repeat):
            started = time.perf_counter()
            report = replay_report(registry, store, instance_id)
            best = min(best, time.perf_counter() - started)
            assert report.ok, report
    return best, report.records, row.last_seq


async def _open_seconds(db: str) -> float:
    started = time.perf_counter()
    async with Runtime.open(db):
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    args = _common.parse_rehydrate_args(
        argv,
        "Rehydrate an instance of N steps in one run and one that continued as new"
        " every --every steps; print one JSON line.",
        "steps per run when chained",
        "replays timed",
    )
    if args.gc == "tuned":
        tune_gc()
    result: dict[str, Any] = {"benchmark": "rehydrate", "steps": args.steps, "every": args.every}
    with _common.database_path(args.db, "rehydrate.db") as path:
        for instance_id in ("long", "chained"):
            db = f"{path}.{instance_id}"
            started = time.perf_counter()
            trio.run(_build, db, instance_id, args.steps, args.every)
            result[f"{instance_id}_build_seconds"] = round(time.perf_counter() - started, 1)
            seconds, replayed, journal = _replay_seconds(db, instance_id, args.repeat)
            result[f"{instance_id}_journal_records"] = journal
            result[f"{instance_id}_replayed_records"] = replayed
            result[f"{instance_id}_replay_seconds"] = round(seconds, 4)
            result[f"{instance_id}_open_seconds"] = round(trio.run(_open_seconds, db), 3)
    result["gc"] = args.gc
    _common.print_json_line(result)


if __name__ == "__main__":
    main()
