"""Blocked instances (the store takes no writes) in the viewer and in Runtime.counts."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from pathlib import Path

import apsw
import trio
import trio.testing
from _ui_pages import get_page

from api import create_app
from runtime import Runtime, WorkflowContext, activity, workflow
from runtime.store import SqliteStore, StoreError, Write

GATE: list[trio.Event] = []


class FullDisk(SqliteStore):
    full = False

    def write(self, appends: Sequence[Write]) -> builtins.list[StoreError | None]:
        if self.full:
            raise apsw.FullError("database or disk is full")
        return super().write(appends)


@activity
async def ub_step() -> str:
    await GATE[0].wait()
    return "done"


@workflow(name="ub_flow")
async def ub_flow(ctx: WorkflowContext) -> str:
    return str(await ctx.run(ub_step))


async def test_blocked_instances_are_counted_listed_and_explained(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    GATE[:] = [trio.Event()]
    store = FullDisk(tmp_path / "blocked.db")
    async with Runtime.open(store=store) as rt:
        for name in ("disk-1", "disk-2", "other"):
            await rt.start(ub_flow, instance_id=name)
        await trio.testing.wait_all_tasks_blocked()
        store.full = True
        GATE[0].set()  # the results cannot be journaled: the instances block
        await trio.sleep(10)
        assert (await rt.counts())["blocked"] == 3 and (await rt.counts())["running"] == 0
        assert (await rt.counts(id_prefix="disk-"))["blocked"] == 2
        assert (await rt.counts(workflow="elsewhere"))["blocked"] == 0
        page = await rt.list(status="blocked", id_prefix="disk-")
        assert [i.id for i in page.items] == ["disk-1", "disk-2"]

        client = create_app(rt).test_client()
        listed = await get_page(client, "/ui/?status=blocked&id=disk-")
        assert "/ui/instances/disk-2" in listed.links and "/ui/instances/other" not in listed.links
        assert "database or disk is full" in listed.words
        shown = await get_page(client, "/ui/instances/disk-1")
        assert "Status blocked" in shown.words
        assert "database or disk is full; it carries on by itself once the database" in shown.words
        resume = [a for t, a in shown.tags if t == "form" and a.get("data-action") == "resume"]
        assert resume and "hidden" not in resume[0]
        store.full = False
        assert await rt.result("disk-1", timeout=10) == "done"
