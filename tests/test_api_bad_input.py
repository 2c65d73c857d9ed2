"""Bad input at the HTTP API: a clear 4xx naming the problem, and nothing stored.

Deep nesting, lone surrogates, a reused Idempotency-Key with another body, events for
instances that are not there, bad viewer queries, and batches that are refused whole.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.testing
from quart.typing import TestClientProtocol as Client
from quart.wrappers import Response

from api import create_app
from api._problems import problem_for
from runtime import Runtime, WorkflowContext, workflow

CE_JSON = {"content-type": "application/cloudevents+json"}
CE_BATCH = {"content-type": "application/cloudevents-batch+json"}
JSON = {"content-type": "application/json"}


@workflow(name="bad_echo")
async def bad_echo(ctx: WorkflowContext, value: Any) -> Any:
    return value


@workflow(name="bad_wait")
async def bad_wait(ctx: WorkflowContext) -> Any:
    return (await ctx.wait_event("bad.ping")).data


@pytest.fixture
async def rt(db: str) -> AsyncIterator[Runtime]:
    async with Runtime.open(db) as runtime:
        yield runtime


@pytest.fixture
def client(rt: Runtime) -> Client:
    return create_app(rt).test_client()


async def problem(response: Response, status: int, detail: str) -> dict[str, Any]:
    """Check that ``response`` is a problem document with ``status`` whose detail holds
    ``detail``; return it."""
    text = await response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.mimetype == "application/problem+json"
    document: dict[str, Any] = json.loads(text)
    assert document["status"] == status and detail in document["detail"], document
    return document


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def cloudevent(**attributes: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": "e-1", "source": "s", "type": "bad.ping", **attributes}


async def stored_nothing(rt: Runtime) -> None:
    assert (await rt.list()).items == ()
    assert rt._services.store._reader.execute("SELECT count(*) FROM events").fetchall() == [(0,)]


@pytest.mark.parametrize("levels", [101, 600, 100_000])
async def test_a_body_nested_deeper_than_100_levels_is_refused(
    client: Client, rt: Runtime, levels: int
) -> None:
    deep = nested(levels)
    response = await client.post("/workflows/bad_echo", data=deep, headers=JSON)
    await problem(response, 400, "body: nested deeper than 100 levels of arrays and objects")
    event = json.dumps(cloudevent()).replace('"s"', f'"s", "data": {deep}', 1)
    await problem(await client.post("/events", data=event, headers=CE_JSON), 400, "deeper")
    batch = f"[{json.dumps(cloudevent(id='0'))}, {event}]"
    await problem(await client.post("/events", data=batch, headers=CE_BATCH), 400, "deeper")
    binary = {"ce-specversion": "1.0", "ce-id": "b", "ce-source": "s", "ce-type": "t", **JSON}
    await problem(await client.post("/events", data=deep, headers=binary), 400, "deeper")
    await stored_nothing(rt)


async def test_a_body_nested_100_levels_is_taken(client: Client) -> None:
    response = await client.post("/workflows/bad_echo", data=nested(100), headers=JSON)
    assert response.status_code == 202


@pytest.mark.parametrize("attribute", ["id", "source", "type", "subject"])
async def test_a_lone_surrogate_in_an_event_attribute_is_refused_by_name(
    client: Client, rt: Runtime, attribute: str
) -> None:
    bad = json.dumps(cloudevent(**{attribute: "x\ud800"}))  # the JSON escape \ud800
    assert "\\ud800" in bad
    document = await problem(
        await client.post("/events", data=bad, headers=CE_JSON), 400, attribute
    )
    assert document["attribute"] == attribute
    batch = f"[{json.dumps(cloudevent(id='0'))}, {bad}]"
    document = await problem(await client.post("/events", data=batch, headers=CE_BATCH), 400, "")
    assert document["attribute"] == attribute and document["index"] == 1
    await stored_nothing(rt)


async def test_a_lone_surrogate_in_a_body_is_refused_naming_where(
    client: Client, rt: Runtime
) -> None:
    for body, where in [
        (b'"\\ud800"', "body: holds a lone surrogate"),
        (b'{"a": [1, "\\udc00"]}', "body.a[1]: holds a lone surrogate"),
        (b'{"\\ud800": 1}', "body: a key holds a lone surrogate"),
        (b'"\xed\xa0\x80"', "body: holds a lone surrogate"),  # raw UTF-8 of a surrogate
    ]:
        response = await client.post("/workflows/bad_echo", data=body, headers=JSON)
        await problem(response, 400, where)
    data = json.dumps(cloudevent(data={"x": "\udfff"}))
    await problem(await client.post("/events", data=data, headers=CE_JSON), 400, "data.x")
    await stored_nothing(rt)


async def test_binary_mode_headers_must_be_percent_encoded_utf8(
    client: Client, rt: Runtime
) -> None:
    headers = {"ce-specversion": "1.0", "ce-id": "%ED%A0%80", "ce-source": "s", "ce-type": "t"}
    document = await problem(await client.post("/events", headers=headers), 400, "UTF-8")
    assert document["attribute"] == "id"
    headers["ce-id"] = "caf%C3%A9"
    response = await client.post("/events", headers=headers)
    assert response.status_code == 202
    assert rt._services.store.has_event("s", "café")


async def test_the_same_key_with_another_body_is_a_conflict(client: Client, rt: Runtime) -> None:
    key = {"Idempotency-Key": "order-7", **JSON}
    first = await client.post("/workflows/bad_echo", data=b'{"a": 1, "b": 2}', headers=key)
    again = await client.post("/workflows/bad_echo", data=b'{"b":2,"a":1}', headers=key)
    assert first.status_code == again.status_code == 202
    assert json.loads(await again.get_data())["instance_id"] == "order-7"
    other = await client.post("/workflows/bad_echo", data=b'{"a": 2}', headers=key)
    await problem(other, 409, "'order-7' exists already with another input")
    assert (await rt.get("order-7")).input == {"a": 1, "b": 2}


async def test_an_event_for_a_missing_or_finished_instance_is_refused(
    client: Client, rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    missing = json.dumps(cloudevent(instanceid="nobody"))
    await problem(await client.post("/events", data=missing, headers=CE_JSON), 404, "nobody")
    response = await client.post("/instances/nobody/events", json={"type": "bad.ping"})
    await problem(response, 404, "nobody")
    await client.post("/workflows/bad_echo", json=1, headers={"Idempotency-Key": "done"})
    finished = json.dumps(cloudevent(instanceid="done"))
    await problem(await client.post("/events", data=finished, headers=CE_JSON), 409, "finished")
    response = await client.post("/instances/done/events", json={"type": "bad.ping"})
    await problem(response, 409, "finished")
    batch = f"[{json.dumps(cloudevent(id='0'))}, {missing}]"
    await problem(await client.post("/events", data=batch, headers=CE_BATCH), 404, "events[1]")
    assert rt._services.store._reader.execute("SELECT count(*) FROM events").fetchall() == [(0,)]


async def test_a_batch_is_stored_in_one_transaction_after_every_event_was_checked(
    client: Client, rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    await client.post("/workflows/bad_wait", headers={"Idempotency-Key": "w"})
    with trio.move_on_after(1):
        await rt.result("w")
    batch = json.dumps([cloudevent(id="1", instanceid="w", data=7), cloudevent(id="1")])
    response = await client.post("/events", data=batch, headers=CE_BATCH)
    assert response.status_code == 202
    items = json.loads(await response.get_data())["items"]
    assert [(i["duplicate"], i["delivered"]) for i in items] == [(False, ["w"]), (True, [])]
    assert await rt.result("w") == 7


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("cursor=abc", "cursor: invalid cursor"),
        ("status=lost", "status: must be one of running, waiting"),
    ],
)
async def test_a_bad_viewer_query_is_a_400_page_naming_the_parameter(
    client: Client, query: str, detail: str
) -> None:
    response = await client.get(f"/ui/?{query}")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert detail in await response.get_data(as_text=True)


async def test_a_path_cannot_write_a_log_line_of_its_own(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trioflow.access")
    forged = "x\n2026-01-01 trioflow.access method=GET path=/ status=200"
    response = await client.get("/instances/" + urllib.parse.quote(forged, safe=""))
    assert response.status_code == 404
    (line,) = [r.getMessage() for r in caplog.records if r.name == "trioflow.access"]
    assert "\n" not in line and "path=/instances/x\\n2026-01-01" in line


def test_whatever_overflows_python_s_stack_is_a_400_not_a_500() -> None:
    answer = problem_for(RecursionError("maximum recursion depth exceeded"), "/workflows/x")
    assert answer.status == 400
    assert json.loads(answer.body)["detail"] == "the request is nested too deeply to process"
