"""``create_app``: the route table and its handlers.

A handler only translates: it reads the request, makes one runtime call and shapes
the answer. Failures are raised, never answered here: ``_problems.to_problem``
turns them into problem documents, the middleware (``_middleware.install``) wraps
every route with request ids, the access log, the bearer token and the body limit.
``POST /workflows/{name}``, the route that takes the load, is answered in front of
Quart by ``_start_route.StartRoute`` with the same rules and the same command
(``Handlers.started``), as long as the app is as ``create_app`` made it and the fast
path is on (``_fast_path``).
"""

from __future__ import annotations

import argparse
import contextlib
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
from prometheus_client.registry import CollectorRegistry
from quart import Response, request
from quart.typing import ResponseReturnValue
from quart_trio import QuartTrio

from runtime import (
    STATUSES,
    Event,
    Instance,
    PublishResult,
    Runtime,
    WorkflowCancelled,
    WorkflowFailed,
    bpmn,
)

from . import _cloudevents as cloudevents
from . import _ui as ui
from ._answer import Answer, json_answer
from ._durations import duration
from ._fast_path import start_route_wanted
from ._metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ._metrics import metrics_registry, render
from ._middleware import header_text, install, read_body, read_json
from ._openapi import OPENAPI
from ._problems import HTTPProblem, to_problem
from ._start_route import StartRoute

SVG = "image/svg+xml"
MAX_PAGE = 500
MAX_WAIT = 60.0
MAX_STARTS = 256
View = Callable[..., Awaitable[ResponseReturnValue]]
N = TypeVar("N", int, float)


def create_app(
    runtime: Runtime,
    *,
    token: str | None = None,
    max_body: int = 1_048_576,
    max_starts: int = MAX_STARTS,
    fast_path: bool | None = None,
) -> QuartTrio:
    """The HTTP API of ``runtime``, which must be open while the app serves.

    ``token``: every route but ``/healthz`` needs ``Authorization: Bearer <token>``.
    ``max_body``: larger request bodies are refused with 413. ``max_starts``: starts
    beyond that many in progress at once are answered 503 with ``Retry-After``. The
    runtime is kept in ``app.extensions["trioflow.runtime"]`` for whoever serves the app.
    ``fast_path`` (default: ``$TRIOFLOW_FAST_PATH``, else on): starts are answered in front
    of Quart, with the same answers, where the installed Quart is one it was written for.
    """
    if max_starts < 1:
        raise ValueError("max_starts must be >= 1")
    app = QuartTrio(__name__, static_folder=None)
    session = ui.BrowserSession(None if token is None else token.encode())
    rules = install(app, token=token, max_body=max_body, admits=session.admits)
    console = ui.Console(runtime=runtime, session=session, diagram=_diagram_or_none)
    handlers = Handlers(
        runtime=runtime,
        registry=metrics_registry(runtime),
        starts=InFlight(limit=max_starts),
        console=console,
    )
    for method, rule, view in routes(handlers):
        app.add_url_rule(rule, f"{method} {rule}", view, methods=[method])
    app.before_request(session.guard)  # after the middleware's: viewer pages need a session
    app.register_error_handler(Exception, to_problem)
    app.extensions["trioflow.runtime"] = runtime
    if start_route_wanted(fast_path):
        # The busiest route skips Quart's per-request machinery (same rules, same answers).
        app.asgi_app = StartRoute(app, rules, handlers.started, app.asgi_app)  # type: ignore[method-assign]
    return app


def routes(h: Handlers) -> list[tuple[str, str, View]]:
    """The whole HTTP surface, one route a line (``openapi.json`` describes the same)."""
    return [
        ("GET", "/healthz", h.healthz),
        ("GET", "/workflows", h.list_workflows),
        ("POST", "/workflows/<name>", h.start),
        ("GET", "/workflows/<name>/diagram.svg", h.workflow_diagram),
        ("GET", "/instances", h.list_instances),
        ("GET", "/instances/<instance_id>", h.get_instance),
        ("GET", "/instances/<instance_id>/result", h.result),
        ("GET", "/instances/<instance_id>/history", h.history),
        ("GET", "/instances/<instance_id>/diagram.svg", h.instance_diagram),
        ("POST", "/instances/<instance_id>/cancel", h.cancel),
        ("POST", "/instances/<instance_id>/resume", h.resume),
        ("POST", "/instances/<instance_id>/events", h.send_event),
        ("POST", "/instances/<instance_id>/incidents/<incident_id>/resolve", h.resolve_incident),
        ("POST", "/signals/<name>", h.broadcast_signal),
        ("POST", "/events", h.publish_cloudevents),
        ("POST", "/", h.publish_cloudevents),
        ("POST", "/prune", h.prune),
        ("GET", "/metrics", h.metrics),
        ("GET", "/openapi.json", h.openapi),
        ("GET", "/ui/", h.console.instances),
        ("GET", "/ui/instances/<instance_id>", h.console.instance),
        ("GET", "/ui/login", h.console.login_form),
        ("POST", "/ui/login", h.console.login),
        ("POST", "/ui/logout", h.console.logout),
        ("GET", "/ui/static/<name>", h.console.static),
    ]


