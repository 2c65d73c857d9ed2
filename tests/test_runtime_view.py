"""``Runtime.open(drive=False)``: a view of a database another process drives. Its queries
read what is stored; it drives nothing and refuses every command, storing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime import Event, Runtime, WorkflowContext, workflow
from runtime._journal import JournalClosed
from runtime.store import open_read_only


@workflow(name="view_waiter")
async def view_waiter(ctx: WorkflowContext, order: str) -> str:
    await ctx.wait_event("go")
    return order


async def test_a_view_reads_what_is_stored_and_refuses_commands(tmp_path: Path) -> None:
    db = str(tmp_path / "view.db")
    async with Runtime.open(db) as runtime:
        await runtime.start("view_waiter", "o-1", instance_id="o-1")
        history = await runtime.history("o-1")
    with open_read_only(db) as reading:
        stored = reading.get("o-1")
    assert stored is not None and stored.status in ("running", "waiting")
    async with Runtime.open(db, store=open_read_only(db), drive=False) as view:
        instance = await view.get("o-1")
        assert (instance.status, instance.input, instance.blocked) == (stored.status, "o-1", None)
        assert [i.id for i in (await view.list()).items] == ["o-1"]
        assert await view.history("o-1") == history
        with pytest.raises(TimeoutError):
            await view.result("o-1", timeout=0)
        with pytest.raises(JournalClosed):
            await view.start("view_waiter", "o-2", instance_id="o-2")
        with pytest.raises(JournalClosed):
            await view.publish(Event(type="go", instanceid="o-1"))
        with pytest.raises(JournalClosed):
            await view.cancel("o-1")
        assert [i.id for i in (await view.list()).items] == ["o-1"]
    with open_read_only(db) as reading:
        assert reading.get("o-1") == stored  # nothing recovered, fired or written
