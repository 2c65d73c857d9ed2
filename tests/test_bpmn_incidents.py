"""Incidents: a BPMN instance that cannot go on waits at the element until resolved."""

from __future__ import annotations

import re
from typing import Any

import pytest
import trio
import trio.testing
from quart.typing import TestClientProtocol as Client
from test_bpmn_run import FIXTURES, incident, opened

from api import create_app
from runtime import IncidentNotFound, IncidentResolved, InstanceNotFound, Registry, bpmn

INCIDENTS = FIXTURES / "incidents.bpmn"


@pytest.fixture
def registry() -> Registry:
    return Registry()


def charging(registry: Registry, attempts: list[str]) -> None:
    @bpmn.handler("charge-card", registry=registry)
    async def charge(variables: dict[str, Any]) -> dict[str, Any]:
        attempts.append(variables["card"])
        if variables["card"] != "good":
            raise ConnectionError(f"card {variables['card']} declined")
        return {"charged": True}

    bpmn.load(INCIDENTS, registry=registry)


async def test_an_incident_waits_until_resolved_with_corrected_variables(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    attempts: list[str] = []
    charging(registry, attempts)
    async with opened(db, registry) as rt:
        iid = await rt.start("incident_charge", {"card": "bad"})
        found = await incident(rt, iid)
        assert attempts == ["bad", "bad"]  # retries="2"
        assert found["element_id"] == "Task_Charge" and "card bad declined" in found["message"]
        assert [i.id for i in (await rt.list(status="incident")).items] == [iid]
        assert rt.stats().instances.get("incident") == 1
        # Resolved without a fix: it fails again, retries counted afresh, a new incident.
        await rt.resolve_incident(iid, found["id"])
        again = await incident(rt, iid)
        assert attempts == ["bad"] * 4 and again["id"] != found["id"]
        with pytest.raises(IncidentResolved):
            await rt.resolve_incident(iid, found["id"])
        await rt.resolve_incident(iid, again["id"], {"card": "good"})
        assert await rt.result(iid) == {"card": "good", "charged": True}
        with pytest.raises(IncidentNotFound):
            await rt.resolve_incident(iid, "999")
        with pytest.raises(InstanceNotFound):
            await rt.resolve_incident("nobody", "1")
        kinds = [item.kind for item in await rt.history(iid)]
        assert kinds.count("incident_raised") == 2 and kinds.count("incident_resolved") == 2


async def test_incidents_over_http(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    attempts: list[str] = []
    charging(registry, attempts)
    async with opened(db, registry) as rt:
        client: Client = create_app(rt).test_client()
        iid = await rt.start("incident_charge", {"card": "bad"})
        found = await incident(rt, iid)
        document = await (await client.get(f"/instances/{iid}")).get_json()
        assert document["status"] == "incident"
        assert document["incidents"] == [found]
        svg = await (await client.get(f"/instances/{iid}/diagram.svg")).get_data(as_text=True)
        assert 'data-element-id="Task_Charge" class="bpmn-serviceTask bpmn-incident"' in svg
        listed = await (await client.get("/instances?status=incident")).get_json()
        assert [item["id"] for item in listed["items"]] == [iid]
        base = f"/instances/{iid}/incidents"
        bad = await client.post(f"{base}/{found['id']}/resolve", json={"variables": [1]})
        assert bad.status_code == 400
        unknown = await client.post(f"{base}/12345/resolve", json={})
        assert unknown.status_code == 404
        resolved = await client.post(
            f"{base}/{found['id']}/resolve", json={"variables": {"card": "good"}}
        )
        assert resolved.status_code == 202
        assert await rt.result(iid) == {"card": "good", "charged": True}
        twice = await client.post(f"{base}/{found['id']}/resolve")
        assert twice.status_code == 409
        assert twice.headers["Content-Type"] == "application/problem+json"


async def test_the_viewer_names_an_incident_and_offers_to_resolve_it(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    charging(registry, [])
    async with opened(db, registry) as rt:
        client: Client = create_app(rt).test_client()
        iid = await rt.start("incident_charge", {"card": "bad"})
        found = await incident(rt, iid)
        html = await (await client.get(f"/ui/instances/{iid}")).get_data(as_text=True)
        assert f"incident <code>{found['id']}</code> at element <code>Task_Charge</code>" in html
        assert "card bad declined" in html
        form = re.search(r"<form [^>]*data-action='incidents/\{incident\}/resolve'[^>]*>", html)
        assert form is not None and " hidden" not in form.group(0)
        assert "data-kind='path'" in html
        # What the form sends once its fields are filled in: the route with the id in it.
        resolved = await client.post(
            f"/instances/{iid}/incidents/{found['id']}/resolve",
            json={"variables": {"card": "good"}},
        )
        assert resolved.status_code == 202
        await rt.result(iid)
        html = await (await client.get(f"/ui/instances/{iid}")).get_data(as_text=True)
        form = re.search(r"<form [^>]*data-action='incidents/\{incident\}/resolve'[^>]*>", html)
        assert form is not None and " hidden" in form.group(0)