@attrs.define(eq=False, kw_only=True)
class InFlight:
    """How many starts are in progress, and how many may be."""

    limit: int
    count: int = 0


@attrs.frozen(kw_only=True)
class Handlers:
    """One method per route (the viewer's are ``console``'s); the runtime is their only
    dependency."""

    runtime: Runtime
    registry: CollectorRegistry
    starts: InFlight
    console: ui.Console

    async def healthz(self) -> ResponseReturnValue:
        return {"status": "ok"}

    async def list_workflows(self) -> ResponseReturnValue:
        items = [
            {"name": d.name, "kind": d.kind, "trigger": d.trigger} for d in self.runtime.workflows()
        ]
        return {"items": items}

    async def start(self, name: str) -> ResponseReturnValue:
        value = await read_json(allow_empty=True)
        started = await self.started(name, value, request.headers.get("Idempotency-Key"))
        return started.response()

    async def started(self, name: str, value: Any, key: str | None) -> Answer:
        """The start command behind ``POST /workflows/{name}``, shared with its fast path.

        ``key`` is the Idempotency-Key header as the server handed it over (Latin-1)."""
        if key is not None:
            key = header_text("Idempotency-Key", key)
        starts = self.starts
        if starts.count >= starts.limit:
            raise HTTPProblem(
                503,
                f"{starts.limit} starts are in progress, the most this server takes at once;"
                " try again shortly",
                kind="overloaded",
                headers={"Retry-After": "1"},
            )
        starts.count += 1
        try:
            instance_id = await self.runtime.start(name, value, instance_id=key)
        finally:
            starts.count -= 1
        instance = await self.runtime.get(instance_id)
        body = {"instance_id": instance_id, "status": instance.status}
        location = f"/instances/{urllib.parse.quote(instance_id, safe='')}"
        return json_answer(body, 202, after=[("Location", location)])

    async def workflow_diagram(self, name: str) -> ResponseReturnValue:
        return Response(await bpmn.workflow_diagram(self.runtime, name), content_type=SVG)

    async def list_instances(self) -> ResponseReturnValue:
        status = request.args.get("status")
        if status is not None and status not in STATUSES:
            raise _bad_query("status", f"must be one of {', '.join(STATUSES)}")
        limit = _number_arg("limit", int, default=100, low=1, high=MAX_PAGE)
        try:
            page = await self.runtime.list(
                status=status,
                workflow=request.args.get("workflow"),
                limit=limit,
                cursor=request.args.get("cursor"),
            )
        except ValueError as exc:  # the store refuses a cursor it did not hand out
            raise _bad_query("cursor", str(exc)) from None
        return {"items": [_document(i) for i in page.items], "next_cursor": page.next_cursor}

    async def get_instance(self, instance_id: str) -> ResponseReturnValue:
        return _document(await self.runtime.get(instance_id))

    async def result(self, instance_id: str) -> ResponseReturnValue:
        wait = _number_arg("wait", float, default=0.0, low=0.0, high=MAX_WAIT)
        # Every outcome (and "not yet") is read from the instance below.
        with contextlib.suppress(TimeoutError, WorkflowFailed, WorkflowCancelled):
            await self.runtime.result(instance_id, timeout=wait)
        instance = await self.runtime.get(instance_id)
        if instance.status == "completed":
            return {"status": instance.status, "output": instance.output}
        if instance.finished or instance.status == "suspended":
            return {"status": instance.status, "error": instance.error}
        return {"status": instance.status}, 202

    async def history(self, instance_id: str) -> ResponseReturnValue:
        items = await self.runtime.history(instance_id)
        return {
            "items": [
                {"seq": i.seq, "kind": i.kind, "at": i.at.isoformat(), "data": i.data, "run": i.run}
                for i in items
            ],
            "runs": [
                {
                    "run": run.run,
                    "first_seq": run.first_seq,
                    "last_seq": run.last_seq,
                    "input": run.input,
                    "started_at": run.started_at.isoformat(),
                    "ended": run.ended,
                }
                for run in await self.runtime.runs(instance_id)
            ],
        }

    async def instance_diagram(self, instance_id: str) -> ResponseReturnValue:
        svg = await bpmn.instance_diagram(self.runtime, instance_id)
        return Response(svg, content_type=SVG)

    async def cancel(self, instance_id: str) -> ResponseReturnValue:
        value = await read_json(allow_empty=True)
        body = _object({} if value is None else value, fields={"reason"})
        reason = body.get("reason", "")
        if not isinstance(reason, str):
            raise HTTPProblem(400, "reason: must be a string", kind="invalid-body", field="reason")
        await self.runtime.cancel(instance_id, reason=reason)
        instance = await self.runtime.get(instance_id)
        return {"instance_id": instance_id, "status": instance.status}, 202

    async def resolve_incident(self, instance_id: str, incident_id: str) -> ResponseReturnValue:
        value = await read_json(allow_empty=True)
        body = _object({} if value is None else value, fields={"variables"})
        variables = body.get("variables", {})
        if not isinstance(variables, dict):
            raise HTTPProblem(
                400, "variables: must be an object", kind="invalid-body", field="variables"
            )
        await self.runtime.resolve_incident(instance_id, incident_id, variables)
        instance = await self.runtime.get(instance_id)
        return {"instance_id": instance_id, "status": instance.status}, 202

    async def resume(self, instance_id: str) -> ResponseReturnValue:
        await self.runtime.resume(instance_id)
        instance = await self.runtime.get(instance_id)
        return {"instance_id": instance_id, "status": instance.status}, 202

    async def send_event(self, instance_id: str) -> ResponseReturnValue:
        body = _object(await read_json(), fields={"type", "data", "subject"})
        # An unknown or finished instance is refused by publish (404, 409): nothing is stored.
        event = Event(
            type=body.get("type", ""),
            subject=body.get("subject"),
            data=body.get("data"),
            instanceid=instance_id,
        )
        return _published(await self.runtime.publish(event)), 202

    async def broadcast_signal(self, name: str) -> ResponseReturnValue:
        value = await read_json(allow_empty=True)
        body = _object({} if value is None else value, fields={"variables"})
        variables = body.get("variables", {})
        if not isinstance(variables, dict):
            raise HTTPProblem(
                400, "variables: must be an object", kind="invalid-body", field="variables"
            )
        return _published(await self.runtime.broadcast_signal(name, variables)), 202

    async def publish_cloudevents(self) -> ResponseReturnValue:
        body = await read_body()
        events, batch = cloudevents.parse(request.mimetype, request.headers.items(), body)
        # Every event is checked before any is stored, and all are stored in one transaction.
        if not batch:
            return _published(await self.runtime.publish(events[0])), 202
        results = [_published(result) for result in await self.runtime.publish_many(events)]
        return {"items": results}, 202

    async def prune(self) -> ResponseReturnValue:
        unknown = sorted(set(request.args) - {"older_than", "dry_run", "workflow"})
        if unknown:
            raise _bad_query(unknown[0], "unknown parameter")
        text = request.args.get("older_than")
        if text is None:
            raise _bad_query("older_than", "is required: a duration such as 30s, 15m, 12h, 7d")
        try:
            older_than = duration(text)
        except argparse.ArgumentTypeError as exc:
            raise _bad_query("older_than", str(exc)) from None
        dry_run = request.args.get("dry_run", "false")
        if dry_run not in ("true", "false"):
            raise _bad_query("dry_run", "must be true or false")
        report = await self.runtime.prune(
            older_than, dry_run=dry_run == "true", workflow=request.args.get("workflow")
        )
        return attrs.asdict(report)

    async def metrics(self) -> ResponseReturnValue:
        return Response(render(self.registry), content_type=METRICS_CONTENT_TYPE)

    async def openapi(self) -> ResponseReturnValue:
        return OPENAPI


