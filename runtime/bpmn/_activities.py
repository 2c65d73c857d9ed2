"""Activities (tasks and subprocesses) and the boundary events attached to them.

An activity's work is one future: a handler's ``ctx.run``, a ``wait_event`` for a user or
receive task, or the outcome of a subprocess's own scope. The token races it against the
activity's interrupting timer and message boundary events and against the end of its
scope; whatever wins, the losers are withdrawn with ``ctx.cancel`` (a subprocess by
closing its scope). Non-interrupting boundary events are watched by tasks of their own
that start a token on the boundary's path each time they trigger (a timer cycle re-arms)
and stop when the activity ends. Error boundary events catch the ``Thrown`` error of the
work: a handler's ``TaskError`` or an error end event inside the subprocess. An
interrupting escalation boundary event ends the subprocess with ``Escalated``
(``_escalation``), and the token leaves by it. A multi-instance activity's work is its
body (``_multi``).
"""

from __future__ import annotations

from typing import Any

from .._context import Future
from .._errors import WorkflowCancelled
from ._compensation import remember
from ._escalation import Escalated
from ._incidents import Incident, Withdrawn
from ._model import (
    Activity,
    BoundaryEvent,
    CompensateEventDefinition,
    ErrorEventDefinition,
    EscalationEventDefinition,
    TimerEventDefinition,
)
from ._multi import start_body
from ._running import Running
from ._scope import ActiveScope
from ._work import as_thrown, begin, event_data, result


async def run_activity(inst: Running, scope: ActiveScope, token: int, node: Activity) -> str:
    """Run ``node`` to its end; return the element to leave from (it, or a boundary event)."""
    variables = scope.variables
    local = {} if node.loop is not None else inst.entry_inputs(token, node, variables)
    if scope.is_over:
        raise Withdrawn
    work: Future[Any] | None
    if node.loop is not None:
        work, stop = start_body(inst, scope, node)
    else:
        work, stop = begin(inst, scope, node, local, variables)
    if work is None:  # a plain task: nothing to wait for
        inst.apply(node, local, None, variables)
        remember(inst, scope, node)
        return node.id
    finished: Future[None] = Future()
    arms: list[tuple[BoundaryEvent, Future[Any]]] = []
    try:
        for event in inst.process.boundary_events_of(node.id):
            if isinstance(
                event.trigger,
                ErrorEventDefinition | EscalationEventDefinition | CompensateEventDefinition,
            ):
                continue  # caught when thrown (as_thrown, _escalation, _compensation)
            if event.cancel_activity:
                arms.append((event, inst.trigger(event, variables, local)))
            else:
                inst.ctx.gather(_watch(inst, scope, event, local, finished))
        error: Exception | None = None
        try:
            index, value = await inst.ctx.first(work, *(f for _, f in arms), scope.ended)
        except WorkflowCancelled:
            raise
        except Exception as exc:
            index, value, error = 0, None, exc
    finally:
        inst.tasks.pop(node.id, None)
    inst.changed()
    finished.set_result(None)
    for other, (_, operation) in enumerate(arms, start=1):
        if other != index:
            inst.ctx.cancel(operation)
    if index > len(arms):
        stop()
        raise Withdrawn
    if index > 0:
        stop()
        boundary = arms[index - 1][0]
        inst.done(node.id)
        inst.move(scope, token, boundary.id)
        inst.apply(boundary, {}, event_data(value), variables)
        return boundary.id
    if isinstance(error, Escalated):  # an interrupting escalation boundary caught
        stop()
        caught = inst.process.element(error.boundary_id)
        inst.done(node.id)
        inst.move(scope, token, caught.id)
        inst.apply(caught, {}, None, variables)
        return caught.id
    if error is not None:
        thrown = as_thrown(node, error)
        catch = _catching(inst, node, thrown.code)
        if catch is None:
            raise thrown
        inst.done(node.id)
        inst.move(scope, token, catch.id)
        return catch.id
    if node.loop is not None:  # the output collection, made in the body's own scope
        inst.merge(variables, value)
    else:
        inst.apply(node, local, result(node, value), variables)
    remember(inst, scope, node)
    return node.id


def _catching(inst: Running, node: Activity, code: str) -> BoundaryEvent | None:
    """The error boundary event for ``code``: one naming it, else a catch-all one."""
    catch_all = None
    for event in inst.process.boundary_events_of(node.id):
        if isinstance(event.trigger, ErrorEventDefinition):
            if event.trigger.error_code == code:
                return event
            if event.trigger.error_code is None and catch_all is None:
                catch_all = event
    return catch_all


async def _watch(
    inst: Running,
    scope: ActiveScope,
    event: BoundaryEvent,
    local: dict[str, Any],
    finished: Future[None],
) -> None:
    """A non-interrupting boundary event: a token on its path at each trigger."""
    ctx = inst.ctx
    try:
        timer = event.trigger if isinstance(event.trigger, TimerEventDefinition) else None
        due: float | None = None
        fired = 0
        while not finished.done and not scope.is_over:
            if timer is None:
                operation = inst.trigger(event, scope.variables, local)
            else:
                if due is None:
                    due = inst.due(event, timer, scope.variables)
                operation = inst.sleep_until(due)
            index, value = await ctx.first(operation, finished)
            if index == 1:
                ctx.cancel(operation)
                return
            fired += 1
            inst.apply(event, {}, event_data(value), scope.variables)
            inst.spawn(scope, event.id, via=None, entered=False)
            if timer is not None:
                if due is not None:
                    due = inst.next_due(event, timer, scope.variables, due, fired)
                if due is None:
                    return
    except WorkflowCancelled:
        raise
    except Incident as error:
        inst.close_scope(scope, error)
    except Exception as error:
        inst.close_scope(scope, Incident(event.id, f"{type(error).__name__}: {error}"))
