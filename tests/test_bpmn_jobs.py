"""Handlers that ask for a job get one, like a Zeebe job worker; job types and retries
may be FEEL expressions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from test_bpmn_run import incident

from runtime import Registry, Runtime, bpmn
from runtime.bpmn import Job

FIXTURES = Path(__file__).parent / "bpmn"


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    bpmn.load(FIXTURES / "run_jobs.bpmn", registry=registry)
    return registry


async def test_a_job_handler_gets_the_element_instance_process_retries_and_headers(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    jobs: list[Job] = []

    @bpmn.handler("pay", registry=registry)
    async def pay(job: Job) -> dict[str, Any]:
        jobs.append(job)
        if len(jobs) < 3:
            raise ConnectionError("the bank is down")
        return {"paid": job.variables["cents"]}

    async with Runtime.open(db, registry=registry) as rt:
        iid = await rt.start("jobs_headers", {"amount": 12.5})
        assert await rt.result(iid) == {"amount": 12.5, "paid": 1250}
        assert (await rt.replay(iid)).ok
    version = registry.workflow("jobs_headers").version
    assert [job.retries for job in jobs] == [3, 2, 1]
    assert jobs[0] == Job(
        type="pay",
        element_id="Task_Pay",
        element_name="Pay the bill",
        instance_id=iid,
        process_id="jobs_headers",
        process_version=version or "",
        retries=3,
        headers={"currency": "EUR", "channel": "web"},
        variables={"amount": 12.5, "cents": 1250},
    )


async def test_variables_and_a_job_side_by_side_in_a_sync_handler(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    @bpmn.handler("pay", registry=registry)
    def pay(variables: dict[str, Any], job: Job) -> dict[str, Any]:  # in a worker thread
        return {"seen": [variables["cents"], job.headers["currency"], job.element_id]}

    async with Runtime.open(db, registry=registry) as rt:
        iid = await rt.start("jobs_headers", {"amount": 1})
        assert (await rt.result(iid))["seen"] == [100, "EUR", "Task_Pay"]


async def test_a_plain_handler_still_gets_the_variables(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    @bpmn.handler("pay", registry=registry)
    async def pay(variables: dict[str, Any]) -> dict[str, Any]:
        return {"seen": sorted(variables)}

    async with Runtime.open(db, registry=registry) as rt:
        iid = await rt.start("jobs_headers", {"amount": 1})
        assert (await rt.result(iid))["seen"] == ["amount", "cents"]


async def test_a_job_type_expression_picks_the_handler_per_instance(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    attempts: dict[str, int] = {"card": 0, "wire": 0}

    @bpmn.handler("card-payment", registry=registry)
    async def card(job: Job) -> dict[str, Any]:
        attempts["card"] += 1
        return {"by": job.type}

    @bpmn.handler("wire-payment", registry=registry)
    async def wire(variables: dict[str, Any]) -> None:
        attempts["wire"] += 1
        raise ConnectionError("no wire today")

    async with Runtime.open(db, registry=registry) as rt:
        by_card = await rt.start("jobs_dynamic", {"kind": "card", "attempts": 5})
        assert await rt.result(by_card) == {"kind": "card", "attempts": 5, "by": "card-payment"}
        by_wire = await rt.start("jobs_dynamic", {"kind": "wire", "attempts": 2})
        found = await incident(rt, by_wire)
        assert "no wire today" in found["message"]
        assert attempts == {"card": 1, "wire": 2}  # retries="=attempts": two for this one
        nothing = await rt.start("jobs_dynamic", {"attempts": 1})
        found = await incident(rt, nothing)
        assert re.search(r"the job type .* gave null", found["message"])
        # Corrected variables pick another handler when the incident is resolved.
        await rt.resolve_incident(nothing, found["id"], {"kind": "card"})
        assert (await rt.result(nothing))["by"] == "card-payment"
        for iid in (by_card, by_wire, nothing):
            assert (await rt.replay(iid)).ok


def test_a_job_handler_takes_at_most_the_variables_besides_the_job() -> None:
    with pytest.raises(TypeError, match="takes the job and at most one other parameter"):

        @bpmn.handler("pay", registry=Registry())
        async def pay(variables: dict[str, Any], extra: int, job: Job) -> None: ...
