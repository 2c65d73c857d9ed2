"""The ``trioflow`` command's reading commands on a database a runtime wrote."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest
import trio

from api import _cli, create_app
from api._cli import main
from api._serve import load_app_module, serve
from runtime import Registry, Runtime, bpmn

APP = """
from runtime import WorkflowContext, activity, workflow


@activity
async def cli_double(n: int) -> int:
    return n * 2


@workflow
async def cli_flow(ctx: WorkflowContext, n: int) -> int:
    return int(await ctx.run(cli_double, n + {offset}))
"""


def app_file(tmp_path: Path, name: str, offset: int = 0) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(APP.format(offset=offset))
    return str(path)


async def two_instances(tmp_path: Path, db: str) -> str:
    """Runs ``cli_flow`` once to its end and returns the id; leaves a second id ``other``."""
    load_app_module(app_file(tmp_path, "cli_app"))
    async with Runtime.open(db) as rt:
        done = await rt.start("cli_flow", 3, instance_id="done")
        assert await rt.result(done, timeout=10) == 6
        await rt.result(await rt.start("cli_flow", 1, instance_id="other"), timeout=10)
    return done


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
    except SystemExit as exit:
        code = int(exit.code or 0)
    else:
        code = 0
    out, err = capsys.readouterr()
    return code, out, err


async def test_instances_lists_and_filters(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await two_instances(tmp_path, db)
    code, out, _ = run(["instances", "--db", db], capsys)
    assert code == 0
    assert [line.split("\t")[:3] for line in out.splitlines()] == [
        ["done", "cli_flow", "completed"],
        ["other", "cli_flow", "completed"],
    ]
    code, out, _ = run(["instances", "--db", db, "--status", "failed"], capsys)
    assert (code, out) == (0, "")


async def test_show_prints_the_instance_and_its_journal(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    iid = await two_instances(tmp_path, db)
    code, out, _ = run(["show", iid, "--db", db], capsys)
    assert code == 0
    document, journal = out.split("\n}\n")
    assert json.loads(document + "}")["output"] == 6
    kinds = [line.split()[2] for line in journal.splitlines()]
    assert kinds == [
        "workflow_started",
        "activity_scheduled",
        "activity_completed",
        "workflow_completed",
    ]


async def test_replay_reports_a_changed_workflow_and_exits_2(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    iid = await two_instances(tmp_path, db)
    code, out, _ = run(["replay", iid, "--app", app_file(tmp_path, "cli_same"), "--db", db], capsys)
    assert code == 0 and json.loads(out)["ok"] is True
    changed = app_file(tmp_path, "cli_changed", offset=1)
    code, out, _ = run(["replay", iid, "--app", changed, "--db", db], capsys)
    report = json.loads(out)
    assert code == 2 and report["ok"] is False
    assert "cli_double(4)" in json.dumps(report)


@pytest.mark.parametrize(
    "command", [["instances"], ["show", "x"], ["replay", "x", "--app", "m"], ["check"]]
)
def test_a_reading_command_makes_no_database(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing.db")
    if command[0] == "replay":
        command[-1] = app_file(tmp_path, "cli_for_missing")
    code, out, err = run([*command, "--db", missing], capsys)
    assert (code, out) == (1, "")
    assert err == f"trioflow: no database at {missing!r} (--db names it)\n"
    assert not os.path.exists(missing)


async def test_unknown_instance_and_status_are_named(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await two_instances(tmp_path, db)
    assert run(["show", "nope", "--db", db], capsys)[::2] == (
        1,
        "trioflow: no instance has id 'nope'\n",
    )
    code, _, err = run(["instances", "--db", db, "--status", "done"], capsys)
    assert code == 2 and "invalid choice: 'done'" in err


def test_a_fatal_error_is_one_line_per_cause_and_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(args: object) -> None:
        try:
            raise ExceptionGroup("in a nursery", [ValueError("the first cause"), KeyError("k")])
        except ExceptionGroup as group:
            raise ExceptionGroup("outer", [group]) from None

    monkeypatch.setattr(_cli, "_check", failing)
    code, out, err = run(["check"], capsys)
    assert (code, out) == (1, "")
    assert err == "trioflow: the first cause\ntrioflow: KeyError: 'k'\n"
    code, _, err = run(["check", "--debug"], capsys)
    assert code == 1
    assert err.startswith("  + Exception Group Traceback") and "the first cause" in err


INCIDENTS = Path(__file__).parent / "bpmn" / "incidents.bpmn"


async def test_incidents_lists_them_and_resolve_asks_the_running_service(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = Registry()

    @bpmn.handler("charge-card", registry=registry)
    async def charge(variables: dict[str, Any]) -> dict[str, Any]:
        if variables["card"] != "good":
            raise ConnectionError("declined")
        return {"charged": True}

    bpmn.load(INCIDENTS, registry=registry)
    async with Runtime.open(db, registry=registry) as rt:
        iid = await rt.start("incident_charge", {"card": "bad"}, instance_id="cli-incident")
        with trio.move_on_after(5):  # two attempts, a second apart: then the incident
            await rt.result(iid)
    code, out, _ = run(["incidents", "--db", db], capsys)
    [line] = out.splitlines()
    assert code == 0 and line.split("\t")[:3] == ["cli-incident", "2", "Task_Charge"]
    assert "declined" in line

    async with Runtime.open(db, registry=registry) as rt, trio.open_nursery() as nursery:
        stop = trio.Event()
        [address] = await nursery.start(
            functools.partial(serve, create_app(rt), port=0, shutdown_trigger=stop.wait)
        )
        url = address
        code, out, _ = await trio.to_thread.run_sync(run, ["incidents", "--url", url], capsys)
        assert code == 0 and out.split("\t")[:2] == ["cli-incident", "2"]
        argv = ["resolve", iid, "2", "--url", url, "--variables", '{"card": "good"}']
        code, out, _ = await trio.to_thread.run_sync(run, argv, capsys)
        assert code == 0 and json.loads(out)["instance_id"] == iid
        assert await rt.result(iid) == {"card": "good", "charged": True}
        code, _, err = await trio.to_thread.run_sync(run, argv, capsys)
        assert code == 1 and "409" in err
        stop.set()


async def test_signal_broadcasts_through_the_running_service(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = Registry()
    bpmn.load(Path(__file__).parent / "bpmn" / "run_signal.bpmn", registry=registry)
    async with Runtime.open(db, registry=registry) as rt, trio.open_nursery() as nursery:
        stop = trio.Event()
        [url] = await nursery.start(
            functools.partial(serve, create_app(rt), port=0, shutdown_trigger=stop.wait)
        )
        argv = ["signal", "go", "--url", url, "--variables", '{"who": "cli"}']
        code, out, _ = await trio.to_thread.run_sync(run, argv, capsys)
        assert code == 0
        [started] = json.loads(out)["started"]
        assert await rt.result(started) == {"who": "cli"}
        bad = ["signal", "go", "--url", url, "--variables", "[1]"]
        code, _, err = await trio.to_thread.run_sync(run, bad, capsys)
        assert code == 1 and "400" in err and "variables" in err
        stop.set()
