"""The viewer's pages: the instance list and one instance, both refreshing themselves.

Refreshing is short polling: the page's script asks for the same URL every couple of
seconds with ``If-None-Match``; the server answers 304 while nothing changed (the ETag
is the state the page shows, not its bytes, so "3 min ago" moving on is not a change)
and the script swaps the ``#live`` part of the page otherwise.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from quart import Response, request

from runtime import STATUSES, HistoryItem, Instance, Runtime

from ._actions import actions_html
from ._auth import BrowserSession
from ._html import esc, instance_href, json_block, link, page, status_badge, when
from ._timeline import runs_table, step_sequence, timeline
from ._waits import blocked, waits

DiagramRenderer = Callable[[Runtime, str], Awaitable[str | None]]
PAGE_SIZE = 50
JOURNAL_SHOWN = 1000
SORTS = {
    "-updated": "last updated first",
    "updated": "least recently updated first",
    "created": "first created first",
}


def _etag(*state: Any) -> str:
    digest = hashlib.sha256(json.dumps(state, default=str).encode()).hexdigest()[:32]
    return f'"{digest}"'


def _unchanged(etag: str) -> Response | None:
    if request.headers.get("If-None-Match") == etag:
        response = Response("", status=304)
        response.headers["ETag"] = etag
        return response
    return None


def bad_query(name: str, message: str, session: BrowserSession) -> Response:
    """A 400 page naming the query parameter (a person reads it, not a program)."""
    detail = f"{name}: {message}"
    body = f"<p class=error role=alert>{esc(detail)}</p><p><a href='/ui/'>All instances</a></p>"
    return page("Bad request", body, status=400, csrf=session.csrf, signed_in=session.signed_in())


async def instance_list(runtime: Runtime, session: BrowserSession) -> Response:
    args = request.args
    status = args.get("status") or None
    workflow = args.get("workflow") or None
    prefix = args.get("id") or None
    sort = args.get("sort") or "-updated"
    cursor = args.get("cursor") or None
    if status is not None and status not in STATUSES:
        return bad_query("status", f"must be one of {', '.join(STATUSES)}", session)
    if sort not in SORTS:
        return bad_query("sort", f"must be one of {', '.join(SORTS)}", session)
    try:
        listing = await runtime.list(
            status=status,
            workflow=workflow,
            id_prefix=prefix,
            order=sort,
            limit=PAGE_SIZE,
            cursor=cursor,
        )
    except ValueError as exc:  # the store refuses a cursor it did not hand out
        return bad_query("cursor", str(exc), session)
    counts = await runtime.counts(workflow=workflow, id_prefix=prefix)
    state = (
        counts,
        [(i.id, i.status, i.updated_at, i.waiting_on) for i in listing.items],
        listing.next_cursor,
        listing.prev_cursor,
    )
    etag = _etag(request.full_path, *state)
    if (unchanged := _unchanged(etag)) is not None:
        return unchanged
    now = dt.datetime.now(dt.UTC)
    names = sorted(d.name for d in runtime.workflows())
    form = _filter_form(status, workflow, prefix, sort, names)
    query = {"workflow": workflow, "id": prefix, "sort": None if sort == "-updated" else sort}
    live = (
        _counts(counts, status, query)
        + _table(listing.items, now)
        + _pager(listing.next_cursor, listing.prev_cursor, {**query, "status": status})
    )
    body = f"{form}<div id=live data-poll data-etag='{esc(etag)}'>{live}</div>"
    return page("Instances", body, csrf=session.csrf, signed_in=session.signed_in(), etag=etag)


def _options(values: list[str], selected: str | None, labels: dict[str, str]) -> str:
    return "".join(
        f"<option value='{esc(v)}'{' selected' if v == selected else ''}>"
        f"{esc(labels.get(v, v) or 'any')}</option>"
        for v in values
    )


def _filter_form(
    status: str | None, workflow: str | None, prefix: str | None, sort: str, names: list[str]
) -> str:
    return (
        "<form method=get action='/ui/' class=filters role=search>"
        "<div class=field><label for=f-id>Instance id starts with</label>"
        f"<input id=f-id type=search name=id value='{esc(prefix or '')}' autocomplete=off>"
        "</div><div class=field><label for=f-workflow>Workflow</label>"
        f"<select id=f-workflow name=workflow>{_options(['', *names], workflow, {})}</select>"
        "</div><div class=field><label for=f-status>Status</label>"
        f"<select id=f-status name=status>{_options(['', *STATUSES], status, {})}</select>"
        "</div><div class=field><label for=f-sort>Order</label>"
        f"<select id=f-sort name=sort>{_options(list(SORTS), sort, SORTS)}</select></div>"
        "<button type=submit>Apply</button></form>"
    )


def _counts(counts: dict[str, int], status: str | None, query: dict[str, str | None]) -> str:
    total = sum(counts.values())
    items = [("", "all", total)] + [(s, s, counts.get(s, 0)) for s in STATUSES]
    links = "".join(
        f"<li><a href='{esc(link('/ui/', **query, status=value or None))}'"
        f"{' aria-current=page' if (value or None) == status else ''}"
        f" class='count s-{esc(label)}'><span class=label>{esc(label)}</span>"
        f" <span class=n data-status='{esc(label)}'>{n}</span></a></li>"
        for value, label, n in items
    )
    return f"<nav aria-label='Instances by status'><ul class=counts>{links}</ul></nav>"


def _table(items: tuple[Instance, ...], now: dt.datetime) -> str:
    rows = "".join(_row(i, now) for i in items)
    if not rows:
        rows = "<tr><td colspan=5>No instances match.</td></tr>"
    return (
        "<table class=instances><thead><tr><th scope=col>Instance</th><th scope=col>Workflow</th>"
        "<th scope=col>Status</th><th scope=col>Waiting on</th><th scope=col>Updated</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _row(instance: Instance, now: dt.datetime) -> str:
    waiting = "; ".join(waits(instance, now)) if instance.status == "waiting" else ""
    if (why := blocked(instance, now)) is not None:
        waiting = why
    return (
        f"<tr data-id='{esc(instance.id)}'><td><a href='{esc(instance_href(instance.id))}'>"
        f"{esc(instance.id)}</a></td><td>{esc(instance.workflow)}</td>"
        f"<td>{status_badge(instance.status)}</td><td class=waits>{waiting}</td>"
        f"<td>{when(instance.updated_at, now)}</td></tr>"
    )


def _pager(next_cursor: str | None, prev_cursor: str | None, query: dict[str, str | None]) -> str:
    parts = []
    if prev_cursor is not None:
        href = link("/ui/", **query, cursor=prev_cursor)
        parts.append(f"<a rel=prev href='{esc(href)}'>← Previous page</a>")
    if next_cursor is not None:
        href = link("/ui/", **query, cursor=next_cursor)
        parts.append(f"<a rel=next href='{esc(href)}'>Next page →</a>")
    return f"<nav class=pager aria-label=Pages>{' '.join(parts)}</nav>"


async def instance_page(
    runtime: Runtime,
    instance_id: str,
    session: BrowserSession,
    diagram: DiagramRenderer | None = None,
) -> Response:
    instance = await runtime.get(instance_id)
    # Every journal append rewrites the summary row (updated_at included) in its own
    # transaction, so the row tells whether anything changed without reading the journal.
    state = (instance.status, instance.updated_at, instance.waiting_on, _blocked_state(instance))
    etag = _etag(request.full_path, *state)
    if (unchanged := _unchanged(etag)) is not None:
        return unchanged
    history = await runtime.history(instance_id)
    now = dt.datetime.now(dt.UTC)
    runs = ""
    if instance.run > 1:  # it continued as new: the chain of its runs
        chain = await runtime.runs(instance_id)
        runs = f"<h2>Runs</h2>{runs_table(chain, now, _shown_from(history))}"
    svg = await diagram(runtime, instance_id) if diagram is not None else None
    drawing = f"<h2>Diagram</h2><div class=diagram>{svg}</div>" if svg else ""
    # Only a BPMN instance (one with a diagram) calls others; the query replays its journal.
    view = await runtime.query(instance_id) if svg else None
    called = view.get("called", {}) if isinstance(view, dict) else {}
    live = (
        _summary(instance, now, called)
        + drawing
        + runs
        + f"<h2>Steps</h2>{step_sequence(history, now)}"
        + f"<h2>Journal</h2>{_journal(instance.id, history, now)}"
    )
    body = (
        f"<div class=instance-layout><div id=live data-poll data-etag='{esc(etag)}'"
        f" data-status='{esc(instance.status)}' data-instance='{esc(instance.id)}'>{live}</div>"
        f"{actions_html(instance.status)}</div>"
    )
    return page(
        f"Instance {instance.id}",
        body,
        csrf=session.csrf,
        signed_in=session.signed_in(),
        etag=etag,
    )


def _shown_from(history: list[HistoryItem]) -> int:
    """The seq of the first record ``_journal`` shows."""
    if len(history) <= JOURNAL_SHOWN or request.args.get("journal") == "all":
        return 0
    return history[-JOURNAL_SHOWN].seq


def _journal(instance_id: str, history: list[HistoryItem], now: dt.datetime) -> str:
    """The timeline of the latest ``JOURNAL_SHOWN`` records (all of them are one link away)."""
    if len(history) <= JOURNAL_SHOWN or request.args.get("journal") == "all":
        return timeline(history, now)
    href = instance_href(instance_id) + "?journal=all"
    note = (
        f"<p>The last {JOURNAL_SHOWN} of {len(history)} records;"
        f" <a href='{esc(href)}'>show all of them</a>.</p>"
    )
    return note + timeline(history[-JOURNAL_SHOWN:], now)


def _blocked_state(instance: Instance) -> Any:
    info = getattr(instance, "blocked", None)
    return None if info is None else str(info)


def _summary(instance: Instance, now: dt.datetime, called: dict[str, Any]) -> str:
    """The instance's facts; ``called``: the instances its call activities started."""
    facts = [
        ("Workflow", f"<code>{esc(instance.workflow)}</code>"),
        ("Status", f"<span class=now-status role=status>{status_badge(instance.status)}</span>"),
        ("Created", when(instance.created_at, now)),
        ("Updated", when(instance.updated_at, now)),
    ]
    if instance.parent_id is not None:
        href = instance_href(instance.parent_id)
        parent = f"<a class=parent-link href='{esc(href)}'>{esc(instance.parent_id)}</a>"
        facts.append(("Called by", parent))
    if called:
        items = "".join(
            f"<li><a class=child-link href='{esc(instance_href(child_id))}'>{esc(child_id)}</a>"
            f" ({esc(str(call.get('status', '')))})</li>"
            for child_id, call in called.items()
        )
        facts.append(("Called", f"<ul class=called>{items}</ul>"))
    if (why := blocked(instance, now)) is not None:
        facts.append(("Blocked", why))
    pending = waits(instance, now)
    if pending:
        items = "".join(f"<li>{w}</li>" for w in pending)
        facts.append(("Waiting on", f"<ul class=waits>{items}</ul>"))
    facts.append(("Input", json_block(instance.input)))
    if instance.output is not None:
        facts.append(("Output", json_block(instance.output)))
    if instance.error is not None:
        facts.append(("Error", _error_fact(instance.error)))
    rows = "".join(f"<tr><th scope=row>{k}</th><td>{v}</td></tr>" for k, v in facts)
    return f"<table class=facts>{rows}</table>"


def _error_fact(error: Any) -> str:
    if isinstance(error, dict) and set(error) <= {"type", "message"}:
        return (
            f"<p class=error-text><code>{esc(error.get('type', ''))}</code>:"
            f" {esc(error.get('message', ''))}</p>"
        )
    return json_block(error)
