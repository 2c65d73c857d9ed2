"""Runs: ``ctx.continue_as_new`` ends a run and starts the next one of the same instance."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing
from _ui_pages import get_page

from api import create_app
from api._cli import main
from api._ui import _pages as ui_pages
from runtime import (
    Event,
    InvalidInput,
    Run,
    Runtime,
    WorkflowContext,
    WorkflowFailed,
    activity,
    workflow,
)
from runtime.store import open_read_only

ran: list[int] = []


@attrs.frozen
class Tally:
    round: int
    total: int


@activity
async def runs_add(total: int, amount: int) -> int:
    ran.append(amount)
    return total + amount


@workflow(name="runs_loop")
async def runs_loop(ctx: WorkflowContext, tally: Tally) -> int:
    total = await ctx.run(runs_add, tally.total, tally.round)
    if tally.round < 3:
        ctx.continue_as_new(Tally(round=tally.round + 1, total=total))
    return total


async def settle(rt: Runtime, iid: str) -> None:
    """Let the instance run until it waits (the clock only jumps when all is idle)."""
    with trio.move_on_after(1):
        await rt.result(iid)


async def test_each_run_starts_with_the_input_the_last_one_gave(db: str) -> None:
    ran.clear()
    async with Runtime.open(db) as rt:
        iid = await rt.start(runs_loop, Tally(round=1, total=0), instance_id="loop")
        assert await rt.result(iid, timeout=10) == 6
        instance = await rt.get(iid)
        assert (instance.status, instance.run, instance.output) == ("completed", 3, 6)
        assert instance.input == {"round": 1, "total": 0}  # the instance's first input
        runs = await rt.runs(iid)
        assert [(run.run, run.input, run.ended) for run in runs] == [
            (1, {"round": 1, "total": 0}, "continued"),
            (2, {"round": 2, "total": 1}, "continued"),
            (3, {"round": 3, "total": 3}, "completed"),
        ]
        history = await rt.history(iid)
        assert [item.seq for item in history] == list(range(1, len(history) + 1))
        for run in runs:
            assert {h.run for h in history if run.first_seq <= h.seq <= run.last_seq} == {run.run}
        # Replay checks the current run only.
        report = await rt.replay(iid)
        assert report.ok and report.records == runs[-1].last_seq - runs[-1].first_seq + 1
        # Starting the instance again with its first input is the same start, not a conflict.
        assert await rt.start(runs_loop, Tally(round=1, total=0), instance_id="loop") == "loop"
    assert ran == [1, 2, 3]


@workflow(name="runs_bad_input")
async def runs_bad_input(ctx: WorkflowContext, tally: Tally) -> str:
    await ctx.run(runs_add, 0, 0)
    try:
        ctx.continue_as_new({"round": "two", "total": 0})
    except InvalidInput as exc:
        return str(exc)
    return "continued"


async def test_input_that_does_not_fit_is_refused_in_workflow_code_and_nothing_ends(
    db: str,
) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(runs_bad_input, Tally(round=1, total=0))
        assert "input.round" in await rt.result(iid, timeout=10)
        kinds = [item.kind for item in await rt.history(iid)]
        assert "workflow_continued" not in kinds
        assert kinds.count("workflow_started") == 1
        assert (await rt.get(iid)).run == 1


@workflow(name="runs_at_once")
async def runs_at_once(ctx: WorkflowContext) -> None:
    ctx.continue_as_new()


async def test_continuing_before_awaiting_anything_fails_rather_than_looping(db: str) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(runs_at_once)
        with pytest.raises(WorkflowFailed, match="ContinueAsNewError"):
            await rt.result(iid, timeout=10)


@workflow(name="runs_waiter")
async def runs_waiter(ctx: WorkflowContext, round: int) -> list[str]:
    taken: list[str] = []
    if round == 1:
        ctx.sleep(1000)  # pending when the run ends: dropped with it
        await ctx.wait_event("tick", timeout=1500)
        ctx.wait_event("never")  # a wait of the old run: dropped too
        await ctx.sleep(10)
        ctx.continue_as_new(2)
    await ctx.sleep(2000)  # past the old run's timers
    for _ in range(2):
        event = await ctx.wait_event("tick")
        taken.append(event.id)
    return taken


async def test_the_old_runs_timers_and_waits_go_and_its_untaken_events_stay(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(runs_waiter, 1)
        await settle(rt, iid)
        assert (await rt.publish(Event(type="tick", source="s", id="e1"))).delivered == (iid,)
        # Arrives while run 1 sleeps: not taken by it, so run 2 takes it; e1 it never takes.
        assert (await rt.publish(Event(type="tick", source="s", id="e2"))).delivered == ()
        with trio.move_on_after(100):  # run 1 ends after its 10 s sleep; run 2 sleeps on
            await rt.result(iid)
        assert (await rt.get(iid)).run == 2
        with open_read_only(db) as store:
            # Run 1 numbered steps 1 to 4; run 2 counts on: its sleep is step 5.
            assert [t.step for t in store.timers()] == [5]
            assert store.waits_of(iid) == []
        await rt.publish(Event(type="tick", source="s", id="e3"))
        assert await rt.result(iid) == ["e2", "e3"]


def test_runs_of_an_instance_that_never_continued_is_its_one_run(db: str) -> None:
    async def main() -> list[Run]:
        async with Runtime.open(db) as rt:
            iid = await rt.start(runs_loop, Tally(round=3, total=0))
            await rt.result(iid, timeout=10)
            return await rt.runs(iid)

    (only,) = trio.run(main)
    assert (only.run, only.first_seq, only.ended, only.input) == (
        1,
        1,
        "completed",
        {"round": 3, "total": 0},
    )


async def test_the_viewer_the_http_history_and_the_cli_show_the_chain_of_runs(
    db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Runtime.open(db) as rt:
        await rt.result(await rt.start(runs_loop, Tally(round=2, total=0), instance_id="two"))
        client = create_app(rt).test_client()
        page = await get_page(client, "/ui/instances/two")
        assert "started runs_loop, run 2" in page.words
        assert "run 1 continued as new: run 2 follows" in page.words
        assert "#seq-1" in page.links and "records 1 to 4" in page.words
        # A journal too long to show whole: the link to a run out of sight shows all of it.
        monkeypatch.setattr(ui_pages, "JOURNAL_SHOWN", 4)
        page = await get_page(client, "/ui/instances/two")
        assert "?journal=all#seq-1" in page.links and "#seq-5" in page.links
        history = await (await client.get("/instances/two/history")).get_json()
        assert [(run["run"], run["ended"]) for run in history["runs"]] == [
            (1, "continued"),
            (2, "completed"),
        ]
        assert {item["run"] for item in history["items"]} == {1, 2}
        assert (await (await client.get("/instances/two")).get_json())["run"] == 2
    main(["show", "two", "--db", db])
    headings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("run ")]
    assert headings == ["run 1", "run 2"]


@workflow(name="runs_stubborn")
async def runs_stubborn(ctx: WorkflowContext, round: int) -> None:
    try:
        await ctx.wait_event("never")
    finally:
        ctx.continue_as_new(round + 1)


async def test_a_cancelled_run_that_continues_as_new_ends_cancelled(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(runs_stubborn, 1)
        await settle(rt, iid)
        await rt.cancel(iid, reason="enough")
        instance = await rt.get(iid)
        assert (instance.status, instance.run) == ("cancelled", 1)
        assert instance.error == {"type": "WorkflowCancelled", "message": "enough"}


@activity
async def runs_slow(label: str, seconds: float) -> str:
    await trio.sleep(seconds)
    return label


@workflow(name="runs_racer")
async def runs_racer(ctx: WorkflowContext, round: int) -> str:
    if round == 1:
        # The activity loses the race and is still running when the run ends.
        await ctx.first(ctx.run(runs_slow, "old", 100), ctx.sleep(1))
        ctx.continue_as_new(2)
    return await ctx.run(runs_slow, "new", 200)


async def test_a_late_result_of_the_old_run_is_not_taken_by_the_new_one(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(runs_racer, 1)
        assert await rt.result(iid) == "new"
        history = await rt.history(iid)
        completed = [h for h in history if h.kind == "activity_completed"]
        assert [(h.run, h.data["result"]) for h in completed] == [(2, "new")]
