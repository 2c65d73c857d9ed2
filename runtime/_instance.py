"""What queries return: instances, pages of them, and journal history items."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from ._convert import loads
from ._store import InstanceRow


def _time(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


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
    def from_row(cls, row: InstanceRow) -> Instance:
        return cls(
            id=row.id,
            workflow=row.workflow,
            status=row.status,
            input=loads(row.input),
            output=None if row.output is None else loads(row.output),
            error=None if row.error is None else loads(row.error),
            waiting_on=None if row.waiting_on is None else loads(row.waiting_on),
            created_at=_time(row.created_at),
            updated_at=_time(row.updated_at),
        )


@attrs.frozen(kw_only=True)
class InstancePage:
    """A page of ``Runtime.list``; pass ``next_cursor`` back for the next one."""

    items: tuple[Instance, ...]
    next_cursor: str | None


@attrs.frozen(kw_only=True)
class HistoryItem:
    """One journal record: its number, kind, time and payload."""

    seq: int
    kind: str
    at: dt.datetime
    data: Any


@attrs.frozen(kw_only=True)
class ReplayReport:
    """The outcome of re-running a recorded journal against the current code."""

    instance_id: str
    records: int
    ok: bool
    step: int | None = None
    divergence: str | None = None
