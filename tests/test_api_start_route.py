"""``POST /workflows/{name}`` answered in front of Quart: the same answers Quart gives."""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from quart import Response, request

from api import _fast_path, create_app
from api._middleware import request_id
from api._start_route import StartRoute
from runtime import Overloaded, Runtime, WorkflowContext, WorkflowNotFound, activity, workflow

ASGI = Callable[[Any, Any, Any], Awaitable[None]]
Message = dict[str, Any]
JSON = ("content-type", "application/json")


@attrs.frozen
class Person:
    name: str
    age: int


@activity
async def sr_step(n: int) -> int:
    return n


@workflow(name="sr_greet")
async def sr_greet(ctx: WorkflowContext, person: Person) -> str:
    await ctx.run(sr_step, 1)
    return f"hello {person.name}"


@workflow(name="sr_sleep")
async def sr_sleep(ctx: WorkflowContext) -> str:
    await ctx.sleep(3600)
    return "rested"


def _part(body: bytes) -> Message:
    return {"type": "http.request", "body": body, "more_body": True}


def _body(body: bytes) -> Message:
    return {"type": "http.request", "body": body, "more_body": False}


ADA = b'{"name": "Ada", "age": 3}'
BOB = b'{"name": "Bob", "age": 4}'
END: Message = {"type": "http.request", "body": b"", "more_body": False}
GONE: Message = {"type": "http.disconnect"}
CASES: list[tuple[str, str, list[tuple[str, str | bytes]], list[Message]]] = [
    # name, path, headers (besides the token), what the client sends (then nothing)
    ("started", "/workflows/sr_greet", [JSON], [{"type": "http.request", "body": ADA}]),
    ("in parts", "/workflows/sr_greet", [JSON], [*map(_part, (ADA[:9], ADA[9:])), END]),
    ("no body", "/workflows/sr_sleep", [("x-request-id", "req-1")], [END]),
    ("insane id", "/workflows/sr_sleep", [("x-request-id", "a b")], [END]),
    ("key", "/workflows/sr_sleep", [("idempotency-key", "k?1 x")], [END]),
    ("key again", "/workflows/sr_sleep", [("idempotency-key", "k?1 x")], [END]),
    ("conflict", "/workflows/sr_greet", [JSON, ("idempotency-key", "k?1 x")], [_body(ADA)]),
    ("empty key", "/workflows/sr_sleep", [("idempotency-key", "")], [END]),
    ("key with a slash", "/workflows/sr_sleep", [("idempotency-key", "k/1")], [END]),
    ("repeated", "/workflows/sr_sleep", [("x-request-id", "r1"), ("x-request-id", "r2")], [END]),
    ("unknown", "/workflows/nope", [JSON], [_body(b"{}")]),
    ("quoted", "/workflows/no pe", [JSON], [_body(b"{}")]),
    ("invalid", "/workflows/sr_greet", [JSON], [_body(b'{"name": "Ada", "age": "old"}')]),
    ("takes none", "/workflows/sr_sleep", [JSON], [_body(b"5")]),
    ("malformed", "/workflows/sr_greet", [JSON], [_body(b"{nope")]),
    ("nan", "/workflows/sr_greet", [JSON], [_body(b"NaN")]),
    ("text", "/workflows/sr_greet", [("content-type", "text/plain")], [_body(b"x")]),
    ("untyped", "/workflows/sr_greet", [], [_body(b"x")]),
    ("params", "/workflows/sr_greet", [("content-type", "Application/JSON; q=1")], [_body(ADA)]),
    ("suffix", "/workflows/sr_greet", [("content-type", "application/x+json")], [_body(ADA)]),
    ("declared", "/workflows/sr_greet", [JSON, ("content-length", "500")], [_part(b"x"), END]),
    ("grows", "/workflows/sr_greet", [JSON], [_part(b"x" * 140), _part(b"x" * 140), END]),
    ("too slow", "/workflows/sr_greet", [JSON], [_part(b"{")]),
    ("gone", "/workflows/sr_greet", [JSON], [_part(b"{"), GONE]),
    ("trailing slash", "/workflows/sr_greet/", [JSON], [_body(b"{}")]),
    ("diagram", "/workflows/sr_greet/diagram.svg", [JSON], [_body(b"{}")]),
    ("deep", "/workflows/sr_greet", [JSON], [_body(b"[" * 101 + b"]" * 101)]),
    ("surrogate", "/workflows/sr_greet", [JSON], [_body(b'{"name": "\\ud800", "age": 3}')]),
    ("first body", "/workflows/sr_greet", [JSON, ("idempotency-key", "g1")], [_body(ADA)]),
    ("same body", "/workflows/sr_greet", [JSON, ("idempotency-key", "g1")], [_body(ADA)]),
    ("other body", "/workflows/sr_greet", [JSON, ("idempotency-key", "g1")], [_body(BOB)]),
    ("utf-8 key", "/workflows/sr_sleep", [("idempotency-key", "clé")], [END]),
    ("latin-1 key", "/workflows/sr_sleep", [("idempotency-key", b"cl\xe9")], [END]),
]


