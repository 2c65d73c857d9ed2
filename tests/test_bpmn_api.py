"""The diagram routes: a BPMN workflow's SVG, and an instance's with its progress marked."""

from __future__ import annotations

import importlib.util
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import defusedxml.ElementTree as DefusedET
import pytest
import trio
import trio.testing
from quart.typing import TestClientProtocol as Client
from quart.wrappers import Response

from api import create_app
from runtime import Registry, Runtime, WorkflowContext, WorkflowDefinition, bpmn

ORDERING = Path(__file__).parent.parent / "examples" / "ordering" / "ordering-items-workflow.bpmn"
SVG = "{http://www.w3.org/2000/svg}"
PROCESS = "ordering-items-workflow"


async def nothing(variables: dict[str, Any]) -> None:
    return None


async def plain_code(ctx: WorkflowContext) -> str:
    await ctx.sleep(60)
    return "done"


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    for task_type in ("validate-order", "send-bill"):
        bpmn.handler(task_type, registry=registry)(nothing)
    bpmn.load(ORDERING, registry=registry)
    registry.add_workflow(
        WorkflowDefinition(name="plain_code", fn=plain_code, input_type=None, takes_input=False)
    )
    return registry


@pytest.fixture
async def rt(db: str, registry: Registry) -> AsyncIterator[Runtime]:
    async with Runtime.open(db, registry=registry) as runtime:
        yield runtime


@pytest.fixture
def client(rt: Runtime) -> Client:
    return create_app(rt).test_client()


def shapes(svg: str) -> dict[str, ET.Element]:
    root = DefusedET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return {g.get("data-element-id", ""): g for g in root.iter(f"{SVG}g")}


async def svg_of(response: Response) -> dict[str, ET.Element]:
    assert response.status_code == 200, await response.get_data()
    assert response.mimetype == "image/svg+xml"
    return shapes(await response.get_data(as_text=True))


async def not_found(response: Response) -> dict[str, Any]:
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    document: dict[str, Any] = json.loads(await response.get_data())
    assert document["status"] == 404
    return document


async def test_the_workflow_diagram_draws_the_latest_version(
    client: Client, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    drawn = await svg_of(await client.get(f"/workflows/{PROCESS}/diagram.svg"))
    assert {"Task_ValidateOrder", "Gateway_Join", "Flow_ToFork"} <= drawn.keys()
    assert drawn["Task_SendBill"].findtext(f"{SVG}title") == "Send bill"
    renamed = ORDERING.read_bytes().replace(b'name="Send bill"', b'name="Send invoice"')
    bpmn.load(renamed, registry=registry)
    drawn = await svg_of(await client.get(f"/workflows/{PROCESS}/diagram.svg"))
    assert drawn["Task_SendBill"].findtext(f"{SVG}title") == "Send invoice"


async def test_the_workflow_diagram_is_404_for_code_and_unknown_workflows(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    document = await not_found(await client.get("/workflows/plain_code/diagram.svg"))
    assert "not a BPMN process" in document["detail"]
    document = await not_found(await client.get("/workflows/nothing/diagram.svg"))
    assert "'nothing'" in document["detail"]


async def test_the_instance_diagram_marks_completed_and_active_elements(
    client: Client, rt: Runtime, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    iid = await rt.start(PROCESS, {"orderId": "A", "amount": 1})
    with trio.move_on_after(1):
        await rt.result(iid)
    bpmn.load(
        ORDERING.read_bytes().replace(b'name="Send bill"', b'name="Send invoice"'),
        registry=registry,
    )
    drawn = await svg_of(await client.get(f"/instances/{iid}/diagram.svg"))
    classes = {key: g.get("class", "") for key, g in drawn.items()}
    assert classes["Task_ValidateOrder"].endswith("bpmn-completed")
    assert classes["Flow_ToSendBill"].endswith("bpmn-completed")
    assert classes["Gateway_AwaitPayment"].endswith("bpmn-active")
    assert "bpmn-completed" not in classes["Task_UpdateAccounting"]
    assert "bpmn-active" not in classes["Task_UpdateAccounting"]
    # The instance runs the version it started with, and is drawn as that version.
    assert drawn["Task_SendBill"].findtext(f"{SVG}title") == "Send bill"


async def test_the_instance_diagram_is_404_for_code_and_unknown_instances(
    client: Client, rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    iid = await rt.start("plain_code")
    document = await not_found(await client.get(f"/instances/{iid}/diagram.svg"))
    assert "not a loaded BPMN process" in document["detail"]
    await not_found(await client.get("/instances/nobody/diagram.svg"))


# --- the ordering example's own routes -------------------------------------------------------


def ordering_example() -> ModuleType:
    """Import examples/ordering/app.py as trioflow serve does (into the default registry)."""
    name = "trioflow_ordering_example"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ORDERING.with_name("app.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


async def test_the_ordering_example_takes_an_order_and_its_payment(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    example = ordering_example()
    async with Runtime.open(db) as runtime:
        app = create_app(runtime)
        example.routes(app, runtime)
        client = app.test_client()
        bad = await client.post("/orders", json={"orderId": "A1", "amount": -1})
        assert bad.status_code == 400 and "amount" in (await bad.get_data(as_text=True))
        slashed = await client.post("/orders", json={"orderId": "A/1", "amount": 1})
        assert slashed.status_code == 400 and "'/'" in (await slashed.get_data(as_text=True))
        created = await client.post("/orders", json={"orderId": "A1", "amount": 12.5})
        assert created.status_code == 202 and created.headers["Location"] == "/orders/A1"
        with trio.move_on_after(1):
            await runtime.result("order-A1")
        state = json.loads(await (await client.get("/orders/A1")).get_data())
        assert state["status"] == "waiting" and state["active"] == ["Gateway_AwaitPayment"]
        assert state["variables"]["invoiceId"] == "INV-A1"
        paid = await client.post("/orders/A1/payment", json={"paid": 12.5})
        assert paid.status_code == 202
        assert json.loads(await paid.get_data())["delivered"] == ["order-A1"]
        await runtime.result("order-A1")
        state = json.loads(await (await client.get("/orders/A1")).get_data())
        assert state["status"] == "completed" and state["variables"]["trackingId"] == "TRK-A1"
        page = await client.get("/orders/A1/diagram")
        assert page.status_code == 200 and page.mimetype == "text/html"
        text = await page.get_data(as_text=True)
        assert "<svg" in text and "<script" not in text
        assert (await client.get("/orders/B9")).status_code == 404


async def test_the_viewer_draws_a_bpmn_instance_with_its_state(rt: Runtime, client: Client) -> None:
    iid = await rt.start(PROCESS, {"orderId": "V-1", "amount": 3})
    response = await client.get(f"/ui/instances/{iid}")
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<svg" in body and "<?xml" not in body
    plain = await rt.start("plain_code")
    body = await (await client.get(f"/ui/instances/{plain}")).get_data(as_text=True)
    assert "<svg" not in body
