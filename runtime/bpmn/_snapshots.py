"""Snapshots of a process instance: its state as plain data, and an instance resumed from it.

A process instance's state is its variables, user tasks, what completed, its counters, and
its tokens: where each one is, the local variables (input mappings) of the element it waits
at, and whether it waits for an incident's resolution. The core
adds the operations each token waits for (``runtime._snapshot``). An instance resumed from
that state starts each token's coroutine again at its element: entering the element issues
the same operations again (a handler's job, a message subscription, a timer, the interrupting
boundary events around a task, the events after an event-based gateway), which take the
recorded steps instead of new ones (with what was recorded of them: a job's variables, a
timer's due time), and its local variables are the recorded ones, not those its input
mappings would give now; a token that waited for an incident waits for it again. Where an
operation issued again differs from the recorded one in what it waits for (a correlation key,
or a user task's assignee, read from variables that changed since), or the state rebuilt
differs from the snapshot in any way, the snapshot is not used: the whole journal is.

That holds while the instance is one level of tokens that each wait at one element. It is
not the case, and no snapshot is taken (the next append tries again), while the instance
runs an embedded or event subprocess (a second level), a multi-instance activity, a call
activity or a non-interrupting boundary event (each has a task of its own), throws a
compensation event (its handlers are under way), or is being cancelled; nor, ever, for a
process with a message, timer or signal event subprocess at its top level (it watches for
its start event for as long as the process runs).
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any, Protocol

from .._context import Future
from ._model import (
    CompensateEventDefinition,
    MessageEventDefinition,
    Process,
    SignalEventDefinition,
    StartEvent,
    TimerEventDefinition,
)
from ._scope import ActiveScope

Held = tuple[str, str, bool]
"""A token waiting for an incident: its element, the incident's message, and whether it
enters the element again (else it leaves it) once the incident is resolved."""


class Snapshotted(Protocol):
    """A process instance as its snapshots see it (``Instance`` is one)."""

    process: Process
    stopping: list[Future[Any]]
    coroutines: dict[int, Coroutine[Any, Any, None]]
    held: dict[int, Held]
    entered_with: dict[int, tuple[str, dict[str, Any]]]
    resumed_with: dict[int, tuple[str, dict[str, Any]]]

    @property
    def open_scopes(self) -> list[ActiveScope]: ...

    def plain_fields(self) -> dict[str, Any]: ...

    def set_plain_fields(self, fields: dict[str, Any]) -> None: ...


def captured(inst: Snapshotted, tasks: Sequence[Coroutine[Any, Any, Any]]) -> dict[str, Any] | None:
    """The instance's state, its tokens in the order of ``tasks`` (the live tasks but the
    instance's main one); None when it is not plain data now."""
    scopes = inst.open_scopes
    if inst.stopping or len(scopes) != 1 or _watches_event_subprocesses(inst.process):
        return None
    root = scopes[0]
    if root.owner_id != inst.process.id or root.is_over or len(tasks) != len(root.tokens):
        return None
    token_of = {id(coro): token for token, coro in inst.coroutines.items()}
    tokens: list[list[Any]] = []
    for coro in tasks:
        token = token_of.get(id(coro))
        if token is None or token not in root.tokens:
            return None
        node_id = root.tokens[token]
        trigger = getattr(inst.process.element(node_id), "trigger", None)
        if isinstance(trigger, CompensateEventDefinition):
            return None
        held = inst.held.get(token)
        entered = inst.entered_with.get(token)
        local = entered[1] if held is None and entered and entered[0] == node_id else None
        tokens.append([token, node_id, None if held is None else list(held), local])
    if [token for token, *_ in tokens] != list(root.tokens):
        return None
    return {
        **inst.plain_fields(),
        "tokens": tokens,
        # In order, as pairs: which of several ready joins fires first depends on it (the
        # JSON of a snapshot orders the keys of its objects).
        "arrivals": [[gateway, flows] for gateway, flows in root.arrivals.items()],
        "interrupted": root.interrupted,
        "compensable": root.compensable,
    }


def restore_into(
    inst: Snapshotted, root: ActiveScope, state: dict[str, Any]
) -> list[tuple[int, str, Held | None]]:
    """Set the instance's state from ``state``; return its tokens to start again, in order."""
    inst.set_plain_fields(state)
    root.arrivals = {str(gateway): list(flows) for gateway, flows in state["arrivals"]}
    root.interrupted = bool(state["interrupted"])
    root.compensable = list(state["compensable"])
    tokens: list[tuple[int, str, Held | None]] = []
    for token, node_id, held, local in state["tokens"]:
        root.tokens[int(token)] = str(node_id)
        if local is not None:
            inst.resumed_with[int(token)] = (str(node_id), dict(local))
        waiting = None if held is None else (str(held[0]), str(held[1]), bool(held[2]))
        tokens.append((int(token), str(node_id), waiting))
    return tokens


def _watches_event_subprocesses(process: Process) -> bool:
    for sub in process.event_subprocesses_of(process.id):
        start = sub.elements[sub.start_events[0]]
        if isinstance(start, StartEvent) and isinstance(
            start.trigger, MessageEventDefinition | TimerEventDefinition | SignalEventDefinition
        ):
            return True
    return False
