"""The journal as a timeline, and the steps as a sequence, in HTML."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from runtime import HistoryItem, Run

from ._html import clock, duration, epoch, esc, json_block, when
from ._steps import Step, steps


def _folded(summary: str, value: Any) -> str:
    return f"<details><summary>{esc(summary)}</summary>{json_block(value)}</details>"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _error(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('type', '')}: {error.get('message', '')}".strip(": ")
    return str(error)


def _line(item: HistoryItem, names: dict[int, str], now: dt.datetime) -> tuple[str, str, str]:
    """(css class, sentence, folded payload) of one record; every value escaped here."""
    d = item.data if isinstance(item.data, dict) else {}
    step = d.get("step")
    name = f"<code>{esc(names.get(step, '?'))}</code>" if isinstance(step, int) else ""
    at_step = f" (step {esc(step)})" if step is not None else ""
    k = item.kind
    if k == "workflow_started":
        run = f", run {esc(item.run)}" if item.run > 1 else ""
        return (
            "",
            f"started <code>{esc(d.get('workflow'))}</code>{run}",
            _folded("input", d.get("input")),
        )
    if k == "workflow_continued":
        text = f"run {esc(item.run)} continued as new: run {esc(d.get('run'))} follows"
        return "ok", text, _folded("input", d.get("input"))
    if k == "activity_scheduled":
        call = {"args": d.get("args"), "kwargs": d.get("kwargs")}
        text = f"scheduled activity {name}{at_step}, attempt {esc(d.get('attempt'))}"
        return "", text, _folded("arguments", call)
    if k == "activity_completed":
        text = f"activity {name} completed{at_step}, attempt {esc(d.get('attempt'))}"
        return "ok", text, _folded("result", d.get("result"))
    if k == "activity_failed":
        retry = "will be retried" if d.get("retryable") else "not retried"
        text = (
            f"attempt {esc(d.get('attempt'))} of activity {name} failed{at_step}:"
            f" <span class=error-text>{esc(_error(d.get('error')))}</span> ({retry})"
        )
        return "bad", text, ""
    if k == "timer_started":
        fire_at = d.get("fire_at")
        due = clock(epoch(fire_at), now) if isinstance(fire_at, int | float) else "?"
        purpose = {"retry": "retry backoff", "timeout": "timeout"}.get(
            str(d.get("purpose")), "timer"
        )
        return "", f"{esc(purpose)}{at_step} set for {due}", ""
    if k == "timer_fired":
        return "", f"timer fired{at_step}", ""
    if k == "wait_started":
        text = f"waiting for event <code>{esc(d.get('type'))}</code>"
        if d.get("subject") is not None:
            text += f", subject <code>{esc(d.get('subject'))}</code>"
        return "", text + at_step, ""
    if k == "event_received":
        event = d.get("event")
        kind = event.get("type") if isinstance(event, dict) else None
        return "ok", f"event <code>{esc(kind)}</code> received{at_step}", _folded("event", event)
    if k == "cancel_requested":
        return "bad", f"cancel requested: {esc(d.get('reason') or 'no reason given')}", ""
    if k == "step_cancelled":
        return "", f"step {esc(step)} withdrawn", ""
    if k == "workflow_completed":
        return "ok", "workflow completed", _folded("output", d.get("output"))
    if k == "workflow_failed":
        error = f"<span class=error-text>{esc(_error(d.get('error')))}</span>"
        return "bad", f"workflow failed: {error}", ""
    if k == "snapshot":
        state = _dict(d.get("state"))
        tokens = _dict(state.get("workflow")).get("tokens")
        tokens = tokens if isinstance(tokens, list) else []
        text = f"snapshot of the state ({len(tokens)} token(s)): rehydration starts here"
        return "", text, _folded("state", state)
    if k == "workflow_cancelled":
        return "bad", f"workflow cancelled: {esc(d.get('reason') or 'no reason given')}", ""
    return "", esc(k), _folded("data", item.data)


def runs_table(runs: Sequence[Run], now: dt.datetime, shown_from: int) -> str:
    """The chain of runs of an instance that continued as new: each run's records, input and
    how it ended, its first record one click away in the journal (the whole journal when the
    page shows only its records from seq ``shown_from`` on)."""
    rows = "".join(
        f"<tr><td><a href='{'' if run.first_seq >= shown_from else '?journal=all'}"
        f"#seq-{run.first_seq}'>run {run.run}</a></td>"
        f"<td>{when(run.started_at, now)}</td>"
        f"<td>records {run.first_seq} to {run.last_seq}</td>"
        f"<td>{esc(run.ended or 'current')}</td>"
        f"<td>{_folded('input', run.input)}</td></tr>"
        for run in runs
    )
    return (
        "<table class=runs><thead><tr><th>run</th><th>started</th><th>journal</th>"
        f"<th>ended</th><th>input</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def timeline(history: Sequence[HistoryItem], now: dt.datetime) -> str:
    """Records in order, each with the time since the one before and its payload folded."""
    names = {
        i.data["step"]: str(i.data.get("name"))
        for i in history
        if i.kind == "activity_scheduled" and isinstance(i.data, dict)
    }
    rows = []
    previous: dt.datetime | None = None
    for item in history:
        css, sentence, folded = _line(item, names, now)
        gap = ""
        if previous is not None:
            gap = f"<span class=gap>+{esc(duration((item.at - previous).total_seconds()))}</span>"
        previous = item.at
        rows.append(
            f"<li id='seq-{item.seq}' class='{css}'><span class=seq>{item.seq}</span>"
            f" <span class=kind>{esc(item.kind)}</span> {gap}"
            f"<div>{sentence}</div><div class=at>{when(item.at, now, 'milliseconds')}</div>"
            f"{folded}</li>"
        )
    return f"<ol class=timeline>{''.join(rows)}</ol>"


def _step(step: Step, now: dt.datetime) -> str:
    took = ""
    if step.ended is not None:
        took = f", took {esc(duration((step.ended - step.started).total_seconds()))}"
    failures = [a for a in step.attempts if a.error is not None]
    attempts = ""
    if len(step.attempts) > 1 or failures:
        items = "".join(
            f"<li>attempt {a.number}: "
            + (f"<span class=error-text>{esc(_error(a.error))}</span>" if a.error else "ok")
            + "</li>"
            for a in step.attempts
            if a.error is not None or a.ended is not None
        )
        attempts = f"<ul class=attempts>{items}</ul>" if items else ""
    detail = _folded("details", step.detail) if step.detail is not None else ""
    if step.due is not None and step.state == "pending":
        until = "fires" if step.kind == "timer" else "times out"
        took += f", {until} {when(epoch(step.due), now)}"
    state = esc(step.state)
    return (
        f"<li class='step st-{state.replace(' ', '-')}'><span class=state>{state}</span>"
        f" {esc(step.kind)} <code>{esc(step.label)}</code>"
        f" <span class=at>step {step.number}{took}</span>{attempts}{detail}</li>"
    )


def step_sequence(history: Sequence[HistoryItem], now: dt.datetime) -> str:
    """The steps as a sequence; steps started together are shown as one gather."""
    parts = []
    for group in steps(history):
        if len(group) == 1:
            parts.append(_step(group[0], now))
        else:
            inner = "".join(_step(s, now) for s in group)
            parts.append(
                f"<li class=gather><span class=state>together</span> gather of {len(group)}"
                f" steps<ol class=steps>{inner}</ol></li>"
            )
    if not parts:
        return "<p>No steps yet.</p>"
    return f"<ol class=steps>{''.join(parts)}</ol>"
