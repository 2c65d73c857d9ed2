"""Runtime.list by id prefix and by update time, and Runtime.counts."""

from __future__ import annotations

import pytest

from runtime import STATUSES, Runtime, WorkflowContext, workflow


@workflow(name="rl_waits")
async def rl_waits(ctx: WorkflowContext) -> None:
    await ctx.wait_event("go", subject=ctx.instance_id)


@workflow(name="rl_done")
async def rl_done(ctx: WorkflowContext) -> str:
    return "done"


async def test_counts_name_every_status_and_follow_the_filters(db: str) -> None:
    async with Runtime.open(db) as rt:
        await rt.start(rl_waits, instance_id="order-1")
        await rt.start(rl_waits, instance_id="order-2")
        await rt.result(await rt.start(rl_done, instance_id="order-3"), timeout=10)
        await rt.result(await rt.start(rl_done, instance_id="other"), timeout=10)
        counts = await rt.counts()
        assert list(counts) == list(STATUSES)
        assert counts["waiting"] == 2 and counts["completed"] == 2 and counts["failed"] == 0
        assert (await rt.counts(workflow="rl_done"))["completed"] == 2
        assert (await rt.counts(id_prefix="order-"))["completed"] == 1
        assert sum((await rt.counts(id_prefix="nothing")).values()) == 0


async def test_list_by_prefix_and_most_recently_updated_first(db: str) -> None:
    async with Runtime.open(db) as rt:
        for n in range(3):
            await rt.start(rl_waits, instance_id=f"w{n}")
        await rt.result(await rt.start(rl_done, instance_id="d0"), timeout=10)
        page = await rt.list(id_prefix="w", order="-updated", limit=2)
        assert [i.id for i in page.items] == ["w2", "w1"] and page.prev_cursor is None
        rest = await rt.list(id_prefix="w", order="-updated", limit=2, cursor=page.next_cursor)
        assert [i.id for i in rest.items] == ["w0"] and rest.next_cursor is None
        back = await rt.list(id_prefix="w", order="-updated", limit=2, cursor=rest.prev_cursor)
        assert [i.id for i in back.items] == ["w2", "w1"]
        assert (await rt.list(order="-updated", limit=1)).items[0].id == "d0"
        with pytest.raises(ValueError, match="order must be one of"):
            await rt.list(order="id")
