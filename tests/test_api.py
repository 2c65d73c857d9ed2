"""The HTTP API against a real runtime: every route, every error path, the middleware."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from _damage import damage_a_journal_page
from quart.typing import TestClientProtocol as Client
from quart.wrappers import Response

from api import create_app
from runtime import Overloaded, Runtime, WorkflowContext, workflow
from runtime.store import SqliteStore

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}
CE_JSON = "application/cloudevents+json"
CE_BATCH = "application/cloudevents-batch+json"

pytestmark = pytest.mark.usefixtures("http_path")  # the contract holds on both HTTP paths


@attrs.frozen
class Person:
    name: str
    age: int


@workflow(name="api_greet")
async def api_greet(ctx: WorkflowContext, person: Person) -> str:
    return f"hello {person.name}"


@workflow(name="api_sleep")
async def api_sleep(ctx: WorkflowContext) -> str:
    await ctx.sleep(3600)
    return "rested"


@workflow(name="api_fail")
async def api_fail(ctx: WorkflowContext) -> str:
    raise ValueError("boom")


@workflow(name="api_wait")
async def api_wait(ctx: WorkflowContext, order_id: str) -> Any:
    paid = await ctx.wait_event("api.paid", subject=order_id)
    return paid.data


@workflow(name="api_on_signup", trigger="api.signed_up")
async def api_on_signup(ctx: WorkflowContext, user: dict[str, str]) -> str:
    return f"welcome {user['name']}"


@pytest.fixture
async def rt(db: str) -> AsyncIterator[Runtime]:
    async with Runtime.open(db) as runtime:
        yield runtime


@pytest.fixture
def client(rt: Runtime) -> Client:
    return create_app(rt).test_client()


async def body(response: Response) -> Any:
    return json.loads(await response.get_data())


async def problem(response: Response, status: int, path: str) -> dict[str, Any]:
    """Check that ``response`` is an RFC 9457 problem document for ``path``; return it."""
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.headers["X-Request-ID"]
    document: dict[str, Any] = await body(response)
    assert set(document) >= PROBLEM_KEYS
    assert document["status"] == status and document["instance"] == path
    return document


async def settle(rt: Runtime, instance_id: str) -> None:
    """Let the instance run until it waits (the clock only jumps when all is idle)."""
    with trio.move_on_after(1):
        await rt.result(instance_id)


async def start(client: Client, name: str, value: Any = None, **kw: Any) -> str:
    response = await client.post(f"/workflows/{name}", json=value, **kw)
    assert response.status_code == 202, await response.get_data()
    instance_id: str = (await body(response))["instance_id"]
    return instance_id


def cloudevent(**attributes: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": "e-1", "source": "bank", "type": "api.paid", **attributes}


# --- routes ---------------------------------------------------------------------------


async def test_healthz(client: Client, autojump_clock: trio.testing.MockClock) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await body(response) == {"status": "ok"}


async def test_workflows_lists_every_registered_workflow(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    items = (await body(await client.get("/workflows")))["items"]
    by_name = {item["name"]: item for item in items}
    assert by_name["api_greet"] == {"name": "api_greet", "kind": "code", "trigger": None}
    assert by_name["api_on_signup"]["trigger"] == "api.signed_up"


async def test_start_answers_202_and_the_instance_runs(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    response = await client.post("/workflows/api_greet", json={"name": "Ada", "age": 36})
    assert response.status_code == 202
    started = await body(response)
    assert set(started) == {"instance_id", "status"}
    assert response.headers["Location"] == f"/instances/{started['instance_id']}"
    result = await client.get(f"/instances/{started['instance_id']}/result?wait=5")
    assert await body(result) == {"status": "completed", "output": "hello Ada"}


async def test_the_idempotency_key_is_the_instance_id(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    key = {"Idempotency-Key": "order-1"}
    first = await start(client, "api_sleep", headers=key)
    again = await start(client, "api_sleep", headers=key)
    assert first == again == "order-1"
    page = await body(await client.get("/instances?workflow=api_sleep"))
    assert [item["id"] for item in page["items"]] == ["order-1"]


async def test_start_errors(client: Client, autojump_clock: trio.testing.MockClock) -> None:
    unknown = await client.post("/workflows/nope", json={})
    document = await problem(unknown, 404, "/workflows/nope")
    assert document["type"] == "urn:trioflow:problem:workflow-not-found"

    bad = await client.post("/workflows/api_greet", json={"name": "Ada", "age": "old"})
    document = await problem(bad, 400, "/workflows/api_greet")
    assert "input.age" in document["detail"]
    assert any("input.age" in error for error in document["errors"])

    empty = await client.post("/workflows/api_greet")  # no body: the input is missing
    document = await problem(empty, 400, "/workflows/api_greet")
    assert document["errors"] == ["expected an object, got null @ input"]

    await start(client, "api_sleep", headers={"Idempotency-Key": "k1"})
    conflict = await client.post(
        "/workflows/api_greet", json={"name": "Ada", "age": 1}, headers={"Idempotency-Key": "k1"}
    )
    assert "api_sleep" in (await problem(conflict, 409, "/workflows/api_greet"))["detail"]
    assert (await client.get("/healthz")).status_code == 200


async def test_instances_are_listed_a_page_at_a_time(
    client: Client, rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ids = [await start(client, "api_sleep") for _ in range(5)]
    done = await start(client, "api_greet", {"name": "Bo", "age": 2})
    await settle(rt, done)
    seen: list[str] = []
    cursor = None
    while True:
        query = {"workflow": "api_sleep", "limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = await body(await client.get("/instances", query_string=query))
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    completed = await body(await client.get("/instances?status=completed"))
    assert [item["id"] for item in completed["items"]] == [done]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("cursor=garbage", "cursor"),
        ("status=asleep", "status"),
    ],
)
async def test_bad_list_queries_are_400(
    client: Client, query: str, parameter: str, autojump_clock: trio.testing.MockClock
) -> None:
    document = await problem(await client.get(f"/instances?{query}"), 400, "/instances")
    assert document["parameter"] == parameter and document["detail"].startswith(parameter)


async def test_an_instance_document(
    client: Client, rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    iid = await start(client, "api_greet", {"name": "Cy", "age": 3})
    await settle(rt, iid)
    document = await body(await client.get(f"/instances/{iid}"))
    assert document["id"] == iid and document["workflow"] == "api_greet"
    assert document["status"] == "completed" and document["output"] == "hello Cy"
    assert document["input"] == {"name": "Cy", "age": 3} and document["error"] is None
    assert "waiting_on" in document
    for field in ("created_at", "updated_at"):
        assert dt.datetime.fromisoformat(document[field]).tzinfo is not None
    await problem(await client.get("/instances/nope"), 404, "/instances/nope")


async def test_result_waits_on_the_clock_then_answers_202(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    iid = await start(client, "api_sleep")
    before = trio.current_time()
    response = await client.get(f"/instances/{iid}/result", query_string={"wait": "5"})
    assert response.status_code == 202
    assert await body(response) == {"status": "waiting"}
    assert 5 <= trio.current_time() - before < 60
    finished = await client.get(f"/instances/{iid}/result?wait=60")
    assert finished.status_code == 202  # an hour's sleep is not over after a minute
    await trio.sleep(3600)
    done = await client.get(f"/instances/{iid}/result")
    assert (done.status_code, await body(done)) == (
        200,
        {"status": "completed", "output": "rested"},
    )


async def test_result_of_a_failed_instance_and_bad_waits(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    iid = await start(client, "api_fail")
    failed = await body(await client.get(f"/instances/{iid}/result?wait=5"))
    assert failed["status"] == "failed" and failed["error"]["message"] == "boom"
    for wait in ("61", "-1", "soon", "nan"):
        await problem(
            await client.get(f"/instances/{iid}/result?wait={wait}"),
            400,
            f"/instances/{iid}/result",
        )
    await problem(await client.get("/instances/nope/result"), 404, "/instances/nope/result")


async def test_history(client: Client, rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    iid = await start(client, "api_greet", {"name": "Di", "age": 4})
    await settle(rt, iid)
    history = await body(await client.get(f"/instances/{iid}/history"))
    items = history["items"]
    assert [item["seq"] for item in items] == list(range(1, len(items) + 1))
    assert items[0]["kind"] == "workflow_started" and items[-1]["kind"] == "workflow_completed"
    assert set(items[0]) == {"seq", "kind", "at", "data", "run"}
    assert {item["run"] for item in items} == {1}
    (run,) = history["runs"]
    assert (run["run"], run["first_seq"], run["last_seq"], run["ended"]) == (
        1,
        1,
        len(items),
        "completed",
    )
    assert run["input"] == {"name": "Di", "age": 4}
    dt.datetime.fromisoformat(items[0]["at"])
    await problem(await client.get("/instances/nope/history"), 404, "/instances/nope/history")


async def test_cancel(client: Client, rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    iid = await start(client, "api_sleep")
    await settle(rt, iid)
    path = f"/instances/{iid}/cancel"
    response = await client.post(path, json={"reason": "changed my mind"})
    assert response.status_code == 202
    assert (await body(response))["instance_id"] == iid
    outcome = await body(await client.get(f"/instances/{iid}/result?wait=5"))
    assert outcome["status"] == "cancelled"
    assert "changed my mind" in outcome["error"]["message"]
    await problem(await client.post(path), 409, path)
    await problem(await client.post("/instances/nope/cancel"), 404, "/instances/nope/cancel")
    await problem(await client.post(path, json={"reason": 5}), 400, path)
    await problem(await client.post(path, json={"why": "x"}), 400, path)


async def test_an_instance_event_reaches_that_instance_only(
    client: Client, rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    a = await start(client, "api_wait", "A1")
    b = await start(client, "api_wait", "A1")
    await settle(rt, b)
    path = f"/instances/{a}/events"
    response = await client.post(path, json={"type": "api.paid", "data": {"amount": 5}})
    assert response.status_code == 202
    assert await body(response) == {
        "duplicate": False,
        "delivered": [a],
        "started": [],
        "rejected": [],
        "stored": True,
        "forwarded": [],
    }
    assert await rt.result(a) == {"amount": 5}
    assert (await rt.get(b)).status == "waiting"
    await problem(await client.post(path, json={"type": "api.paid"}), 409, path)
    path_b = f"/instances/{b}/events"
    missing = await problem(await client.post(path_b, json={"data": 1}), 400, path_b)
    assert "type" in missing["detail"]
    unknown = await problem(await client.post(path_b, json={"type": "x", "id": 1}), 400, path_b)
    assert unknown["field"] == "id"
    await problem(await client.post(path_b, json=["type"]), 400, path_b)
    await problem(await client.post(path_b, data="type=x"), 415, path_b)
    nope = "/instances/nope/events"
    await problem(await client.post(nope, json={"type": "x"}), 404, nope)


# --- CloudEvents ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/events", "/"])
async def test_a_structured_cloudevent_is_delivered_once(
    client: Client, rt: Runtime, path: str, autojump_clock: trio.testing.MockClock
) -> None:
    iid = await start(client, "api_wait", "A1")
    await settle(rt, iid)
    event = json.dumps(cloudevent(subject="A1", data={"amount": 9.5}, time="2024-05-01T12:00:00Z"))
    headers = {"Content-Type": CE_JSON}
    first = await client.post(path, data=event, headers=headers)
    assert first.status_code == 202
    assert await body(first) == {
        "duplicate": False,
        "delivered": [iid],
        "started": [],
        "rejected": [],
        "stored": True,
        "forwarded": [],
    }
    again = await body(await client.post(path, data=event, headers=headers))
    assert again["duplicate"] is True and again["delivered"] == []
    assert await rt.result(iid) == {"amount": 9.5}


async def test_a_binary_cloudevent(
    client: Client, rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    iid = await start(client, "api_wait", "B 1")
    await settle(rt, iid)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "b-1",
        "ce-source": "bank",
        "ce-type": "api.paid",
        "ce-subject": "B%201",  # header values are percent-encoded
        "ce-time": "2024-05-01T12:00:00.5+02:00",
        "ce-traceparent": "00-abc",
    }
    response = await client.post("/events", json={"amount": 1}, headers=headers)
    assert response.status_code == 202
    assert (await body(response))["delivered"] == [iid]
    assert await rt.result(iid) == {"amount": 1}


async def test_a_batch_is_published_whole_or_not_at_all(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    headers = {"Content-Type": CE_BATCH}
    signup = cloudevent(id="s-1", type="api.signed_up", data={"name": "Ada"})
    bad = json.dumps([signup, {k: v for k, v in cloudevent(id="s-2").items() if k != "source"}])
    document = await problem(
        await client.post("/events", data=bad, headers=headers), 400, "/events"
    )
    assert (document["index"], document["attribute"]) == (1, "source")

    batch = json.dumps([signup, cloudevent(id="s-2"), signup])
    response = await client.post("/events", data=batch, headers=headers)
    assert response.status_code == 202
    items = (await body(response))["items"]
    assert [item["duplicate"] for item in items] == [False, False, True]
    assert len(items[0]["started"]) == 1 and items[2]["started"] == []
    result = await client.get(f"/instances/{items[0]['started'][0]}/result?wait=5")
    assert await body(result) == {"status": "completed", "output": "welcome Ada"}
    empty = await client.post("/events", data="[]", headers=headers)
    assert await body(empty) == {"items": []}
    await problem(await client.post("/events", data="{}", headers=headers), 400, "/events")


@pytest.mark.parametrize("attribute", ["specversion", "id", "source", "type"])
async def test_a_cloudevent_missing_a_required_attribute_is_400_naming_it(
    client: Client, attribute: str, autojump_clock: trio.testing.MockClock
) -> None:
    event = {k: v for k, v in cloudevent().items() if k != attribute}
    response = await client.post(
        "/events", data=json.dumps(event), headers={"Content-Type": CE_JSON}
    )
    document = await problem(response, 400, "/events")
    assert document["attribute"] == attribute and attribute in document["detail"]
    assert document["type"] == "urn:trioflow:problem:invalid-cloudevent"


@pytest.mark.parametrize(
    ("change", "attribute"),
    [
        ({"time": "yesterday"}, "time"),
        ({"time": "2024-13-01T00:00:00Z"}, "time"),
        ({"specversion": "0.3"}, "specversion"),
        ({"id": ""}, "id"),
        ({"Bad_Name": "x"}, "Bad_Name"),
        ({"waytoolongextensionname": "x"}, "waytoolongextensionname"),
        ({"data_base64": "AAAA"}, "data_base64"),
    ],
)
async def test_an_invalid_cloudevent_attribute_is_400_naming_it(
    client: Client, change: dict[str, Any], attribute: str, autojump_clock: trio.testing.MockClock
) -> None:
    event = json.dumps(cloudevent(**change))
    response = await client.post("/events", data=event, headers={"Content-Type": CE_JSON})
    assert (await problem(response, 400, "/events"))["attribute"] == attribute


async def test_events_with_the_wrong_content_type_are_415(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    for content_type in ("text/plain", "application/cloudevents+xml"):
        response = await client.post("/events", data="x", headers={"Content-Type": content_type})
        await problem(response, 415, "/events")
    binary = {"Content-Type": "application/octet-stream", **{"ce-specversion": "1.0"}}
    await problem(await client.post("/events", data=b"\x00", headers=binary), 415, "/events")


# --- middleware -----------------------------------------------------------------------


async def test_malformed_json_is_400(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    for path, content_type in (("/workflows/api_greet", "application/json"), ("/events", CE_JSON)):
        response = await client.post(path, data="{not json", headers={"Content-Type": content_type})
        document = await problem(response, 400, path)
        assert document["type"] == "urn:trioflow:problem:malformed-json"
    nan = await client.post(
        "/workflows/api_greet", data="NaN", headers={"Content-Type": "application/json"}
    )
    await problem(nan, 400, "/workflows/api_greet")


async def test_a_json_route_refuses_other_content_types_with_415(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    response = await client.post(
        "/workflows/api_greet", data="name=Ada", headers={"Content-Type": "text/plain"}
    )
    await problem(response, 415, "/workflows/api_greet")
    assert (await client.get("/healthz")).status_code == 200


async def test_an_oversized_body_is_413(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    client = create_app(rt, max_body=100).test_client()
    response = await client.post("/workflows/api_greet", json={"name": "x" * 200, "age": 1})
    assert (await problem(response, 413, "/workflows/api_greet"))["type"].endswith("too-large")
    assert (
        await client.post("/workflows/api_greet", json={"name": "A", "age": 1})
    ).status_code == 202


@pytest.mark.parametrize("declared", [None, b"20", b"500"])
async def test_the_body_limit_holds_whatever_content_length_says(
    rt: Runtime, autojump_clock: trio.testing.MockClock, declared: bytes | None
) -> None:
    """Through raw ASGI: a declared length over the limit is refused before the body is
    read; an absent or understated one is caught as the body arrives (MAX_CONTENT_LENGTH).
    Either way the response ends only after the whole body was taken (Hypercorn would
    otherwise wedge the keep-alive connection)."""
    app = create_app(rt, max_body=100)
    chunks = [b'{"name": "', b"x" * 80, b"x" * 80, b'", "age": 1}']
    messages = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    messages.append({"type": "http.request", "body": b"", "more_body": False})
    sent: list[dict[str, Any]] = []
    unread_at_the_end: list[int] = []
    answering = trio.Event()

    async def receive() -> dict[str, Any]:
        if len(messages) <= 2:  # the rest of the body arrives while the app answers
            await answering.wait()
        if messages:
            return messages.pop(0)
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        answering.set()
        if message["type"] == "http.response.body" and not message.get("more_body"):
            unread_at_the_end.append(len(messages))
        sent.append(message)

    headers = [(b"host", b"test"), (b"content-type", b"application/json")]
    if declared is not None:
        headers.append((b"content-length", declared))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/workflows/api_greet",
        "raw_path": b"/workflows/api_greet",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "extensions": {},
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    assert (b"content-type", b"application/problem+json") in sent[0]["headers"]
    document = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert document["type"] == "urn:trioflow:problem:too-large"
    assert unread_at_the_end == [0]


async def test_a_token_guards_every_route_but_healthz(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    client = create_app(rt, token="s3cret").test_client()
    assert (await client.get("/healthz")).status_code == 200
    missing = await problem(await client.get("/workflows"), 401, "/workflows")
    assert missing["type"] == "urn:trioflow:problem:unauthorized"
    wrong = await client.get("/workflows", headers={"Authorization": "Bearer guess"})
    await problem(wrong, 401, "/workflows")
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    basic = await client.get("/workflows", headers={"Authorization": "Basic czNjcmV0"})
    await problem(basic, 401, "/workflows")
    await problem(await client.get("/nope"), 401, "/nope")  # no route map for strangers
    ok = await client.get("/workflows", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200


async def test_the_request_id_is_echoed_or_generated_and_logged(
    client: Client, caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    caplog.set_level(logging.INFO, logger="trioflow.access")
    given = await client.get("/healthz", headers={"X-Request-ID": "req-42"})
    assert given.headers["X-Request-ID"] == "req-42"
    generated = await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    insane = await client.get("/healthz", headers={"X-Request-ID": "a b\tc" + "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", insane.headers["X-Request-ID"])
    missing = await client.get("/instances/nope", headers={"X-Request-ID": "req-43"})
    assert missing.headers["X-Request-ID"] == "req-43"
    records = [r for r in caplog.records if r.name == "trioflow.access"]
    assert len(records) == 4
    assert getattr(records[0], "request_id", None) == "req-42"
    assert getattr(records[3], "request_id", None) == "req-43"
    last = records[-1].getMessage()
    assert "method=GET" in last and "path=/instances/nope" in last and "status=404" in last
    assert "duration_ms=" in last and "request_id=req-43" in last


async def test_unknown_routes_and_methods_are_problems(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    await problem(await client.get("/nope"), 404, "/nope")
    wrong_method = await client.delete("/workflows")
    await problem(wrong_method, 405, "/workflows")
    assert "GET" in wrong_method.headers["Allow"]


async def test_overload_is_503_with_retry_after(
    client: Client, monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    async def overloaded(*args: Any, **kwargs: Any) -> str:
        raise Overloaded("the journal queue is full; try again shortly")

    monkeypatch.setattr(Runtime, "start", overloaded)
    response = await client.post("/workflows/api_sleep")
    await problem(response, 503, "/workflows/api_sleep")
    assert response.headers["Retry-After"] == "1"
    monkeypatch.undo()
    assert (await client.post("/workflows/api_sleep")).status_code == 202


async def test_an_unexpected_error_is_a_500_that_leaks_nothing(
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Runtime, "history", broken)
    response = await client.get("/instances/x/history", headers={"X-Request-ID": "req-500"})
    document = await problem(response, 500, "/instances/x/history")
    assert "secret" not in json.dumps(document)
    logged = [r for r in caplog.records if r.name == "trioflow.api"]
    assert logged and logged[0].exc_info is not None
    assert getattr(logged[0], "request_id", None) == "req-500"
    assert (await client.get("/workflows")).status_code == 200


async def test_openapi_describes_exactly_the_routes(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    document = await body(await client.get("/openapi.json"))
    assert document["openapi"].startswith("3.1")
    described = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    app = create_app(no_runtime())
    served = {
        (re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    assert described == served


def no_runtime() -> Runtime:
    """Building the app does not touch the runtime: any object serves."""
    return object()  # type: ignore[return-value]


async def test_metrics(client: Client, rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    iid = await start(client, "api_greet", {"name": "Ed", "age": 5})
    await settle(rt, iid)
    response = await client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = await response.get_data(as_text=True)
    for name in (
        'trioflow_instances{status="completed"}',
        "trioflow_instance_starts_total",
        'trioflow_instance_completions_total{status="completed"}',
        "trioflow_activity_attempts_total",
        "trioflow_activities_in_flight",
        "trioflow_journal_batch_size_count",
        "trioflow_journal_batch_size_sum",
        "trioflow_journal_commit_seconds_sum",
        "trioflow_journal_queued",
        "trioflow_mailbox_depth",
        "trioflow_resident_instances",
        'trioflow_routed_events_total{direction="forwarded"} 0.0',
        'trioflow_routed_commands_total{direction="applied"} 0.0',
    ):
        assert name in text
    assert re.search(r'^trioflow_instances\{status="completed"\} [1-9]', text, re.MULTILINE)


async def test_a_read_the_damaged_database_fails_is_a_503_naming_the_fault(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db) as runtime:
        ids = [await runtime.start(api_greet, Person("ann", n)) for n in range(300)]
        for instance_id in ids:
            await runtime.result(instance_id, timeout=5)
    damage_a_journal_page(db)
    async with Runtime.open(store=SqliteStore(db, check=False)) as runtime:
        client = create_app(runtime).test_client()
        statuses = []
        for instance_id in ids:
            path = f"/instances/{instance_id}/history"
            response = await client.get(path)
            statuses.append(response.status_code)
            if response.status_code == 503:
                document = await problem(response, 503, path)
                assert document["type"] == "urn:trioflow:problem:database-fault"
                assert document["detail"].startswith("the database failed this request")
                assert "CorruptError" in document["detail"]
                assert response.headers["Retry-After"]
    assert set(statuses) == {200, 503}


async def test_starts_beyond_the_limit_in_progress_get_a_503_with_retry_after(rt: Runtime) -> None:
    client = create_app(rt, max_starts=1).test_client()
    responses: list[Response] = []

    async def start(n: int) -> None:
        response = await client.post("/workflows/api_greet", json={"name": "a", "age": n})
        responses.append(response)

    async with trio.open_nursery() as nursery:  # the first is committing as the second comes
        nursery.start_soon(start, 1)
        nursery.start_soon(start, 2)
    assert sorted(r.status_code for r in responses) == [202, 503]
    [busy] = [r for r in responses if r.status_code == 503]
    document = await problem(busy, 503, "/workflows/api_greet")
    assert document["type"] == "urn:trioflow:problem:overloaded"
    assert "1 starts are in progress" in document["detail"]
    assert busy.headers["Retry-After"] == "1"
    after = await client.post("/workflows/api_greet", json={"name": "a", "age": 3})
    assert after.status_code == 202  # the count went down again
    with pytest.raises(ValueError, match="max_starts must be >= 1"):
        create_app(rt, max_starts=0)
