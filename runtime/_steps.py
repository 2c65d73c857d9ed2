"""The operations a workflow has in flight, as the core keeps them: one per journal step."""

from __future__ import annotations

from typing import Any

import attrs

from ._context import Future
from ._definitions import RetryPolicy


@attrs.define(eq=False)
class ActivityStep:
    future: Future[Any]
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    retry: RetryPolicy
    result_type: Any
    attempt: int = 1
    in_backoff: bool = False
    fire_at: float = 0.0
    owner: object = None
    """The task that started it (``Tasks.current``): what a snapshot says waits for it."""


@attrs.define(eq=False)
class TimerStep:
    future: Future[Any]
    fire_at: float
    owner: object = None
    """The task that started it (``Tasks.current``): what a snapshot says waits for it."""


@attrs.define(eq=False)
class WaitStep:
    future: Future[Any]
    type: str
    subject: str | None
    timeout_at: float | None
    data_type: Any
    message: bool = False
    owner: object = None
    """The task that started it (``Tasks.current``): what a snapshot says waits for it."""


@attrs.define(eq=False)
class IncidentStep:
    future: Future[Any]
    element_id: str
    message: str
    since: float
    owner: object = None
    """The task that started it (``Tasks.current``): what a snapshot says waits for it."""


Step = ActivityStep | TimerStep | WaitStep | IncidentStep


def fire_at_of(step: Step) -> float | None:
    """When the timer of a pending step fires (a sleep, a retry backoff, a wait's timeout)."""
    if isinstance(step, TimerStep):
        return step.fire_at
    if isinstance(step, ActivityStep):
        return step.fire_at if step.in_backoff else None
    if isinstance(step, WaitStep):
        return step.timeout_at
    return None


def waiting_item(n: int, step: Step) -> dict[str, Any]:
    """What step ``n`` waits for, as plain data for the instance's summary row."""
    if isinstance(step, ActivityStep):
        item: dict[str, Any] = {"step": n, "kind": "activity", "name": step.name}
        item["attempt"] = step.attempt
        if step.in_backoff:
            item["retry_at"] = step.fire_at
    elif isinstance(step, TimerStep):
        item = {"step": n, "kind": "timer", "fire_at": step.fire_at}
    elif isinstance(step, IncidentStep):
        item = {"step": n, "kind": "incident", "element_id": step.element_id}
        item.update(message=step.message, since=step.since)
    else:
        item = {"step": n, "kind": "event", "type": step.type, "subject": step.subject}
        if step.timeout_at is not None:
            item["timeout_at"] = step.timeout_at
    return item
