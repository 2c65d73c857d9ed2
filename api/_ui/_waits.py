"""What an instance waits for, in words: ``waiting_on`` items and ``blocked`` made readable."""

from __future__ import annotations

import datetime as dt
from typing import Any

from runtime import Instance

from ._html import clock, epoch, esc, json_block, relative


def _countdown(at: float, now: dt.datetime) -> str:
    moment = epoch(at)
    return f"<span class=rel data-at='{at!r}'>{esc(relative(moment, now))}</span>"


def describe(item: Any, now: dt.datetime) -> str:
    """One ``waiting_on`` item as a sentence (HTML); an unknown shape as its JSON."""
    if not isinstance(item, dict):
        return json_block(item)
    kind = item.get("kind")
    fire_at = item.get("fire_at")
    if kind == "timer" and isinstance(fire_at, int | float):
        return f"timer fires {_countdown(fire_at, now)} ({clock(epoch(fire_at), now)})"
    if kind == "event" and isinstance(item.get("type"), str):
        text = f"waiting for event <code>{esc(item['type'])}</code>"
        if item.get("subject") is not None:
            text += f", subject <code>{esc(item['subject'])}</code>"
        timeout = item.get("timeout_at")
        if isinstance(timeout, int | float):
            text += f"; times out {_countdown(timeout, now)} ({clock(epoch(timeout), now)})"
        return text
    if kind == "incident" and isinstance(item.get("element_id"), str):
        since = item.get("since")
        when = (
            f" {_countdown(since, now)} ({clock(epoch(since), now)})"
            if isinstance(since, int | float)
            else ""
        )
        return (
            f"incident <code>{esc(item.get('step'))}</code> at element"
            f" <code>{esc(item['element_id'])}</code>{when}: {esc(item.get('message', ''))}"
            "; resolve it once the cause is fixed"
        )
    if kind == "activity" and isinstance(item.get("name"), str):
        attempt = item.get("attempt")
        name = f"<code>{esc(item['name'])}</code>"
        retry = item.get("retry_at")
        if isinstance(retry, int | float):
            return (
                f"activity {name} failed attempt {esc(attempt)}; next attempt"
                f" {_countdown(retry, now)} ({clock(epoch(retry), now)})"
            )
        return f"running activity {name} (attempt {esc(attempt)})"
    return json_block(item)


def waits(instance: Instance, now: dt.datetime) -> list[str]:
    """Each thing the instance waits for, as HTML sentences."""
    items = instance.waiting_on if isinstance(instance.waiting_on, list) else []
    return [describe(item, now) for item in items]


def blocked(instance: Instance, now: dt.datetime) -> str | None:
    """Why a ``blocked`` instance waits (its next journal write waits for the store)."""
    info = getattr(instance, "blocked", None)  # set by runtimes that know `blocked`
    if info is None:
        return None
    since = getattr(info, "since", None)
    reason = esc(getattr(info, "reason", ""))
    by_itself = "; it carries on by itself once the database takes writes"
    if isinstance(since, dt.datetime):
        ago = esc(relative(since, now))
        return f"blocked since {clock(since, now)} ({ago}): {reason}{by_itself}"
    return f"blocked: {reason}{by_itself}"
