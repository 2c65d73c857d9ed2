"""Middleware composed around the route table, and the JSON body rules every route shares.

A request meets, in order: ``begin`` (request id, start time, then ``Rules``: bearer
token, declared size); the handler; then ``finish`` (echo the request id, one
access-log line). Errors raised anywhere in between become problem documents
(``_problems.to_problem``) and still pass through ``finish``. Around it all, at the
ASGI level, ``drain_unread_body`` keeps keep-alive connections usable after a response
that did not read the body. ``read_json`` is how a route reads a JSON body. The rules
themselves are plain functions of header values and bytes (``Rules``,
``request_id_for``, ``json_body``, ``too_large``, ``log_access``): the start route's
fast path (``_start_route``) applies the very same ones.
"""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import attrs
import trio
from hypercorn.typing import (
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
)
from quart import Response, g, request
from quart_trio import QuartTrio
from werkzeug.exceptions import RequestEntityTooLarge

from ._limits import TOO_DEEP, json_problem, may_break_limits
from ._problems import HTTPProblem

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
"""The id of the request the current task serves ("-" outside a request)."""

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_JSON_TYPE = re.compile(r"application/(?:[a-z0-9.!#$&^_-]+\+)?json")
_OPEN_PATHS = frozenset({"/healthz"})
DRAIN_SECONDS = 10.0
ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Coroutine[Any, Any, None]]
_access_log = logging.getLogger("trioflow.access")


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` to the current request's id, for formatters to print.

    ``create_app`` puts it on trioflow's API loggers; add it to a handler to cover
    every logger whose records pass through that handler.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


@attrs.frozen(kw_only=True)
class Rules:
    """The checks a request meets before its route, as functions of header values.

    The Quart hooks (``install``) and the start route's fast path (``_start_route``)
    both ask these, so that a request meets the same rules whichever way it is served.
    """

    token: bytes | None
    max_body: int

    def authorize(self, path: str, authorization: str) -> None:
        """A 401 unless ``authorization`` carries the bearer token (when there is one)."""
        if self.token is None or path in _OPEN_PATHS:
            return
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise HTTPProblem(
                401,
                "this route needs an 'Authorization: Bearer <token>' header",
                kind="unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="trioflow"'},
            )
        if not hmac.compare_digest(_header_bytes(given.strip()), self.token):
            raise HTTPProblem(
                401,
                "the bearer token is not valid",
                kind="unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="trioflow", error="invalid_token"'},
            )

    def limit_body(self, declared: int | None) -> None:
        """A 413 when the declared body size (Content-Length) is over the limit."""
        if declared is not None and declared > self.max_body:
            raise HTTPProblem(
                413,
                f"the body is {declared} bytes; at most {self.max_body} are accepted",
                kind="too-large",
            )


def _header_bytes(value: str) -> bytes:
    """The bytes a client sent for a header value that arrived decoded as latin-1 (each
    byte one character); nothing (which matches no token) for a value no header can hold."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return b""


def request_id_for(given: str) -> str:
    """The request's id: the client's ``X-Request-ID`` when it is sane, a new one otherwise."""
    return given if _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def log_access(method: str, path: str, status: int, started: float, rid: str) -> None:
    """The request's access-log line (``started``: its ``time.perf_counter()`` at arrival).

    A path with control characters (``%0A`` decodes to a newline) is escaped in the line,
    so that no request can write a log line of its own."""
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    _access_log.info(
        "method=%s path=%s status=%d duration_ms=%.3f request_id=%s",
        method,
        path if path.isprintable() else path.encode("unicode_escape").decode("ascii"),
        status,
        duration_ms,
        rid,
        extra={
            "http_method": method,
            "http_path": path,
            "http_status": status,
            "duration_ms": duration_ms,
        },
    )


def install(app: QuartTrio, *, token: str | None, max_body: int) -> Rules:
    """Register the middleware on ``app``; ``token=None`` leaves every route open."""
    if max_body < 1:
        raise ValueError("max_body must be >= 1")
    if token == "":
        raise ValueError("the token must not be empty (token=None serves every route open)")
    # Quart counts the body as it arrives too: a chunked body has no Content-Length to check.
    app.config["MAX_CONTENT_LENGTH"] = max_body
    for name in ("trioflow.access", "trioflow.api"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RequestIdFilter) for f in logger.filters):
            logger.addFilter(RequestIdFilter())
    rules = Rules(token=None if token is None else token.encode("utf-8"), max_body=max_body)

    async def begin() -> None:
        headers = request.headers
        request_id.set(request_id_for(headers.get("X-Request-ID", "")))
        g.started = time.perf_counter()
        rules.authorize(request.path, headers.get("Authorization", ""))
        rules.limit_body(request.content_length)

    async def finish(response: Response) -> Response:
        rid = request_id.get()
        response.headers["X-Request-ID"] = rid
        started: float = g.get("started", time.perf_counter())
        log_access(request.method, request.path, response.status_code, started, rid)
        return response

    app.before_request(begin)
    app.after_request(finish)
    app.asgi_app = drain_unread_body(app.asgi_app)  # type: ignore[method-assign, assignment]
    return rules


def drain_unread_body(asgi_app: ASGIApp) -> ASGIApp:
    """Wrap ``asgi_app`` so that a response is finished only once the request body was read.

    Hypercorn hands body chunks to the app through a bounded queue, and when a response
    ends it puts one more message there (``http.disconnect``): if a route answered without
    reading a large body (401, 413 on the declared length), that put blocks for good and
    the keep-alive connection hangs. Quart goes on reading (and dropping, past the limit)
    the body while the response goes out, so the last piece of the response waits for the
    end of the body, at most DRAIN_SECONDS.
    """

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] != "http":
            await asgi_app(scope, receive, send)
            return
        body_read = trio.Event()

        async def observed_receive() -> ASGIReceiveEvent:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read.set()
            return message

        async def send_once_read(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                with trio.move_on_after(DRAIN_SECONDS):
                    await body_read.wait()
                # Hypercorn ends the exchange inside this send: it hands the app
                # http.disconnect, on which Quart-Trio cancels the request's tasks, this
                # one included, then re-arms the connection's keep-alive timer. Cut off
                # there, the timer is never re-armed: the connection then outlives
                # keep_alive_timeout and holds a graceful shutdown for graceful_timeout.
                with trio.CancelScope(shield=True):
                    await send(message)
                return
            await send(message)

        await asgi_app(scope, observed_receive, send_once_read)

    return app


def is_json(mimetype: str) -> bool:
    """``application/json`` or any ``application/...+json``."""
    return _JSON_TYPE.fullmatch(mimetype.lower()) is not None


def decode_json(body: bytes, *, limits: bool = True) -> Any:
    """The JSON value in ``body``; a 400 problem when it is not JSON (NaN included), and
    with ``limits``, when it nests deeper than ``MAX_DEPTH`` or holds a lone surrogate
    (see ``_limits``; without, the caller checks the parts it takes)."""
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:  # the parser's own stack ran out: far past the limit
        raise HTTPProblem(400, f"body: {TOO_DEEP}", kind="invalid-body", field="body") from None
    except ValueError as exc:
        raise HTTPProblem(
            400, f"the body is not valid JSON: {exc}", kind="malformed-json"
        ) from None
    if limits and may_break_limits(body):
        problem = json_problem(value, "body")
        if problem is not None:
            where, message = problem
            raise HTTPProblem(400, f"{where}: {message}", kind="invalid-body", field=where)
    return value


def header_text(name: str, value: str) -> str:
    """A header value as the client wrote it, in UTF-8: servers hand values over as
    Latin-1 (one character a byte), which would turn ``é`` into ``Ã©``. A 400 names
    the header when its bytes are not UTF-8."""
    if value.isascii():
        return value
    try:
        return value.encode("latin1").decode("utf-8")
    except UnicodeError:
        raise HTTPProblem(
            400, f"the {name} header is not UTF-8 text", kind="invalid-header", header=name
        ) from None


def json_body(body: bytes, mimetype: str, *, allow_empty: bool = False) -> Any:
    """The JSON value of a request body: 415 unless ``mimetype`` is JSON, 400 when it does
    not parse. ``allow_empty``: an empty body (of any or no content type) reads as None."""
    if not body and allow_empty:
        return None
    if not is_json(mimetype):
        got = mimetype or "no content type"
        raise HTTPProblem(
            415, f"the body must be application/json, not {got}", kind="unsupported-media-type"
        )
    return decode_json(body)


def too_large(limit: int | None) -> HTTPProblem:
    """The 413 for a body that grew past ``limit`` as it arrived."""
    return HTTPProblem(413, f"the body is over the limit ({limit} bytes)", kind="too-large")


async def read_body() -> bytes:
    """The request body; a 413 when it grows past the limit as it arrives."""
    try:
        body = await request.get_data(as_text=False)
    except RequestEntityTooLarge:
        raise too_large(request.max_content_length) from None
    assert isinstance(body, bytes)
    return body


async def read_json(*, allow_empty: bool = False) -> Any:
    """The request's JSON body: 415 unless it is JSON, 400 when it does not parse.

    ``allow_empty``: an empty body (of any or no content type) reads as None.
    """
    return json_body(await read_body(), request.mimetype, allow_empty=allow_empty)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
