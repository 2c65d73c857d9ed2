"""Activities (tasks and subprocesses) and the boundary events attached to them.

An activity's work is one future: a handler's ``ctx.run``, a ``wait_event`` for a user or
receive task, or the outcome of a subprocess's own scope. The token races it against the
activity's interrupting timer and message boundary events and against the end of its
scope; whatever wins, the losers are withdrawn with ``ctx.cancel`` (a subprocess by
closing its scope). Non-interrupting boundary events are watched by tasks of their own
that start a token on the boundary's path each time they trigger (a timer cycle re-arms)
and stop when the activity ends. Error boundary events catch the ``Thrown`` error of the
work: a handler's ``TaskError`` or an error end event inside the subprocess.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._context import Future
from .._definitions import ActivityDefinition
from .._errors import ActivityError, WorkflowCancelled
from .._event import Event
from ._feel_values import describe
from ._handlers import PREFIX, takes_job, thrown_code
from ._incidents import Incident, Thrown, Withdrawn
from ._model import (
    Activity,
    BoundaryEvent,
    BpmnError,
    ErrorEventDefinition,
    ReceiveTask,
    SendTask,
    ServiceTask,
    SubProcess,
    TimerEventDefinition,
    UserTask,
)
from ._scope import ActiveScope
from ._timers import parse_cycle

if TYPE_CHECKING:
    from ._interpreter import Instance


def event_data(value: Any) -> dict[str, Any] | None:
    """The variables an event brings: its data when that is an object."""
    if isinstance(value, Event) and isinstance(value.data, dict):
        return value.data
    return None


async def run_activity(inst: Instance, scope: ActiveScope, token: int, node: Activity) -> str:
    """Run ``node`` to its end; return the element to leave from (it, or a boundary event)."""
    local = inst.inputs(node)
    if scope.is_over:
        raise Withdrawn
    work, stop = _begin(inst, scope, node, local)
    if work is None:  # a plain task: nothing to wait for
        inst.apply(node, local, None)
        return node.id
    finished: Future[None] = Future()
    arms: list[tuple[BoundaryEvent, Future[Any]]] = []
    try:
        for event in inst.process.boundary_events_of(node.id):
            if isinstance(event.trigger, ErrorEventDefinition):
                continue
            if event.cancel_activity:
                arms.append((event, inst.trigger(event, local)))
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
        inst.apply(boundary, {}, event_data(value))
        return boundary.id
    if error is not None:
        thrown = _thrown(node, error)
        catch = _catching(inst, node, thrown.code)
        if catch is None:
            raise thrown
        inst.done(node.id)
        inst.move(scope, token, catch.id)
        return catch.id
    inst.apply(node, local, _result(node, value))
    return node.id


def _begin(
    inst: Instance, scope: ActiveScope, node: Activity, local: dict[str, Any]
) -> tuple[Future[Any] | None, Callable[[], None]]:
    """Start the activity's work: its future, and how to withdraw it."""
    ctx = inst.ctx
    work: Future[Any]
    if isinstance(node, ServiceTask | SendTask):
        variables = {**inst.variables, **local}
        definition, job = _handler(inst, node, ChainMap(local, inst.variables))
        if takes_job(definition):
            work = ctx.run(definition, variables, job=job)
        else:
            work = ctx.run(definition, variables)
    elif isinstance(node, UserTask):
        context = ChainMap(local, inst.variables)
        inst.tasks[node.id] = {
            "assignee": inst.value(node.id, "assignee", node.assignee or "", context) or None,
            "candidate_groups": _groups(inst, node, context),
        }
        inst.changed()
        subject = f"{ctx.instance_id}/{node.id}"
        work = ctx.wait_event("task.completed", subject=subject)
    elif isinstance(node, ReceiveTask):
        work = inst.trigger(node, local)
    elif isinstance(node, SubProcess):
        child = inst.open_scope(node.id)
        inst.spawn(child, node.start_events[0], via=None, entered=True)
        return child.outcome, lambda: inst.close_scope(child, "withdrawn")
    else:
        return None, lambda: None

    def withdraw() -> None:
        ctx.cancel(work)

    return work, withdraw


