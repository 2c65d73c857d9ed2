"""The steps an instance took, read from its journal: a picture for code workflows.

Theory of operation. The journal alternates inputs (a result, a timer, an event) with the
outputs the workflow issued in answer (schedule an activity, start a timer, wait for an
event). Each output names a step; later inputs for that step move it on (completed,
failed, fired, received, cancelled). Steps issued in answer to the same input started
together, as ``ctx.gather`` (or ``ctx.first``) starts them: they form one group.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import attrs

from runtime import HistoryItem

_INPUTS = frozenset(
    {
        "workflow_started",
        "activity_completed",
        "activity_failed",
        "timer_fired",
        "event_received",
        "cancel_requested",
    }
)


@attrs.define
class Attempt:
    number: int
    at: dt.datetime
    error: dict[str, Any] | None = None
    ended: dt.datetime | None = None


@attrs.define
class Step:
    """One activity, timer or wait as far as the journal tells."""

    number: int
    kind: str  # activity, timer, wait
    label: str
    started: dt.datetime
    state: str  # running, completed, failed, retrying, pending, fired, received, ...
    ended: dt.datetime | None = None
    detail: Any = None
    due: float | None = None
    """When a timer fires or a wait times out (epoch seconds)."""
    attempts: list[Attempt] = attrs.Factory(list)


def steps(history: Iterable[HistoryItem]) -> list[list[Step]]:
    """The steps in the order they started, grouped by the input that started them."""
    groups: list[list[Step]] = []
    by_number: dict[int, Step] = {}
    current: list[Step] | None = None
    for item in history:
        data = item.data if isinstance(item.data, dict) else {}
        number = data.get("step")
        if item.kind in _INPUTS:
            current = None
            if isinstance(number, int) and number in by_number:
                _advance(by_number[number], item, data)
            continue
        if not isinstance(number, int):
            continue
        step = by_number.get(number)
        if step is None:
            step = _begin(number, item, data)
            if step is None:
                continue
            by_number[number] = step
            if current is None:
                current = []
                groups.append(current)
            current.append(step)
        else:
            _reissue(step, item, data)
    return groups


def _begin(number: int, item: HistoryItem, data: dict[str, Any]) -> Step | None:
    def step(kind: str, label: str, state: str, **more: Any) -> Step:
        return Step(number=number, kind=kind, label=label, started=item.at, state=state, **more)

    if item.kind == "activity_scheduled":
        call = {"args": data.get("args"), "kwargs": data.get("kwargs")}
        started = step("activity", str(data.get("name", "?")), "running", detail=call)
        started.attempts.append(Attempt(number=int(data.get("attempt", 1)), at=item.at))
        return started
    if item.kind == "timer_started":
        return step("timer", "sleep", "pending", due=_seconds(data.get("fire_at")))
    if item.kind == "wait_started":
        label = str(data.get("type", "?"))
        if data.get("subject") is not None:
            label += f" (subject {data['subject']})"
        return step("wait", label, "pending", due=_seconds(data.get("timeout_at")))
    return None


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _reissue(step: Step, item: HistoryItem, data: dict[str, Any]) -> None:
    """An output for a step that exists: a retry's backoff, a new attempt, a withdrawal."""
    if item.kind == "activity_scheduled":
        step.state = "running"
        step.attempts.append(Attempt(number=int(data.get("attempt", 1)), at=item.at))
    elif item.kind == "timer_started" and data.get("purpose") == "retry":
        step.state = "retrying"
    elif item.kind == "step_cancelled":
        step.state, step.ended = "cancelled", item.at


def _advance(step: Step, item: HistoryItem, data: dict[str, Any]) -> None:
    if item.kind == "activity_completed":
        step.state, step.ended = "completed", item.at
        step.detail = {**(step.detail or {}), "result": data.get("result")}
        if step.attempts:
            step.attempts[-1].ended = item.at
    elif item.kind == "activity_failed":
        error = data.get("error") if isinstance(data.get("error"), dict) else None
        if step.attempts:
            step.attempts[-1].error, step.attempts[-1].ended = error, item.at
        if not data.get("retryable", False):
            step.state, step.ended = "failed", item.at
        else:
            step.state = "retrying"
    elif item.kind == "timer_fired":
        if step.kind == "timer":
            step.state, step.ended = "fired", item.at
        elif step.kind == "wait":
            step.state, step.ended = "timed out", item.at
    elif item.kind == "event_received":
        step.state, step.ended = "received", item.at
        step.detail = {**(step.detail or {}), "event": data.get("event")}
