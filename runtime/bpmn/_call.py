"""Call activities: a process instance that starts another one and waits for it.

The parent starts the child from an activity (``start``) and, in the same step, waits
for an event of type ``CALLED`` whose subject is the child's id. The child's id is made
from the parent's id, the element and the number of the call (``_calls``), so a start
repeated after a crash finds the child it started before. When the child ends it sends
that event from an activity of its own (``report``): its variables, its uncaught BPMN
error, or its cancellation; the event's id is the child's id, so a report repeated after
a crash is a duplicate. As in Zeebe:

- the child gets every variable the call activity sees, its input mappings included
  (``propagateAllParentVariables``, else only the input mappings);
- when it completes, its variables come back through the call activity's output
  mappings, or all of them without any (``propagateAllChildVariables``, else none);
  those it still holds as it was given them are left out (no news, and a stale copy
  would overwrite a variable that changed in the parent meanwhile);
- a BPMN error the child does not catch is thrown at the call activity (its error
  boundary events catch it); the child ends ``failed`` with that error (Zeebe
  terminates it);
- an incident in the child stays on the child: the parent waits meanwhile;
- an escalation the child does not catch goes on to the parent: the call activity's
  escalation boundary event catches it (interrupting: the child is cancelled; it goes on
  meanwhile, where Zeebe stops it at once), else the levels around it, as if the call
  activity had thrown it;
- ending the call activity early (an interrupting boundary event, the end of its scope,
  cancelling the parent) cancels the child.

A child cancelled by itself (``Runtime.cancel`` on its id) raises an incident on the call
activity; resolving it calls the process again, with a new child.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from .._calls import child_instance_id, host, parent_of
from .._context import Future
from .._convert import parameter_types, return_type
from .._definitions import ActivityDefinition, Registry, RetryPolicy
from .._errors import InstanceFinished, InstanceNotFound
from .._event import Event
from ._feel_values import describe
from ._incidents import Incident, Thrown
from ._model import CallActivity
from ._running import Running
from ._scope import ActiveScope, Variables

CALLED = "trioflow.bpmn.called"
"""The event type of a called instance's outcome; its subject is the child's id."""
ESCALATED = "trioflow.bpmn.escalated"
"""The event type of an escalation a called instance did not catch; subject: its id."""
_SOURCE = "trioflow.bpmn.call"


class NotCallable(Exception):
    """The called process id names nothing a call activity can start (an incident)."""


_RETRY = RetryPolicy(
    max_attempts=10, initial_interval=0.5, max_interval=30.0, non_retryable=(NotCallable,)
)


async def _start_child(workflow: str, variables: dict[str, Any], instance_id: str) -> str:
    """Start the child, unless it is started already. The called process is looked up here,
    in the activity, so a replay reads whether it existed from the journal."""
    runtime = host()
    called = next((d for d in runtime.workflows() if d.name == workflow), None)
    if called is None:
        raise NotCallable(f"no process {workflow!r} is loaded (the called process id)")
    if called.kind != "bpmn" or called.trigger is not None or called.schedule is not None:
        what = (
            "a code workflow" if called.kind != "bpmn" else "a process without a none start event"
        )
        raise NotCallable(
            f"{workflow!r} is {what}: a call activity starts a BPMN process at its none start event"
        )
    return await runtime.start(workflow, variables, instance_id=instance_id)


async def _cancel_child(instance_id: str, reason: str) -> None:
    # Not found: never started (its start was withdrawn); finished: it ended meanwhile.
    with contextlib.suppress(InstanceNotFound, InstanceFinished):
        await host().cancel(instance_id, reason)


async def _report(instance_id: str, outcome: dict[str, Any]) -> None:
    event = Event(type=CALLED, source=_SOURCE, id=instance_id, subject=instance_id, data=outcome)
    await host().publish(event)


async def _escalate(instance_id: str, number: int, code: str) -> None:
    event = Event(
        type=ESCALATED,
        source=_SOURCE,
        id=f"{instance_id}/escalation/{number}",
        subject=instance_id,
        data={"code": code},
    )
    await host().publish(event)


async def _broadcast(name: str, variables: dict[str, Any]) -> None:
    await host().broadcast_signal(name, variables)


def _builtin(name: str, fn: Callable[..., Any]) -> ActivityDefinition[Any, Any]:
    return ActivityDefinition(
        name=name,
        fn=fn,
        retry=_RETRY,
        timeout=None,
        is_async=True,
        parameters=parameter_types(fn),
        result_type=return_type(fn),
    )


START = _builtin("trioflow.bpmn.call.start", _start_child)
CANCEL = _builtin("trioflow.bpmn.call.cancel", _cancel_child)
REPORT = _builtin("trioflow.bpmn.call.report", _report)
ESCALATE = _builtin("trioflow.bpmn.call.escalate", _escalate)
BROADCAST = _builtin("trioflow.bpmn.signal.broadcast", _broadcast)


def register_builtins(registry: Registry) -> None:
    """The activities call activities and signal throw events run, in ``registry``."""
    for definition in (START, CANCEL, REPORT, ESCALATE, BROADCAST):
        if registry.activity(definition.name) is None:
            registry.add_activity(definition)


def begin_call(
    inst: Running,
    scope: ActiveScope,
    node: CallActivity,
    local: dict[str, Any],
    variables: Variables,
) -> tuple[Future[Any], Callable[[], None]]:
    """Start the child; the future gives its variables or raises its error."""
    ctx = inst.ctx
    context = variables.view().new_child(local)
    workflow = inst.value(node.id, "processId", node.process_id, context)
    if not isinstance(workflow, str) or not workflow.strip():
        raise Incident(
            node.id, f"processId {node.process_id!r} gave {describe(workflow)}, not a process id"
        )
    given = {**context} if node.propagate_parent else dict(local)
    inst.call_count += 1
    child_id = child_instance_id(ctx.instance_id, node.id, inst.call_count)
    inst.called[child_id] = {"element_id": node.id, "process_id": workflow, "status": "active"}
    inst.changed()
    waited = ctx.wait_event(CALLED, subject=child_id)
    started = ctx.run(START, workflow, given, child_id)
    outcome: Future[Any] = Future()

    def on_report(done: Future[Any]) -> None:
        if outcome.done:
            return
        try:
            data = done.result().data
        except BaseException as error:
            outcome.set_error(error)
            return
        data = data if isinstance(data, dict) else {}
        inst.called[child_id]["status"] = data.get("status", "completed")
        inst.changed()
        if "error" in data:
            info = data["error"] if isinstance(data["error"], dict) else {}
            thrown = Thrown(str(info.get("code", "")), str(info.get("message", "")), node.id)
            outcome.set_error(thrown)
        elif data.get("status") == "cancelled":
            outcome.set_error(Incident(node.id, f"the called instance {child_id!r} was cancelled"))
        else:
            # What the child left as it was given is no news: sent back, a stale copy of
            # a variable that changed meanwhile (a multi-instance body's counts) would
            # overwrite it.
            produced = data.get("variables") or {}
            changed = {k: v for k, v in produced.items() if k not in given or given[k] != v}
            outcome.set_result(changed)

    def on_started(done: Future[Any]) -> None:
        try:
            done.result()
        except BaseException as error:
            if not outcome.done:
                inst.called[child_id]["status"] = "not started"
                inst.changed()
                outcome.set_error(error)

    waited.add_callback(on_report)
    started.add_callback(on_started)
    inst.watch_escalations(scope, node, child_id, outcome)

    def withdraw() -> None:
        ctx.cancel(waited)
        if inst.called[child_id]["status"] == "active":
            inst.called[child_id]["status"] = "cancelled"
            inst.changed()
            inst.stopping.append(ctx.gather(_stop(inst, started, child_id)))

    return outcome, withdraw


async def _stop(inst: Running, started: Future[Any], child_id: str) -> None:
    """Cancel the child once its start is done (a start still running would start it
    after a cancel, leaving it running)."""
    try:
        await started
    except Exception:
        return  # it was never started
    await inst.ctx.run(CANCEL, child_id, "the calling element ended")


async def stop_children(inst: Running, reason: str) -> None:
    """The parent is cancelled: cancel every child still running."""
    ctx = inst.ctx
    for child_id, call in inst.called.items():
        if call["status"] == "active":
            call["status"] = "cancelled"
            inst.stopping.append(ctx.run(CANCEL, child_id, reason or "the parent was cancelled"))
    inst.changed()
    await settle(inst)


async def settle(inst: Running) -> None:
    """Wait for the children being cancelled: the instance must not end before."""
    while inst.stopping:
        stopping, inst.stopping = inst.stopping, []
        for future in stopping:
            with contextlib.suppress(Exception):  # a child that is gone already
                await future


def parent(inst: Running) -> tuple[str, str] | None:
    """The parent instance and calling element of a called instance."""
    return parent_of(inst.ctx.instance_id)


async def report(inst: Running, outcome: dict[str, Any]) -> None:
    """Tell the parent how this called instance ended (nothing for a top-level one)."""
    if parent(inst) is not None:
        await inst.ctx.run(REPORT, inst.ctx.instance_id, outcome)


def report_escalation(inst: Running, code: str) -> None:
    """Pass an escalation nothing caught to the parent (nothing for a top-level instance);
    the instance does not end before it is passed."""
    if parent(inst) is not None:
        inst.escalations += 1
        number = inst.escalations
        inst.stopping.append(inst.ctx.run(ESCALATE, inst.ctx.instance_id, number, code))


def result_of_call(node: CallActivity, value: Any) -> dict[str, Any] | None:
    """What a completed child gives the call activity to map or merge."""
    if not node.propagate_child and not node.outputs:
        return None
    return value if isinstance(value, dict) else None
