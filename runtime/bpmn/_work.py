"""The work of one activity: a handler's job, a user task's wait, a message, a subprocess.

``begin`` starts it and returns its future and how to withdraw it; ``result`` is what it
produced, as variables. Boundary events and multi-instance bodies are built around these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import attrs

from .._context import Future
from .._definitions import ActivityDefinition
from .._errors import ActivityError
from .._event import Event
from ._call import begin_call, result_of_call
from ._feel_values import describe
from ._handlers import PREFIX, missing_handler, takes_job, thrown_code
from ._incidents import Incident, Thrown
from ._model import (
    Activity,
    BusinessRuleTask,
    CallActivity,
    EndEvent,
    FlowNode,
    IntermediateThrowEvent,
    ReceiveTask,
    ScriptTask,
    SendTask,
    ServiceTask,
    SubProcess,
    UserTask,
)
from ._running import Running
from ._scope import ActiveScope, Variables

JobElement: TypeAlias = (
    ServiceTask | SendTask | ScriptTask | BusinessRuleTask | IntermediateThrowEvent | EndEvent
)
"""What runs a job for a handler, as in Zeebe."""


def event_data(value: Any) -> dict[str, Any] | None:
    """The variables an event brings: its data when that is an object."""
    if isinstance(value, Event) and isinstance(value.data, dict):
        return value.data
    return None


def begin(
    inst: Running,
    scope: ActiveScope,
    node: Activity,
    local: dict[str, Any],
    variables: Variables,
    counter: int | None = None,
) -> tuple[Future[Any] | None, Callable[[], None]]:
    """Start the activity's work: its future, and how to withdraw it.

    ``counter`` is the loop counter of a multi-instance activity's inner instance: a user
    task then waits for the subject ``<instance id>/<element id>/<counter>``.
    """
    ctx = inst.ctx
    work: Future[Any]
    context = variables.view().new_child(local)
    if isinstance(node, ScriptTask) and node.expression is not None:
        value = inst.feel(node.id, "script", node.expression, context)
        work = Future()
        work.set_result({node.result_variable: value})
    elif isinstance(node, ServiceTask | SendTask | ScriptTask | BusinessRuleTask):
        work = start_job(inst, node, context)
    elif isinstance(node, UserTask):
        key = node.id if counter is None else f"{node.id}/{counter}"
        inst.tasks[key] = {
            "assignee": inst.value(node.id, "assignee", node.assignee or "", context) or None,
            "candidate_groups": _groups(inst, node, context),
        }
        inst.changed()
        work = ctx.wait_event("task.completed", subject=f"{ctx.instance_id}/{key}")
    elif isinstance(node, ReceiveTask):
        work = inst.trigger(node, variables, local)
    elif isinstance(node, CallActivity):
        return begin_call(inst, scope, node, local, variables)
    elif isinstance(node, SubProcess):
        child = inst.open_scope(node.id, Variables(local, variables), scope)
        # An event subprocess's start event happened already (_event_sub): leave from it.
        inst.spawn(child, node.start_events[0], via=None, entered=not node.triggered_by_event)
        return child.outcome, lambda: inst.close_scope(child, "withdrawn")
    else:
        return None, lambda: None

    def withdraw() -> None:
        ctx.cancel(work)

    return work, withdraw


def start_job(inst: Running, node: JobElement, context: Mapping[str, Any]) -> Future[Any]:
    """Run the handler of the element's job type with the variables it sees."""
    definition, job = _handler(inst, node, context)
    if takes_job(definition):
        return inst.ctx.run(definition, dict(context), job=job)
    return inst.ctx.run(definition, dict(context))


def as_thrown(node: FlowNode, error: Exception) -> Thrown:
    """The BPMN error the work failed with; any other failure is an incident."""
    if isinstance(error, Thrown | Incident):
        if isinstance(error, Incident):
            raise error
        return error
    if isinstance(error, ActivityError):
        code = thrown_code(error)
        if code is not None:
            return Thrown(code[0], code[1], node.id)
        if error.type == "ActivityNotRegistered":
            key = error.activity.removeprefix(PREFIX)
            raise Incident(
                node.id, f"no handler is registered for {key!r} (see bpmn.handler)"
            ) from None
        raise Incident(node.id, str(error)) from None
    raise Incident(node.id, f"{type(error).__name__}: {error}") from None


def _handler(
    inst: Running, node: JobElement, context: Mapping[str, Any]
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
        definition = inst.registry.activity(PREFIX + key)
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
    # No handler (yet): attempts that fail, then an incident, resolved once one is registered.
    placeholder = missing_handler(keys[0])
    retry = attrs.evolve(placeholder.retry, max_attempts=max(1, retries))
    return attrs.evolve(placeholder, retry=retry), {}


def _job_type(inst: Running, node: JobElement, context: Mapping[str, Any]) -> str:
    """The job type as written, or what its FEEL expression gives for this instance."""
    text = node.task_type or ""
    value = inst.value(node.id, "job type", text, context)
    if not isinstance(value, str) or not value.strip():
        raise Incident(
            node.id, f"the job type {text!r} gave {describe(value)}, not a non-empty string"
        )
    return value


def _groups(inst: Running, node: UserTask, context: Mapping[str, Any]) -> list[str]:
    text = node.candidate_groups or ""
    if not text.lstrip().startswith("="):
        return list(node.candidate_group_names)
    value = inst.value(node.id, "candidate groups", text, context)
    if isinstance(value, list):
        return [str(group) for group in value]
    return [group.strip() for group in str(value or "").split(",") if group.strip()]


def result(node: FlowNode, value: Any) -> dict[str, Any] | None:
    """What the work produced, as variables (None: nothing)."""
    if isinstance(node, CallActivity):
        return result_of_call(node, value)
    if isinstance(node, JobElement):
        if value is not None and not isinstance(value, dict):
            raise Incident(
                node.id, f"the handler returned {type(value).__name__}, not a dict or None"
            )
        return value
    return event_data(value)
