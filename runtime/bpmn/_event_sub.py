"""Event subprocesses: started inside a scope by a message, a timer or a BPMN error.

When a process or subprocess level opens, the message and timer start events of its event
subprocesses start waiting, each in a task of its own that stops when the level ends.
An error start event catches a BPMN error that a token of the level failed with (one
naming the error's code first, else one catching every error), after the error boundary
events of the element that threw it, as in Zeebe.

When one triggers, what the event brought (the message's data) goes through the start
event's output mappings, or all of it, into the scope's variables, and a token enters the
event subprocess like any subprocess: the level does not complete before that token ends.
An interrupting one first stops every token of the level (``ActiveScope.interrupt``),
those of running non-interrupting event subprocesses included; after it, no event
subprocess of the level triggers again, and when it completes the level completes. A
non-interrupting one triggers at every message, or at every repetition of a timer cycle.

Where this differs from Zeebe: the message's variables are set where their names exist
already, else on the instance, rather than as local variables of the event subprocess
that are copied out when it completes; the result is the same unless the event
subprocess fails or is interrupted before it completes.
"""

from __future__ import annotations

from typing import Any

from .._errors import WorkflowCancelled
from ._incidents import Incident
from ._model import (
    ErrorEventDefinition,
    EscalationEventDefinition,
    MessageEventDefinition,
    SignalEventDefinition,
    StartEvent,
    SubProcess,
    TimerEventDefinition,
)
from ._running import Running
from ._scope import ActiveScope
from ._work import event_data


def watch_event_subprocesses(inst: Running, scope: ActiveScope) -> None:
    """Start waiting for the message and timer start events of the level's event subprocesses."""
    for sub in inst.process.event_subprocesses_of(scope.owner_id):
        start = _start(sub)
        if isinstance(
            start.trigger,
            MessageEventDefinition | TimerEventDefinition | SignalEventDefinition,
        ):
            inst.ctx.gather(_watch(inst, scope, sub, start))


def catch_error(inst: Running, scope: ActiveScope, code: str) -> bool:
    """Start the error event subprocess of the level that catches ``code``, if there is one."""
    found = catching(inst, scope, ErrorEventDefinition, code)
    if found is not None:
        start_event_subprocess(inst, scope, *found, None)
    return found is not None


def catching(
    inst: Running,
    scope: ActiveScope,
    kind: type[ErrorEventDefinition | EscalationEventDefinition],
    code: str,
) -> tuple[SubProcess, StartEvent] | None:
    """The event subprocess of the level whose error or escalation start event catches
    ``code``: one naming it, else one catching any; none once the level was interrupted."""
    if scope.interrupted or scope.is_over:
        return None
    catch_all = None
    for sub in inst.process.event_subprocesses_of(scope.owner_id):
        start = _start(sub)
        if isinstance(start.trigger, kind):
            caught = (
                start.trigger.error_code
                if isinstance(start.trigger, ErrorEventDefinition)
                else start.trigger.escalation_code
            )
            if caught == code:
                return sub, start
            if caught is None and catch_all is None:
                catch_all = (sub, start)
    return catch_all


def _start(sub: SubProcess) -> StartEvent:
    start = sub.elements[sub.start_events[0]]
    assert isinstance(start, StartEvent)
    return start


def start_event_subprocess(
    inst: Running,
    scope: ActiveScope,
    sub: SubProcess,
    start: StartEvent,
    payload: dict[str, Any] | None,
) -> None:
    if start.interrupting:
        inst.interrupt(scope)
    inst.apply(start, {}, payload, scope.variables)
    inst.spawn(scope, sub.id, via=None, entered=True)


async def _watch(inst: Running, scope: ActiveScope, sub: SubProcess, start: StartEvent) -> None:
    ctx = inst.ctx
    ended = scope.ended  # resolved by the level's end, or by an interrupt: both stop us
    try:
        timer = start.trigger if isinstance(start.trigger, TimerEventDefinition) else None
        due: float | None = None
        fired = 0
        while not ended.done:
            if timer is None:
                operation = inst.trigger(start, scope.variables)
            else:
                if due is None:
                    due = inst.due(start, timer, scope.variables)
                operation = inst.sleep_until(due)
            index, value = await ctx.first(operation, ended)
            if index == 1:
                ctx.cancel(operation)
                return
            fired += 1
            start_event_subprocess(inst, scope, sub, start, event_data(value))
            if start.interrupting:
                return
            if timer is not None:
                if due is not None:
                    due = inst.next_due(start, timer, scope.variables, due, fired)
                if due is None:
                    return
    except WorkflowCancelled:
        raise
    except Incident as error:
        inst.close_scope(scope, error)
    except Exception as error:
        inst.close_scope(scope, Incident(start.id, f"{type(error).__name__}: {error}"))
