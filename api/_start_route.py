"""``POST /workflows/{name}``, the route that takes the load, answered in front of Quart.

Theory of operation: for a start, Quart costs more than the start itself (a request
and an app context, request and response objects, the hook machinery, two tasks per
request). ``StartRoute`` wraps the app's ASGI callable and answers a request itself
only when Quart would hand it to the start view with nothing else around it: a POST
whose path Quart's URL map routes to that view, on an app whose hooks, error handlers,
signals and routing settings are still the ones ``create_app`` set up. Everything else
(any other route, or any app that was extended with hooks of its own) goes on to Quart.

It answers with the same parts Quart's route uses, not copies of them: the request id
and access-log line (``request_id_for``, ``log_access``), the bearer token and the size
limit (``Rules``), the 413/415/400 body rules (``too_large``, ``json_body``), the start
command (``Handlers.started``) and the problem documents (``problem_for``). It reads the
body the way Quart does (``MAX_CONTENT_LENGTH`` as it arrives, ``BODY_TIMEOUT``), and
like ``drain_unread_body`` it finishes an early answer only once the body is read.
``tests/test_api_start_route.py`` holds the two ways to the same answers and log lines.

One difference is left, by choice: Quart-Trio watches for the client's disconnect in a
second task and cancels the request when it comes. Here a client that leaves while its
start is being committed goes unnoticed: the start's 202 is logged (and sent nowhere)
where Quart would log nothing; the start commits either way. A watcher task per request
would cost more than it tells.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio
from quart import signals
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException, RequestTimeout
from werkzeug.http import parse_options_header
from werkzeug.sansio.utils import get_content_length

from ._answer import Answer
from ._middleware import (
    DRAIN_SECONDS,
    ASGIApp,
    Rules,
    json_body,
    log_access,
    request_id,
    request_id_for,
    too_large,
)
from ._problems import problem_for

PREFIX = "/workflows/"
ENDPOINT = "POST /workflows/<name>"
MAX_ROUTED = 1024  # paths whose routing is remembered (names are few; strangers are not)
Started = Callable[[str, Any, str | None], Awaitable[Answer]]
_WANTED = frozenset(
    {
        b"x-request-id",
        b"authorization",
        b"content-length",
        b"transfer-encoding",
        b"content-type",
        b"idempotency-key",
    }
)
_SIGNALS = (
    signals.request_started,
    signals.request_finished,
    signals.request_tearing_down,
    signals.got_request_exception,
    signals.appcontext_pushed,
    signals.appcontext_popped,
    signals.appcontext_tearing_down,
)


class _Disconnected(Exception):
    """The client went away (``http.disconnect``) while its request body was being read."""


def setup_of(app: QuartTrio) -> tuple[Any, ...]:
    """What Quart runs around a view of ``app`` besides the view (compared, not interpreted)."""
    handlers = app.error_handler_spec.get(None, {})
    return (
        app.view_functions.get(ENDPOINT),
        list(app.before_request_funcs.get(None, ())),
        list(app.after_request_funcs.get(None, ())),
        list(app.teardown_request_funcs.get(None, ())),
        list(app.url_value_preprocessors.get(None, ())),
        list(app.teardown_appcontext_funcs),
        # Looking a handler up leaves an empty entry behind (a defaultdict): only handlers count.
        {code: dict(by_class) for code, by_class in handlers.items() if by_class},
        [dict(signal.receivers) for signal in _SIGNALS],
        app.config["SERVER_NAME"],
        app.url_map.host_matching,
        app.subdomain_matching,
    )


@attrs.define(eq=False)
class StartRoute:
    """The app's ASGI callable with ``POST /workflows/{name}`` answered in front of it.

    ``__wrapped__`` is the callable it wraps (Quart, with the rest of the middleware).
    """

    _app: QuartTrio
    _rules: Rules
    _started: Started
    __wrapped__: ASGIApp
    _setup: tuple[Any, ...] = attrs.field(init=False)
    _routed: dict[str, str | None] = attrs.field(init=False, factory=dict)
    _rule_count: int = attrs.field(init=False, default=-1)

    def __attrs_post_init__(self) -> None:
        self._setup = setup_of(self._app)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            name = self._name(scope["path"])
            if name is not None:
                await self._answer(scope, receive, send, name)
                return
        await self.__wrapped__(scope, receive, send)

    def _name(self, path: str) -> str | None:
        """The workflow name when Quart would give ``POST path`` to the start view, as it is."""
        if not path.startswith(PREFIX) or setup_of(self._app) != self._setup:
            return None
        rule_count = len(self._app.url_map._rules)
        if rule_count != self._rule_count:  # routes were added: ask the URL map again
            self._routed.clear()
            self._rule_count = rule_count
        try:
            return self._routed[path]
        except KeyError:
            pass
        if len(self._routed) >= MAX_ROUTED:
            self._routed.clear()
        adapter = self._app.url_map.bind("localhost")
        try:
            endpoint, arguments = adapter.match(path, method="POST")
        except HTTPException:  # 404, 405 and redirects (RequestRedirect) are Quart's to answer
            name = None
        else:
            name = arguments.get("name") if endpoint == ENDPOINT else None
        self._routed[path] = name
        return name

    async def _answer(self, scope: Any, receive: Any, send: Any, name: str) -> None:
        began = time.perf_counter()
        headers: dict[bytes, str] = {}
        for key, value in scope["headers"]:
            key = key.lower()
            if key in _WANTED and key not in headers:  # the first of a repeated header counts
                headers[key] = value.decode("latin1")
        rid = request_id_for(headers.get(b"x-request-id", ""))
        # Quart sets the id in a task of the request's own; here it is reset on the way out.
        token = request_id.set(rid)
        path: str = scope["path"]
        config = self._app.config
        body = _Body(receive)
        try:
            try:
                self._rules.authorize(path, headers.get(b"authorization", ""))
                declared = get_content_length(
                    headers.get(b"content-length"), headers.get(b"transfer-encoding")
                )
                self._rules.limit_body(declared)
                data = await body.read(config["MAX_CONTENT_LENGTH"], config["BODY_TIMEOUT"])
                mimetype = parse_options_header(headers.get(b"content-type", ""))[0].lower()
                value = json_body(data, mimetype, allow_empty=True)
                answer = await self._started(name, value, headers.get(b"idempotency-key"))
            except _Disconnected:
                raise
            except Exception as exc:
                answer = problem_for(_first(exc), path)
            log_access("POST", path, answer.status, began, rid)
            lines = [*answer.headers, (b"x-request-id", rid.encode("latin1"))]
            start = {"type": "http.response.start", "status": answer.status, "headers": lines}
            end = {"type": "http.response.body", "body": answer.body, "more_body": False}
            if body.complete:
                await send(start)
                await send(end)
                return
            # As drain_unread_body: the answer ends once the body was read. Quart gives up
            # sending an answer after RESPONSE_TIMEOUT; Hypercorn's writes are shielded, so
            # only this wait for the client can come near it.
            with trio.move_on_after(_seconds(config["RESPONSE_TIMEOUT"])):
                await send(start)
                with trio.move_on_after(DRAIN_SECONDS):
                    await body.skip()
                await send(end)
        except _Disconnected:
            return  # as with Quart: a request whose client left goes unanswered
        finally:
            request_id.reset(token)


@attrs.define(eq=False)
class _Body:
    """The request body as it arrives (``complete`` once its last part came)."""

    _receive: Any
    complete: bool = False

    async def read(self, limit: int | None, timeout: float | None) -> bytes:
        """The whole body: a 413 once it grows past ``limit``, a 408 after ``timeout`` seconds."""
        chunks: list[bytes] = []
        size = 0
        with trio.move_on_after(_seconds(timeout)):
            while not self.complete:
                chunk = await self._next()
                size += len(chunk)
                if limit is not None and size > limit:
                    raise too_large(limit)
                chunks.append(chunk)
            return b"".join(chunks)
        raise RequestTimeout()

    async def skip(self) -> None:
        while not self.complete:
            await self._next()

    async def _next(self) -> bytes:
        message = await self._receive()
        if message["type"] != "http.request":
            raise _Disconnected
        self.complete = not message.get("more_body", False)
        chunk: bytes = message.get("body", b"")
        return chunk


def _seconds(value: float | None) -> float:
    return math.inf if value is None else value


def _first(exc: Exception) -> Exception:
    """Quart answers an exception group with its first exception: so does the fast path."""
    while isinstance(exc, ExceptionGroup):
        exc = exc.exceptions[0]
    return exc
