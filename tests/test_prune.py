"""Pruning from outside: ``trioflow prune`` on a file, ``POST /prune`` on a running server,
and what HTTP clients see of an instance retention deleted."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from test_cli import run

from api import create_app
from runtime import Runtime, SqliteStore, WorkflowContext, open_read_only, workflow

DAY = 86400.0


@workflow(name="pr_done")
async def pr_done(ctx: WorkflowContext, n: int) -> int:
    return n + 1


@workflow(name="pr_waiting")
async def pr_waiting(ctx: WorkflowContext) -> None:
    await ctx.wait_event("pr.never")


async def three_days_old(db: str) -> tuple[list[str], str]:
    """Two instances that finished three days ago and one that waits since then."""
    async with Runtime.open(db, retention=None, wall_time=lambda: time.time() - 3 * DAY) as rt:
        done = [await rt.start(pr_done, n) for n in range(2)]
        for instance_id in done:
            await rt.result(instance_id, timeout=10)
        waiting = await rt.start(pr_waiting)
    return done, waiting


def stored(db: str) -> list[str]:
    with open_read_only(db) as store:
        return sorted(row.id for row in store.list(limit=500).items)


def test_a_dry_run_counts_and_deletes_nothing(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    done, waiting = trio.run(three_days_old, db)
    code, out, _ = run(["prune", "--older-than", "1d", "--dry-run", "--db", db], capsys)
    assert code == 0
    report = json.loads(out)
    assert (report["dry_run"], report["instances"]) == (True, 2)
    assert report["by_workflow"] == {"pr_done": 2} and report["by_status"] == {"completed": 2}
    assert stored(db) == sorted([*done, waiting])


def test_prune_deletes_the_old_finished_archives_them_and_keeps_the_rest(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done, waiting = trio.run(three_days_old, db)
    archive = tmp_path / "gone.jsonl"
    code, out, err = run(
        ["prune", "--older-than", "2d", "--db", db, "--archive", str(archive), "--vacuum"], capsys
    )
    assert code == 0, err
    report = json.loads(out)
    assert (report["dry_run"], report["instances"], report["archive"]) == (False, 2, str(archive))
    assert report["file_bytes_after"] > 0
    assert stored(db) == [waiting]
    lines = [json.loads(line) for line in archive.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(done)

    code, out, _ = run(["prune", "--older-than", "4d", "--db", db], capsys)
    assert json.loads(out)["instances"] == 0


@pytest.mark.parametrize("age", ["7x", "d", "-1d", "0s", "1.5h", ""])
def test_a_bad_duration_is_refused_naming_it(
    age: str, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["prune", f"--older-than={age}", "--db", db], capsys)
    assert code == 2
    assert "--older-than" in err and repr(age) in err
    code, _, err = run(["serve", "app.py", f"--retention={age}"], capsys)
    assert code == 2
    assert "--retention" in err and "never" in err


def test_prune_beside_a_running_server_says_to_go_through_it(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    trio.run(three_days_old, db)
    with SqliteStore(db):  # what a server on the file holds
        code, _, err = run(["prune", "--older-than", "1d", "--db", db], capsys)
        assert code == 1
        assert "trioflow prune --url" in err
        code, out, _ = run(["prune", "--older-than", "1d", "--dry-run", "--db", db], capsys)
        assert code == 0 and json.loads(out)["instances"] == 2


async def test_a_deleted_instance_is_gone_for_http_clients(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db, retention=3600) as rt:
        client = create_app(rt).test_client()
        done = await rt.start(pr_done, 1)
        waiting = await rt.start(pr_waiting)
        assert await rt.result(done) == 2
        await trio.sleep(2 * 3600)
        for path in (f"/instances/{done}", f"/instances/{done}/history"):
            response = await client.get(path)
            assert response.status_code == 404
        response = await client.get(f"/instances/{done}/result")
        assert response.status_code == 404
        listed = json.loads(await (await client.get("/instances")).get_data())
        assert [item["id"] for item in listed["items"]] == [waiting]
        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        assert not re.search(r'^trioflow_instances\{status="completed"\} [1-9]', metrics, re.M)
        assert re.search(r'^trioflow_instances\{status="waiting"\} 1', metrics, re.M)


async def test_post_prune_deletes_in_the_running_server(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db, retention=None) as rt:
        client = create_app(rt).test_client()
        done = await rt.start(pr_done, 1)
        await rt.result(done)
        await trio.sleep(2 * DAY)

        async def prune(query: str) -> tuple[int, Any]:
            response = await client.post("/prune?" + query)
            return response.status_code, json.loads(await response.get_data())

        status, report = await prune("older_than=1d&dry_run=true")
        assert (status, report["instances"], report["dry_run"]) == (200, 1, True)
        assert (await client.get(f"/instances/{done}")).status_code == 200
        status, report = await prune("older_than=3d")
        assert (status, report["instances"]) == (200, 0)
        status, report = await prune("older_than=1d")
        assert (status, report["instances"]) == (200, 1)
        assert (await client.get(f"/instances/{done}")).status_code == 404

        for query, parameter in (
            ("", "older_than"),
            ("older_than=7x", "older_than"),
            ("older_than=1d&dry_run=yes", "dry_run"),
            ("older_than=1d&force=true", "force"),
        ):
            status, problem = await prune(query)
            assert status == 400 and problem["detail"].startswith(parameter)