async def call(
    asgi: ASGI, path: str, headers: list[tuple[str, str | bytes]], received: list[Message]
) -> list[Message]:
    """What ``asgi`` sends for one POST; the client sends ``received``, then nothing."""
    pending = list(received)
    sent: list[Message] = []

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")]
        + [(k.encode(), v if isinstance(v, bytes) else v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "extensions": {},
    }
    await asgi(scope, receive, send)
    return sent


def answer(sent: list[Message]) -> dict[str, Any]:
    """What the client gets: status, header lines and body, with generated ids masked."""
    if not sent:
        return {}
    assert sent[0]["type"] == "http.response.start"
    assert [m["type"] for m in sent[1:]] == ["http.response.body"] * (len(sent) - 1)
    assert sent[-1].get("more_body", False) is False
    body = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    lines = [(k.decode(), _masked(v.decode())) for k, v in sent[0]["headers"]]
    return {"status": sent[0]["status"], "headers": lines, "body": _masked(body)}


def _masked(text: str) -> str:
    return re.sub(r"[0-9a-f]{32}", "<generated>", text)


def logged(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str]]:
    lines = [
        (
            r.name,
            re.sub(r"duration_ms=[0-9.]+", "", _masked(r.getMessage())),
            _masked(getattr(r, "request_id", "")),
        )
        for r in caplog.records
        if r.name.startswith("trioflow.a")
    ]
    caplog.clear()
    return lines


