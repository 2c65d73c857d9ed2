"""A real crash while retention deletes: SIGKILL the process midway through its deletes and
check that every instance that should stay is whole, every one that went is archived whole,
and that no instance is half deleted."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import prune_worker
import pytest
import trio
from _processes import run_until_killed
from prune_worker import HOUR, KEPT, OLD, WAITING, ids

from runtime import Event, Runtime
from runtime.store import SqliteStore

KILL_AFTER_ARCHIVED = 1_500
"""Three batches archived: the first deletes have committed, seventeen batches are left."""


def archived(path: Path) -> dict[str, dict[str, Any]]:
    """The archive's whole lines by instance id (a line the kill tore is left out)."""
    lines: dict[str, dict[str, Any]] = {}
    for text in path.read_text().splitlines() if path.exists() else ():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        lines[line["id"]] = line
    return lines


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
async def test_a_kill_while_pruning_loses_nothing_that_should_stay(tmp_path: Path) -> None:
    db, archive = tmp_path / "prune.db", tmp_path / "archive.jsonl"
    await prune_worker.fill(str(db))
    killed = await run_until_killed(
        prune_worker.__file__,
        [str(db), str(archive)],
        tmp_path / "child-stderr.txt",
        ready=b"pruning\n",
        timeout=60,
        until=lambda: _lines(archive) >= KILL_AFTER_ARCHIVED,
    )
    assert killed.output == b"pruning\n"

    lines = archived(archive)
    with SqliteStore(db) as store:
        for instance_id in ids("kept", KEPT) + ids("waiting", WAITING):
            row = store.get(instance_id)
            assert row is not None, f"{instance_id} should stay"
            assert [r.seq for r in store.read(instance_id)] == list(range(1, row.last_seq + 1))
        left = 0
        for instance_id in ids("old", OLD):
            row = store.get(instance_id)
            if row is not None:
                left += 1
                assert [r.seq for r in store.read(instance_id)] == list(range(1, row.last_seq + 1))
            else:
                assert store.read(instance_id) == [], f"{instance_id} is half deleted"
                line = lines[instance_id]  # it went: it was archived before
                assert line["status"] == "completed"
                assert [r["seq"] for r in line["journal"]] == list(range(1, line["last_seq"] + 1))
        journals = store._reader.execute("SELECT count(DISTINCT instance_id) FROM journal").get
        assert journals == sum(store.counts_by_status().values())  # no journal without its row
    assert 0 < left < OLD, "the kill did not land while instances were being deleted"

    with trio.fail_after(60):
        async with Runtime.open(str(db), retention=None, archive=archive) as rt:
            report = await rt.prune(HOUR, workflow="pk_done")
            assert report.instances == left
            await rt.publish(Event(type="pk.go", data="go"))
            for instance_id in ids("waiting", WAITING):
                assert await rt.result(instance_id) == "go"
            for n, instance_id in enumerate(ids("kept", KEPT)):
                assert await rt.result(instance_id) == n + 1
    assert archived(archive).keys() == set(ids("old", OLD))


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0
