"""Pieces every viewer page is made of: the frame, escaping, times and durations.

Every value that came from outside (ids, inputs, event data, error messages) passes
through ``esc`` (or ``json_block``) on its way into a page; nothing is marked safe.
Times are shown as ISO 8601 with their offset and, beside them, relative to now
("3 min ago", "in 4 min 12 s"); ``static/ui.js`` keeps the relative part current.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import urllib.parse
from typing import Any

from quart import Response

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""Only the viewer's own script and stylesheet run: an escaping slip cannot run a script."""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(
    title: str,
    body: str,
    *,
    status: int = 200,
    csrf: str | None = None,
    signed_in: bool = False,
    etag: str | None = None,
) -> Response:
    """A whole HTML document around ``body`` (already escaped where it needs to be)."""
    meta = f"<meta name=csrf-token content='{esc(csrf)}'>" if csrf else ""
    logout = ""
    if signed_in and csrf:
        logout = (
            "<form method=post action='/ui/logout' class=logout>"
            f"<input type=hidden name=csrf value='{esc(csrf)}'>"
            "<button type=submit>Sign out</button></form>"
        )
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)} · trioflow</title>{meta}"
        "<link rel=stylesheet href='/ui/static/ui.css'>"
        "<script src='/ui/static/ui.js' defer></script></head>"
        f"<body><header><a href='/ui/' class=home>trioflow</a>{logout}</header>"
        f"<main><h1>{esc(title)}</h1>"
        "<p id=announce class=announce role=status aria-live=polite hidden></p>"
        f"{body}</main></body></html>"
    )
    response = Response(document, status=status, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if etag is not None:
        response.headers["ETag"] = etag
    return response


def status_badge(status: str) -> str:
    return f"<span class='status s-{esc(status)}'>{esc(status)}</span>"


def json_block(value: Any) -> str:
    return f"<pre>{esc(json.dumps(value, indent=2, default=str, ensure_ascii=False))}</pre>"


def link(path: str, **query: str | None) -> str:
    args = {k: v for k, v in query.items() if v}
    return path + ("?" + urllib.parse.urlencode(args) if args else "")


def instance_href(instance_id: str) -> str:
    return "/ui/instances/" + urllib.parse.quote(instance_id, safe="")


def duration(seconds: float) -> str:
    """``4 min 12 s``: two units at most, the way a person reads a wait."""
    seconds = abs(seconds)
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    whole = int(seconds)
    for unit, size, smaller, small_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "min", 60),
        ("min", 60, "s", 1),
    ):
        if whole >= size:
            rest = (whole % size) // small_size
            return f"{whole // size} {unit}" + (f" {rest} {smaller}" if rest else "")
    return f"{whole} s"


def relative(at: dt.datetime, now: dt.datetime) -> str:
    """``3 min ago`` or ``in 4 min 12 s``."""
    delta = (at - now).total_seconds()
    if abs(delta) < 1:
        return "now"
    return f"in {duration(delta)}" if delta > 0 else f"{duration(delta)} ago"


def when(at: dt.datetime, now: dt.datetime, timespec: str = "seconds") -> str:
    """An ISO time with its offset and, beside it, how long ago (or until) it is."""
    iso = at.isoformat(timespec=timespec)
    return (
        f"<time datetime='{esc(at.isoformat())}'>{esc(iso)}</time>"
        f" <span class=rel data-at='{at.timestamp()!r}'>{esc(relative(at, now))}</span>"
    )


def clock(at: dt.datetime, now: dt.datetime) -> str:
    """``12:31:05 UTC`` for today, with the date for any other day."""
    utc = at.astimezone(dt.UTC)
    text = utc.strftime("%H:%M:%S UTC" if utc.date() == now.date() else "%Y-%m-%d %H:%M:%S UTC")
    return f"<time datetime='{esc(utc.isoformat())}'>{esc(text)}</time>"


def epoch(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)