def _handler(
    inst: Instance, node: ServiceTask | SendTask, context: Mapping[str, Any]
) -> tuple[ActivityDefinition[Any, Any], dict[str, Any]]:
    """The handler for the task's job type (evaluated), with its attempts; and the job."""
    task_type = None if node.task_type is None else _job_type(inst, node, context)
    retries = node.retries
    if node.retries_expression is not None:
        value = inst.value(node.id, "retries", node.retries_expression, context)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise Incident(
                node.id,
                f"retries {node.retries_expression!r} gave {describe(value)}, "
                "not a whole number >= 0",
            )
        retries = value
    keys = [task_type, node.id] if task_type else [node.id]
    for key in keys:
        definition = inst.loaded.registry.activity(PREFIX + key)
        if definition is not None:
            retry = attrs.evolve(definition.retry, max_attempts=max(1, retries))
            job = {
                "type": task_type or node.id,
                "element_id": node.id,
                "element_name": node.name,
                "process_id": inst.process.id,
                "process_version": inst.process.version,
                "retries": max(1, retries),
                "headers": dict(node.headers),
            }
            return attrs.evolve(definition, retry=retry), job
    wanted = " or ".join(repr(key) for key in keys)
    raise Incident(node.id, f"no handler is registered for {wanted} (see bpmn.handler)")


def _job_type(inst: Instance, node: ServiceTask | SendTask, context: Mapping[str, Any]) -> str:
    """The job type as written, or what its FEEL expression gives for this instance."""
    text = node.task_type or ""
    value = inst.value(node.id, "job type", text, context)
    if not isinstance(value, str) or not value.strip():
        raise Incident(
            node.id, f"the job type {text!r} gave {describe(value)}, not a non-empty string"
        )
    return value


def _groups(inst: Instance, node: UserTask, context: Mapping[str, Any]) -> list[str]:
    text = node.candidate_groups or ""
    if not text.lstrip().startswith("="):
        return list(node.candidate_group_names)
    value = inst.value(node.id, "candidate groups", text, context)
    if isinstance(value, list):
        return [str(group) for group in value]
    return [group.strip() for group in str(value or "").split(",") if group.strip()]


def _result(node: Activity, value: Any) -> dict[str, Any] | None:
    if isinstance(node, ServiceTask | SendTask):
        if value is not None and not isinstance(value, dict):
            raise Incident(
                node.id, f"the handler returned {type(value).__name__}, not a dict or None"
            )
        return value
    return event_data(value)


def _thrown(node: Activity, error: Exception) -> Thrown:
    """The BPMN error the work failed with; any other failure is an incident."""
    if isinstance(error, Thrown | Incident):
        if isinstance(error, Incident):
            raise error
        return error
    if isinstance(error, ActivityError):
        code = thrown_code(error)
        if code is not None:
            return Thrown(code[0], code[1], node.id)
        raise Incident(node.id, str(error)) from None
    raise Incident(node.id, f"{type(error).__name__}: {error}") from None


def _catching(inst: Instance, node: Activity, code: str) -> BoundaryEvent | None:
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
    inst: Instance,
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
                operation = inst.trigger(event, local)
            else:
                if due is None:
                    due = inst.due(event, timer)
                operation = inst.sleep_until(due)
            index, value = await ctx.first(operation, finished)
            if index == 1:
                ctx.cancel(operation)
                return
            fired += 1
            inst.apply(event, {}, event_data(value))
            inst.spawn(scope, event.id, via=None, entered=False)
            if timer is not None:
                if timer.kind != "cycle" or due is None:
                    return
                try:
                    cycle = parse_cycle(timer.expression, inst.variables, now=inst.ctx.now())
                    due = cycle.next_due(due, fired)
                except BpmnError as error:
                    raise Incident(event.id, str(error)) from None
                if due is None:
                    return
    except WorkflowCancelled:
        raise
    except Incident as error:
        inst.close_scope(scope, error)
    except Exception as error:
        inst.close_scope(scope, Incident(event.id, f"{type(error).__name__}: {error}"))
