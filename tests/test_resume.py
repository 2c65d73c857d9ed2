"""Resuming suspended instances: ``trioflow resume`` in the database and through a server,
and ``POST /instances/{id}/resume``."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest
import trio
from test_cli import run
from test_serve import server

from api import create_app
from api._serve import load_app_module
from runtime import Event, Runtime
from runtime.store import SqliteStore

APP = """
from runtime import WorkflowContext, activity, workflow


@activity
async def rs_step(n: int) -> int:
    return n + 1


@workflow
async def rs_flow(ctx: WorkflowContext, key: str) -> int:
    {change}
    event = await ctx.wait_event("rs.go", subject=key)
    return int(await ctx.run(rs_step, event.data))
"""


def app_file(tmp_path: Path, name: str, *, changed: bool) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(APP.format(change="await ctx.sleep(1)" if changed else "pass"))
    return str(path)


async def suspended(tmp_path: Path, db: str, keys: list[str]) -> str:
    """Starts an ``rs_flow`` per key with the code as it was, then opens the database with a
    changed workflow, which suspends them all; returns the file of the original code."""
    original = app_file(tmp_path, "rs_original", changed=False)
    load_app_module(original)
    async with Runtime.open(db) as rt:
        for key in keys:
            await rt.start("rs_flow", key, instance_id=key)
    load_app_module(app_file(tmp_path, "rs_changed", changed=True))
    async with Runtime.open(db) as rt:
        for key in keys:
            instance = await rt.get(key)
            assert instance.status == "suspended", instance
    return original


async def finishes(db: str, key: str, data: int) -> None:
    async with Runtime.open(db) as rt:
        await rt.publish(Event(type="rs.go", subject=key, data=data))
        assert await rt.result(key, timeout=10) == data + 1


async def test_resume_in_the_database_after_a_code_fix(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    original = await suspended(tmp_path, db, ["a", "b"])
    changed = app_file(tmp_path, "rs_still_changed", changed=True)
    code, out, _ = run(["resume", "--all-suspended", "--db", db, "--app", changed], capsys)
    assert code == 2
    assert [line.split("\t")[:2] for line in out.splitlines()] == [
        ["a", "suspended"],
        ["b", "suspended"],
    ]
    assert "still diverges: nondeterminism at step 1" in out

    code, out, err = run(["resume", "a", "--db", db, "--app", original], capsys)
    assert (code, err) == (0, "")
    assert out.startswith("a\twaiting\t")
    code, out, _ = run(["resume", "a", "nope", "--db", db, "--app", original], capsys)
    assert code == 1
    assert out.splitlines() == [
        "a\terror\tinstance 'a' is waiting, not suspended",
        "nope\terror\tno instance has id 'nope'",
    ]
    load_app_module(original)
    await finishes(db, "a", 41)
    async with Runtime.open(db) as rt:
        assert (await rt.get("b")).status == "suspended"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["resume", "--db", "x.db", "--app", "a.py"], "name the instances to resume"),
        (["resume", "a", "--all-suspended", "--db", "x.db", "--app", "a.py"], "not both"),
        (["resume", "a", "--db", "x.db"], "--db needs --app"),
        (["resume", "a", "--url", "http://h", "--app", "a.py"], "--app goes with --db"),
        (["resume", "a", "--url", "h:80"], "--url must start with http://"),
    ],
)
def test_resume_names_what_is_wrong_with_its_arguments(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert (code, out) == (1, "") and message in err


async def test_resume_through_a_running_server(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    original = await suspended(tmp_path, db, ["c", "d"])
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    async with server(original, db, token="s3cret") as (_, client):
        url = str(client.base_url)
        resume = functools.partial(run, capsys=capsys)
        code, out, err = await trio.to_thread.run_sync(
            resume, ["resume", "--all-suspended", "--url", url, "--token-file", str(token_file)]
        )
        assert (code, err) == (0, "")
        assert out.splitlines() == ["c\twaiting", "d\twaiting"]
        code, out, _ = await trio.to_thread.run_sync(resume, ["resume", "c", "--url", url])
        assert code == 1 and "c\terror\t" in out  # no token
        headers = {"Authorization": "Bearer s3cret"}
        event = {"type": "rs.go", "data": 1}
        for key in ("c", "d"):
            posted = await client.post(f"/instances/{key}/events", json=event, headers=headers)
            assert posted.status_code == 202
            answer = await client.get(f"/instances/{key}/result?wait=10", headers=headers)
            assert answer.json() == {"status": "completed", "output": 2}


async def test_resume_route_answers_404_409_and_the_status(tmp_path: Path, db: str) -> None:
    original = await suspended(tmp_path, db, ["e"])
    load_app_module(app_file(tmp_path, "rs_changed_again", changed=True))
    async with Runtime.open(db) as rt:
        client = create_app(rt).test_client()
        still = await client.post("/instances/e/resume")
        assert (still.status_code, (await still.get_json())["status"]) == (202, "suspended")
        assert (await client.post("/instances/nope/resume")).status_code == 404
    load_app_module(original)
    async with Runtime.open(db) as rt:
        client = create_app(rt).test_client()
        resumed = await client.post("/instances/e/resume")
        assert (resumed.status_code, await resumed.get_json()) == (
            202,
            {"instance_id": "e", "status": "waiting"},
        )
        again = await client.post("/instances/e/resume")
        assert again.status_code == 409
        assert json.loads(await again.get_data())["detail"] == (
            "instance 'e' is waiting, not suspended"
        )


async def test_resume_in_a_database_a_server_holds_points_to_url(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    original = await suspended(tmp_path, db, ["f"])
    with SqliteStore(db):  # as a running server holds it
        code, out, err = run(["resume", "f", "--db", db, "--app", original], capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"trioflow: database {db!r} is in use by process {os.getpid()}")
    assert "resume through it instead: trioflow resume --url http://HOST:PORT" in err
    assert err.count("\n") == 1
