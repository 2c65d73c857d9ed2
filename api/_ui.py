"""The web viewer: server-rendered HTML, no JavaScript.

``/ui/`` lists instances with filters and paging; ``/ui/instances/<id>`` shows one
instance, its journal as a timeline and, for a BPMN instance, its diagram with the
instance's state drawn on it. Pages are built with ``html.escape`` on every value.
"""

from __future__ import annotations

import html
import json
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from quart import Response, request

from runtime import STATUSES, HistoryItem, Instance, Runtime

DiagramRenderer = Callable[[Runtime, str], Awaitable[str | None]]

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d232a}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .6rem;
border-bottom:1px solid #e3e6ea;vertical-align:top}th{background:#f5f6f8}
.status{font-weight:600}.completed{color:#1a7f37}.failed,.suspended,.blocked{color:#cf222e}
.running{color:#0969da}.waiting{color:#9a6700}.cancelled{color:#57606a}
pre{margin:0;white-space:pre-wrap;word-break:break-word;font-size:12px}
form{margin:.8rem 0}label{margin-right:.8rem}a{color:#0969da}
ol.timeline{list-style:none;padding:0;border-left:3px solid #d0d7de;margin-left:.4rem}
ol.timeline li{margin:0 0 .6rem 0;padding-left:.8rem}.kind{font-weight:600}
.at{color:#57606a;font-size:12px}.diagram svg{max-width:100%;height:auto}
"""


def _page(title: str, body: str, status: int = 200) -> Response:
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)} · trioflow</title><style>{_STYLE}</style></head>"
        f"<body><p><a href='/ui/'>trioflow</a></p><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Response(document, status=status, content_type="text/html; charset=utf-8")


def _bad_query(name: str, message: str) -> Response:
    """A 400 page naming the query parameter (a person reads it, not a program)."""
    detail = f"{name}: {message}"
    return _page("Bad request", f"<p class=error>{html.escape(detail)}</p>", status=400)


def _status(status: str) -> str:
    return f"<span class='status {html.escape(status)}'>{html.escape(status)}</span>"


def _json(value: Any) -> str:
    return f"<pre>{html.escape(json.dumps(value, indent=2, default=str))}</pre>"


def _link(path: str, **query: str | None) -> str:
    args = {k: v for k, v in query.items() if v}
    return path + ("?" + urllib.parse.urlencode(args) if args else "")


async def instance_list(runtime: Runtime) -> Response:
    status = request.args.get("status") or None
    workflow = request.args.get("workflow") or None
    cursor = request.args.get("cursor") or None
    if status is not None and status not in STATUSES:
        return _bad_query("status", f"must be one of {', '.join(STATUSES)}")
    try:
        page = await runtime.list(status=status, workflow=workflow, limit=50, cursor=cursor)
    except ValueError as exc:  # the store refuses a cursor it did not hand out
        return _bad_query("cursor", str(exc))
    options = "".join(
        f"<option{' selected' if s == status else ''}>{html.escape(s)}</option>"
        for s in ("", *STATUSES)
    )
    names = sorted(d.name for d in runtime.workflows())
    workflows = "".join(
        f"<option{' selected' if n == workflow else ''}>{html.escape(n)}</option>"
        for n in ("", *names)
    )
    form = (
        "<form method=get action='/ui/'>"
        f"<label>status <select name=status>{options}</select></label>"
        f"<label>workflow <select name=workflow>{workflows}</select></label>"
        "<button type=submit>filter</button></form>"
    )
    rows = "".join(_row(i) for i in page.items) or "<tr><td colspan=4>no instances</td></tr>"
    table = (
        "<table><thead><tr><th>instance</th><th>workflow</th><th>status</th><th>updated</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )
    more = ""
    if page.next_cursor is not None:
        href = _link("/ui/", status=status, workflow=workflow, cursor=page.next_cursor)
        more = f"<p><a rel=next href='{html.escape(href)}'>next page</a></p>"
    return _page("Instances", form + table + more)


def _row(instance: Instance) -> str:
    href = "/ui/instances/" + urllib.parse.quote(instance.id, safe="")
    return (
        f"<tr><td><a href='{html.escape(href)}'>{html.escape(instance.id)}</a></td>"
        f"<td>{html.escape(instance.workflow)}</td><td>{_status(instance.status)}</td>"
        f"<td>{html.escape(instance.updated_at.isoformat(timespec='seconds'))}</td></tr>"
    )


async def instance_page(
    runtime: Runtime, instance_id: str, diagram: DiagramRenderer | None = None
) -> Response:
    instance = await runtime.get(instance_id)
    history = await runtime.history(instance_id)
    facts = [
        ("workflow", html.escape(instance.workflow)),
        ("status", _status(instance.status)),
        ("created", html.escape(instance.created_at.isoformat())),
        ("updated", html.escape(instance.updated_at.isoformat())),
        ("input", _json(instance.input)),
    ]
    if instance.output is not None:
        facts.append(("output", _json(instance.output)))
    if instance.error is not None:
        facts.append(("error", _json(instance.error)))
    if instance.blocked is not None:
        blocked = instance.blocked
        since = blocked.since.isoformat()
        facts.append(
            (
                "blocked",
                f"{html.escape(blocked.reason)} (since {html.escape(since)}; it carries on"
                " by itself once the database takes writes)",
            )
        )
    if instance.waiting_on:
        facts.append(("waiting on", _json(instance.waiting_on)))
    summary = "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
    summary += "</table>"
    svg = await diagram(runtime, instance_id) if diagram is not None else None
    drawing = f"<h2>Diagram</h2><div class=diagram>{svg}</div>" if svg else ""
    timeline = f"<h2>Journal</h2><ol class=timeline>{_timeline(history)}</ol>"
    return _page(f"Instance {instance.id}", summary + drawing + timeline)


def _timeline(items: Iterable[HistoryItem]) -> str:
    return "".join(
        f"<li id='seq-{item.seq}'><span class=kind>{item.seq}. {html.escape(item.kind)}</span> "
        f"<span class=at>{html.escape(item.at.isoformat())}</span>{_json(item.data)}</li>"
        for item in items
    )
