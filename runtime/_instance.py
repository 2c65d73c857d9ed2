"""What queries return: instances, pages of them, and journal history items."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import attrs

from ._calls import parent_of
from ._convert import loads
from ._journal import Blocked
from .store import InstanceRow, Store


def _time(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


@attrs.frozen(kw_only=True)
class InstanceBlocked:
    """Why a ``blocked`` instance waits: the store takes no writes (``reason``) since ``since``."""

    reason: str
    since: dt.datetime


@attrs.frozen(kw_only=True)
class Instance:
    """One workflow instance as its summary row describes it."""

    id: str
    workflow: str
    status: str
    input: Any
    output: Any
    error: Any
    waiting_on: Any
    created_at: dt.datetime
    updated_at: dt.datetime
    run: int = 1
    """The current run: 1, then one more with each ``ctx.continue_as_new`` (``Runtime.runs``).
    ``input`` stays the instance's first input; each run's is in its history."""
    blocked: InstanceBlocked | None = None
    """Set while the instance is ``blocked``: its next journal append waits for the store.

    This is the running process's knowledge, never stored (a store that takes no writes
    could not keep it); the instance carries on by itself once a write commits."""
    parent_id: str | None = None
    """The instance whose BPMN call activity started this one (read from its id,
    ``<parent id>:<element id>:<call>``); None for an instance started otherwise."""

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")

    @property
    def incidents(self) -> list[dict[str, Any]]:
        """The open incidents: ``id``, ``element_id``, ``message``, ``since`` (ISO 8601)."""
        return [
            {
                "id": str(item["step"]),
                "element_id": item["element_id"],
                "message": item["message"],
                "since": _time(item["since"]).isoformat(),
            }
            for item in self.waiting_on or ()
            if item.get("kind") == "incident"
        ]

    @classmethod
    def from_row(cls, row: InstanceRow, blocked: tuple[str, float] | None = None) -> Instance:
        """The instance ``row`` describes; ``blocked`` (reason, since) makes it ``blocked``."""
        parent = parent_of(row.id)
        return cls(
            id=row.id,
            parent_id=None if parent is None else parent[0],
            workflow=row.workflow,
            status=row.status if blocked is None else "blocked",
            blocked=None
            if blocked is None
            else InstanceBlocked(reason=blocked[0], since=_time(blocked[1])),
            input=loads(row.input),
            output=None if row.output is None else loads(row.output),
            error=None if row.error is None else loads(row.error),
            waiting_on=None if row.waiting_on is None else loads(row.waiting_on),
            created_at=_time(row.created_at),
            updated_at=_time(row.updated_at),
            run=row.run,
        )


@attrs.frozen(kw_only=True)
class InstancePage:
    """A page of ``Runtime.list``; pass ``next_cursor`` back for the next one and
    ``prev_cursor`` for the one before (None on the first page)."""

    items: tuple[Instance, ...]
    next_cursor: str | None
    prev_cursor: str | None = None


@attrs.frozen(kw_only=True)
class HistoryItem:
    """One journal record: its number, kind, time and payload, and the run it belongs to."""

    seq: int
    kind: str
    at: dt.datetime
    data: Any
    run: int = 1


@attrs.frozen(kw_only=True)
class ReplayReport:
    """The outcome of re-running a recorded journal against the current code."""

    instance_id: str
    records: int
    ok: bool
    step: int | None = None
    divergence: str | None = None


def blocked_page(
    store: Store,
    blocked: Mapping[str, Blocked],
    workflow: str | None,
    limit: int,
    cursor: str | None,
) -> InstancePage:
    """A page of the ``blocked`` instances (known in memory only), in creation order."""
    if not 1 <= limit <= 500:
        raise ValueError(f"limit must be between 1 and 500, got {limit}")
    after = None if cursor is None else _decode_blocked_cursor(cursor)
    rows = [row for row in map(store.get, list(blocked)) if row is not None]
    keyed = sorted(
        ((row.created_at, row.id), row)
        for row in rows
        if workflow is None or row.workflow == workflow
    )
    keyed = [(key, row) for key, row in keyed if after is None or key > after]
    page = keyed[:limit]
    items = tuple(
        Instance.from_row(row, (blocked[row.id].reason, blocked[row.id].since)) for _, row in page
    )
    more = len(keyed) > limit
    return InstancePage(items=items, next_cursor=_blocked_cursor(page[-1][0]) if more else None)


def _blocked_cursor(key: tuple[float, str]) -> str:
    text = json.dumps(["blocked", *key])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_blocked_cursor(cursor: str) -> tuple[float, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, created_at, instance_id = json.loads(text)
        if kind != "blocked" or not isinstance(instance_id, str):
            raise ValueError
        return float(created_at), instance_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValueError("invalid cursor") from None