async def _diagram_or_none(runtime: Runtime, instance_id: str) -> str | None:
    """The instance's BPMN diagram as inline SVG, or None for a code workflow."""
    try:
        svg = await bpmn.instance_diagram(runtime, instance_id)
    except bpmn.DiagramNotFound:
        return None
    return svg.split("?>", 1)[-1] if svg.startswith("<?xml") else svg


def _document(instance: Instance) -> dict[str, Any]:
    return {
        "id": instance.id,
        "workflow": instance.workflow,
        "parent_id": instance.parent_id,
        "status": instance.status,
        "input": instance.input,
        "output": instance.output,
        "error": instance.error,
        "waiting_on": instance.waiting_on,
        "incidents": instance.incidents,
        "created_at": instance.created_at.isoformat(),
        "updated_at": instance.updated_at.isoformat(),
        "run": instance.run,
        "blocked": None
        if instance.blocked is None
        else {"reason": instance.blocked.reason, "since": instance.blocked.since.isoformat()},
    }


def _published(result: PublishResult) -> dict[str, Any]:
    return {
        "duplicate": result.duplicate,
        "delivered": list(result.delivered),
        "started": list(result.started),
        "rejected": list(result.rejected),
        "stored": result.stored,
        "forwarded": list(result.forwarded),
    }


def _object(value: Any, *, fields: set[str]) -> dict[str, Any]:
    """``value`` as a JSON object holding only ``fields`` (a 400 naming the others)."""
    if not isinstance(value, dict):
        expected = ", ".join(sorted(fields))
        raise HTTPProblem(400, f"the body must be a JSON object ({expected})", kind="invalid-body")
    unknown = sorted(set(value) - fields)
    if unknown:
        raise HTTPProblem(
            400, f"{unknown[0]}: unknown field", kind="invalid-body", field=unknown[0]
        )
    return value


def _number_arg(name: str, kind: type[N], *, default: N, low: N, high: N) -> N:
    text = request.args.get(name)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise _bad_query(name, f"must be a number from {low} to {high}") from None
    if not low <= value <= high:  # NaN fails this too
        raise _bad_query(name, f"must be a number from {low} to {high}")
    return value


def _bad_query(name: str, message: str) -> HTTPProblem:
    return HTTPProblem(400, f"{name}: {message}", kind="invalid-query", parameter=name)
