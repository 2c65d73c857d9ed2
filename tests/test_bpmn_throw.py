"""Message throw and end events: jobs for handlers, as in Zeebe."""

from __future__ import annotations

from typing import Any

import pytest
import trio.testing
from test_bpmn_run import FIXTURES, incident, opened

from runtime import Registry, bpmn

THROW = FIXTURES / "run_throw.bpmn"


@pytest.fixture
def registry() -> Registry:
    return Registry()


async def test_message_throw_and_end_events_run_the_handler_of_their_job_type(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    jobs: list[bpmn.Job] = []

    @bpmn.handler("announce", registry=registry)
    async def announce(job: bpmn.Job) -> dict[str, Any]:
        jobs.append(job)
        return {"receipt": f"r-{job.variables['id']}", "ignored": True}

    @bpmn.handler("notify-mail", registry=registry)
    async def notify(variables: dict[str, Any]) -> dict[str, Any]:
        return {"notified": variables["announced"]}

    bpmn.load(THROW, registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("throw_message", {"order": {"id": 7}, "channel": "mail"})
        assert await rt.result(iid) == {
            "order": {"id": 7},
            "channel": "mail",
            "announced": "r-7",
            "notified": "r-7",
        }
        (job,) = jobs
        assert (job.type, job.element_id, job.retries) == ("announce", "Throw_Shipped", 2)
        assert job.headers == {"topic": "orders"}
        view = await rt.query(iid)
        assert view["completed"][-2:] == ["Throw_Shipped", "End_Notify"]


async def test_a_job_event_throws_bpmn_errors_and_waits_in_an_incident_without_a_handler(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    @bpmn.handler("announce", registry=registry)
    async def announce(variables: dict[str, Any]) -> None:
        raise bpmn.TaskError("NOT_SHIPPED")

    bpmn.load(THROW, registry=registry)
    async with opened(db, registry) as rt:
        rescued = await rt.start("throw_message", {"order": {"id": 1}, "channel": "sms"})
        assert (await rt.result(rescued))["rescued"] is True

    registry = Registry()

    @bpmn.handler("announce", registry=registry)
    async def fine(variables: dict[str, Any]) -> dict[str, Any]:
        return {"receipt": "ok"}

    bpmn.load(THROW, registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("throw_message", {"order": {"id": 2}, "channel": "fax"})
        found = await incident(rt, iid)
        assert found["element_id"] == "End_Notify" and "'notify-fax'" in found["message"]

        @bpmn.handler("notify-fax", registry=registry)
        async def fax(variables: dict[str, Any]) -> dict[str, Any]:
            return {"faxed": True}

        await rt.resolve_incident(iid, found["id"])
        assert (await rt.result(iid))["faxed"] is True