@pytest.mark.parametrize("token", [None, "s3cret"])
async def test_the_fast_path_answers_as_quart_does(
    tmp_path: Path,
    token: str | None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    autojump_clock: trio.testing.MockClock,
) -> None:
    caplog.set_level(logging.INFO, logger="trioflow")
    auth = [("authorization", f"Bearer {token}")] if token else []
    cases = [(name, path, auth + headers, sent) for name, path, headers, sent in CASES]
    if token:
        cases += [
            ("no token", "/workflows/sr_sleep", [], [END]),
            ("wrong token", "/workflows/sr_sleep", [("authorization", "Bearer x")], [END]),
            ("basic", "/workflows/sr_sleep", [("authorization", "Basic czNjcmV0")], [END]),
            ("spaced", "/workflows/sr_sleep", [("authorization", "bearer  s3cret ")], [END]),
            ("unread", "/workflows/sr_sleep", [], [_part(b"x"), _part(b"x"), END]),
        ]
    async with (
        Runtime.open(str(tmp_path / "fast.db")) as fast_runtime,
        Runtime.open(str(tmp_path / "quart.db")) as quart_runtime,
    ):
        fast = create_app(fast_runtime, token=token, max_body=250, fast_path=True)
        quart = create_app(quart_runtime, token=token, max_body=250, fast_path=False)
        route = fast.asgi_app
        assert isinstance(route, StartRoute)
        assert not isinstance(quart.asgi_app, StartRoute)
        passed_on: list[str] = []
        inner = route.__wrapped__

        async def counted(scope: Any, receive: Any, send: Any) -> None:
            passed_on.append(scope["path"])
            await inner(scope, receive, send)

        route.__wrapped__ = counted
        answers = {}
        for name, path, headers, received in cases:
            fast_answer = answer(await call(fast, path, headers, received))
            fast_log = logged(caplog)
            quart_answer = answer(await call(quart.asgi_app, path, headers, received))
            assert fast_answer == quart_answer, name
            assert fast_log == logged(caplog), name
            answers[name] = fast_answer
        for name, status, detail in [
            ("deep", 400, "body: nested deeper than 100 levels"),
            ("surrogate", 400, "body.name: holds a lone surrogate"),
            ("same body", 202, '"instance_id":"g1"'),
            ("other body", 409, "'g1' exists already with another input"),
            ("utf-8 key", 202, '"instance_id":"cl\\u00e9"'),
            ("latin-1 key", 400, "the Idempotency-Key header is not UTF-8 text"),
        ]:
            assert answers[name]["status"] == status, name
            assert detail in answers[name]["body"], answers[name]["body"]
        assert passed_on == ["/workflows/sr_greet/", "/workflows/sr_greet/diagram.svg"]

        async def overloaded(*args: Any, **kwargs: Any) -> str:
            raise Overloaded("the journal queue is full; try again shortly")

        async def broken(*args: Any, **kwargs: Any) -> str:
            raise RuntimeError("secret internals")

        for fake in (overloaded, broken):
            monkeypatch.setattr(Runtime, "start", fake)
            start = ("/workflows/sr_sleep", [*auth, ("x-request-id", "r5")], [END])
            fast_answer = answer(await call(fast, *start))
            fast_log = logged(caplog)
            quart_answer = answer(await call(quart.asgi_app, *start))
            assert fast_answer == quart_answer
            assert fast_log == logged(caplog)
            assert fast_answer["status"] in (500, 503)


async def test_what_an_application_adds_to_the_app_still_applies(
    db: str, autojump_clock: trio.testing.MockClock, http_path: str
) -> None:
    async with Runtime.open(db) as runtime:
        app = create_app(runtime)
        client = app.test_client()
        assert (await client.post("/workflows/special")).status_code == 404  # no such workflow

        @app.post("/workflows/special")
        async def special() -> Any:
            return {"special": True}

        assert (await client.post("/workflows/special")).status_code == 200
        assert (await client.post("/workflows/sr_sleep")).status_code == 202
        seen: list[str] = []

        @app.before_request
        async def mark() -> None:
            seen.append(request.path)

        async def teapot(exc: Exception) -> Response:
            return Response("no such workflow", status=418)

        app.register_error_handler(WorkflowNotFound, teapot)
        assert (await client.post("/workflows/sr_sleep")).status_code == 202
        assert (await client.post("/workflows/nope")).status_code == 418
        assert seen == ["/workflows/sr_sleep", "/workflows/nope"]


async def test_the_request_id_does_not_outlive_its_request(
    db: str, autojump_clock: trio.testing.MockClock, http_path: str
) -> None:
    async with Runtime.open(db) as runtime:
        app = create_app(runtime)
        sent = await call(app, "/workflows/sr_sleep", [("x-request-id", "req-9")], [END])
        assert (b"x-request-id", b"req-9") in sent[0]["headers"]
        assert request_id.get() == "-"


async def test_starts_go_through_quart_when_the_fast_path_is_off_or_quart_unknown(
    db: str,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with Runtime.open(db) as runtime:
        assert isinstance(create_app(runtime).asgi_app, StartRoute)
        assert not isinstance(create_app(runtime, fast_path=False).asgi_app, StartRoute)
        monkeypatch.setattr(_fast_path, "QUART", ((0, 19),))  # as if Quart 0.23 were installed
        app = create_app(runtime)
        assert not isinstance(app.asgi_app, StartRoute)
        installed = importlib.metadata.version("quart")
        assert (
            f"HTTP fast path off: Quart {installed} is not a release it was written for (0.19);"
            " Quart answers every request"
        ) in caplog.messages
        sent = await call(app, "/workflows/sr_sleep", [("x-request-id", "q-1")], [END])
        assert sent[0]["status"] == 202
