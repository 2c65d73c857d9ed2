"""Call activities, signals and compensation over HTTP: children linked to parents, the
signal route, a booking undone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing
from quart.typing import TestClientProtocol as Client
from test_bpmn_run import FIXTURES

from api import create_app
from runtime import Registry, Runtime, WorkflowCancelled, bpmn


@pytest.fixture
def registry() -> Registry:
    registry = Registry()

    @bpmn.handler("double", registry=registry)
    async def double(variables: dict[str, Any]) -> dict[str, Any]:
        return {"doubled": variables["n"] * 2}

    bpmn.load(FIXTURES / "run_call.bpmn", registry=registry)
    bpmn.load(FIXTURES / "run_signal.bpmn", registry=registry)
    for job_type in ("book", "pay", "unbook", "release"):
        bpmn.handler(job_type, registry=registry)(done(job_type))
    bpmn.load(FIXTURES / "run_compensation.bpmn", registry=registry)
    return registry


def done(job_type: str) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    async def handler(variables: dict[str, Any]) -> dict[str, Any]:
        return {f"{job_type}_done": True}

    return handler


@pytest.fixture
async def rt(db: str, registry: Registry) -> AsyncIterator[Runtime]:
    async with Runtime.open(db, registry=registry) as runtime:
        yield runtime


@pytest.fixture
def client(rt: Runtime) -> Client:
    return create_app(rt).test_client()


async def test_a_called_instance_names_its_parent_and_the_parent_its_children(
    rt: Runtime, client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    started = await client.post("/workflows/call_timeout", json={"order": 7})
    parent = (await started.get_json())["instance_id"]
    with trio.move_on_after(1):
        await rt.result(parent)
    child = f"{parent}:Call_Waiting:1"
    document = await (await client.get(f"/instances/{child}")).get_json()
    assert (document["workflow"], document["parent_id"], document["status"]) == (
        "call_waiting",
        parent,
        "waiting",
    )
    listed = await (await client.get("/instances?workflow=call_waiting")).get_json()
    assert [(i["id"], i["parent_id"]) for i in listed["items"]] == [(child, parent)]
    mine = await (await client.get(f"/instances/{parent}")).get_json()
    assert mine["parent_id"] is None
    assert [
        w["subject"] for w in mine["waiting_on"] if w.get("type") == "trioflow.bpmn.called"
    ] == [child]
    cancelled = await client.post(f"/instances/{parent}/cancel", json={"reason": "test"})
    assert cancelled.status_code == 202
    with pytest.raises(WorkflowCancelled):
        await rt.result(child)  # cancelling the parent cancels the child


async def test_the_signal_route_broadcasts_and_refuses_bad_bodies(
    rt: Runtime, client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    answer = await client.post("/signals/go", json={"variables": {"who": "http"}})
    assert answer.status_code == 202
    body = await answer.get_json()
    [started] = body["started"]
    assert await rt.result(started) == {"who": "http"}
    bad = await client.post("/signals/go", json={"variables": [1]})
    assert bad.status_code == 400 and bad.content_type == "application/problem+json"
    assert (await bad.get_json())["detail"].startswith("variables: must be an object")
    unknown = await client.post("/signals/go", json={"vars": {}})
    assert unknown.status_code == 400
    spec = await (await client.get("/openapi.json")).get_json()
    assert "/signals/{name}" in spec["paths"]


async def test_a_compensation_throw_undoes_the_booking_over_http(
    rt: Runtime, client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    started = await client.post("/workflows/comp_basic", json={"order": 1})
    iid = (await started.get_json())["instance_id"]
    result = await client.get(f"/instances/{iid}/result", query_string={"wait": "5"})
    body = await result.get_json()
    assert body["status"] == "completed"
    assert body["output"] == {"order": 1, "book_done": True, "pay_done": True, "unbook_done": True}
    history = await (await client.get(f"/instances/{iid}/history")).get_json()
    scheduled = [i["data"] for i in history["items"] if i["kind"] == "activity_scheduled"]
    assert [item["name"] for item in scheduled] == ["bpmn:book", "bpmn:pay", "bpmn:unbook"]
