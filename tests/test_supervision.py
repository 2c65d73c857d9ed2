"""Supervision of workflow actors, and passivation of parked instances."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import trio
import trio.testing

from actors import RestartPolicy
from runtime import Event, Runtime, WorkflowContext, WorkflowFailed, activity, workflow
from runtime.store import Append, SqliteStore, StoreError, Write


class FlakyStore(SqliteStore):
    """Refuses every journal append of the instances in ``broken``: a storage fault."""

    broken: builtins.set[str]
    refused: int

    def write(self, appends: Sequence[Write]) -> builtins.list[StoreError | None]:
        ok = [a for a in appends if not (isinstance(a, Append) and self._refuses(a))]
        results = iter(super().write(ok))
        out: list[StoreError | None] = []
        for a in appends:
            if isinstance(a, Append) and self._refuses(a):
                self.refused += 1
                out.append(StoreError("disk I/O error"))
            else:
                out.append(next(results))
        return out

    def _refuses(self, append: Append) -> bool:
        return append.instance_id in self.broken and bool(append.records)


def flaky_store(path: str) -> FlakyStore:
    store = FlakyStore(path)
    store.broken = set()
    store.refused = 0
    return store


@activity
async def sv_step(n: int) -> int:
    return n + 1


@workflow(name="sv_flow")
async def sv_flow(ctx: WorkflowContext) -> int:
    await ctx.sleep(10)
    return int(await ctx.run(sv_step, 1))


async def test_a_storage_fault_restarts_then_suspends_only_that_instance(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    store = flaky_store(db)
    policy = RestartPolicy(max_restarts=2, within=60, initial_backoff=0.5)
    async with Runtime.open(db, store=store, restart_policy=policy) as rt:
        sick = await rt.start(sv_flow)
        healthy = await rt.start(sv_flow)
        store.broken.add(sick)
        assert await rt.result(healthy) == 2
        try:
            await rt.result(sick)
        except WorkflowFailed as exc:
            assert "disk I/O error" in str(exc)
        instance = await rt.get(sick)
        assert instance.status == "suspended"
        assert store.refused == 3  # the first failure and two restarts
        store.broken.clear()
        await rt.resume(sick)
        assert await rt.result(sick) == 2


@workflow(name="sv_parked")
async def sv_parked(ctx: WorkflowContext, key: str) -> Any:
    event = await ctx.wait_event("wake", subject=key)
    return event.data


async def test_at_most_max_resident_parked_instances_stay_in_memory(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db, max_resident=10) as rt:
        ids = [await rt.start(sv_parked, f"k{n}") for n in range(60)]
        await trio.testing.wait_all_tasks_blocked()
        assert rt.resident <= 10
        assert {(await rt.get(i)).status for i in ids} == {"waiting"}
        for n, iid in enumerate(ids):
            result = await rt.publish(Event(type="wake", subject=f"k{n}", data=n))
            assert result.delivered == (iid,)
        assert [await rt.result(i) for i in ids] == list(range(60))
        assert rt.resident <= 10
