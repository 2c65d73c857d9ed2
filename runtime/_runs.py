"""Runs: how an instance that lives for months keeps its replay short.

Theory of operation
-------------------
``ctx.continue_as_new(input)`` ends the current *run* of an instance and begins the next one
with a fresh journal of its own: the old run's last group ends with a ``WorkflowContinued``
record, and the same append goes on with the new run's ``WorkflowStarted`` and the commands it
decided first. The store is told (``NewRun``) where the new run begins: rehydration and
determinism checks replay from there, and the timer and wait rows of the old run go. The old
run's records stay in the journal, so the history shows the chain of runs.

Nothing of the old run carries over but its input for the new one, the number of its next
step (the new run counts on from it, so that a result or a timer of the old run arriving late
belongs to no step of the new one) and the stored events it took (so that a wait of the new
run does not take them again, while an event that arrived and was not taken stays there for
it).

Two runs are refused: one that continues before it awaited anything (it would start runs
without end, all in one append: it fails instead) and one whose instance was asked to cancel
(it ends cancelled).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from . import _records as r
from ._convert import from_json_value, loads, to_json_value
from ._definitions import WorkflowDefinition
from ._errors import InvalidInput
from ._instance import HistoryItem, _time
from .store import StoredRecord


class ContinueAsNew(BaseException):
    """Raised by ``ctx.continue_as_new`` to end the run; its input is checked already.

    A ``BaseException``: an ``except Exception`` in workflow code does not swallow it.
    """

    def __init__(self, input: Any) -> None:
        super().__init__("the run continues as new")
        self.input = input


def continue_input(definition: WorkflowDefinition, args: Sequence[Any]) -> ContinueAsNew:
    """The ``ContinueAsNew`` that starts the next run with ``args``, checked as a start
    checks its input: ``InvalidInput`` naming the path when they do not fit."""
    if not definition.takes_input:
        if args:
            raise InvalidInput([f"input: workflow {definition.name!r} takes no input"])
        return ContinueAsNew(None)
    if len(args) != 1:
        raise InvalidInput(
            [f"input: workflow {definition.name!r} takes one input, {len(args)} were given"]
        )
    json_input = to_json_value(args[0], path="input")
    from_json_value(json_input, definition.input_type, path="input")
    return ContinueAsNew(json_input)


def next_start(
    definition: WorkflowDefinition,
    continued: r.WorkflowContinued,
    *,
    first_step: int,
    seed: int,
    consumed: Iterable[tuple[str, str]],
) -> r.WorkflowStarted:
    """The start record of the run that ``continued`` asks for."""
    return r.WorkflowStarted(
        workflow=definition.name,
        input=continued.input,
        seed=seed,
        version=definition.version,
        run=continued.run,
        first_step=first_step,
        consumed=[[source, id_] for source, id_ in sorted(consumed)],
    )


@attrs.frozen(kw_only=True)
class Run:
    """One run of an instance as its journal tells: its number, the seqs of its first and
    last records, its input, when it started and how it ended (``completed``, ``failed``,
    ``cancelled``, ``continued``; None while it is the current, unfinished run)."""

    run: int
    first_seq: int
    last_seq: int
    input: Any
    started_at: dt.datetime
    ended: str | None = None


_ENDINGS = {
    "workflow_completed": "completed",
    "workflow_failed": "failed",
    "workflow_cancelled": "cancelled",
    "workflow_continued": "continued",
}


def history_items(stored: Iterable[StoredRecord]) -> list[HistoryItem]:
    """Journal records as history items, each with the run it belongs to."""
    items = []
    run = 1
    for s in stored:
        data = loads(s.data)
        if s.kind == "workflow_started" and isinstance(data, dict):
            run = data.get("run", 1)
        items.append(HistoryItem(seq=s.seq, kind=s.kind, at=_time(s.at), data=data, run=run))
    return items


def runs_of(history: Iterable[HistoryItem]) -> list[Run]:
    """The chain of runs in a history, oldest first."""
    runs: list[Run] = []
    for item in history:
        if item.kind == "workflow_started":
            payload = item.data.get("input") if isinstance(item.data, dict) else None
            runs.append(
                Run(
                    run=item.run,
                    first_seq=item.seq,
                    last_seq=item.seq,
                    input=payload,
                    started_at=item.at,
                )
            )
        elif runs:
            last = runs[-1]
            runs[-1] = attrs.evolve(
                last, last_seq=item.seq, ended=_ENDINGS.get(item.kind, last.ended)
            )
    return runs
