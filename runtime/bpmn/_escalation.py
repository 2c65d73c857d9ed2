"""Escalations: raised by escalation throw and end events, caught further out, as in Zeebe.

An escalation looks for its catcher from the level of the thrower outwards: an
escalation event subprocess of that level (one naming the escalation's code first,
else one catching any), then an escalation boundary event on the subprocess of that
level, then the next level out, and so on. The first found catches it:

- an interrupting event subprocess stops its level (the thrower with it) and runs;
- an interrupting boundary event ends the subprocess (``Escalated`` fails its level, and
  the activity's token leaves by the boundary event);
- a non-interrupting one starts a token beside the rest, and the thrower goes on.

An escalation that nothing catches is not an error, as in Zeebe: the thrower goes on (a
throw event) or ends (an end event) as if it were a none event. A BPMN error, in
contrast, fails the instance when nothing catches it. In an instance that a call activity
started, an escalation nothing in it catches goes on to the parent (``_call``), as in
Zeebe; the thrower goes on meanwhile, and an interrupting catcher in the parent cancels it.
"""

from __future__ import annotations

from typing import Any

from .._context import Future
from ._call import ESCALATED
from ._event_sub import catching, start_event_subprocess
from ._model import BoundaryEvent, CallActivity, EscalationEventDefinition
from ._running import Running
from ._scope import ActiveScope


class Escalated(Exception):
    """An interrupting escalation boundary event caught: its subprocess's level ends."""

    def __init__(self, boundary_id: str) -> None:
        self.boundary_id = boundary_id
        super().__init__(f"escalation caught by {boundary_id!r}")


def escalate(inst: Running, scope: ActiveScope, code: str) -> bool:
    """Raise the escalation ``code`` from ``scope``; True when an interrupting catcher
    stopped the thrower's level (the thrower must stop), False when it goes on."""
    level = scope
    while True:
        found = catching(inst, level, EscalationEventDefinition, code)
        if found is not None:
            start_event_subprocess(inst, level, *found, None)
            return found[1].interrupting
        if level.parent is None:
            inst.escalate_to_parent(code)
            return False
        boundary = boundary_for(inst, level.owner_id, code)
        if boundary is not None:
            if boundary.cancel_activity:
                inst.close_scope(level, Escalated(boundary.id))
                return True
            inst.apply(boundary, {}, None, level.parent.variables)
            inst.spawn(level.parent, boundary.id, via=None, entered=False)
            return False
        level = level.parent


def boundary_for(inst: Running, activity_id: str, code: str) -> BoundaryEvent | None:
    """The escalation boundary event on ``activity_id`` for ``code``: one naming it, else a
    catch-all one."""
    catch_all = None
    for event in inst.process.boundary_events_of(activity_id):
        if isinstance(event.trigger, EscalationEventDefinition):
            if event.trigger.escalation_code == code:
                return event
            if event.trigger.escalation_code is None and catch_all is None:
                catch_all = event
    return catch_all


async def watch_called(
    inst: Running, scope: ActiveScope, node: CallActivity, child_id: str, outcome: Future[Any]
) -> None:
    """Catch the escalations the child passes on, until the call ends: the call
    activity's escalation boundary event first, else from its level outwards."""
    ctx = inst.ctx
    while not outcome.done and not scope.is_over:
        waited = ctx.wait_event(ESCALATED, subject=child_id)
        index, value = await ctx.first(waited, outcome, scope.ended)
        if index != 0:
            ctx.cancel(waited)
            return
        data = value.data if isinstance(value.data, dict) else {}
        code = str(data.get("code", ""))
        boundary = boundary_for(inst, node.id, code)
        if boundary is None:
            escalate(inst, scope, code)
        elif boundary.cancel_activity:
            outcome.set_error(Escalated(boundary.id))
        else:
            inst.apply(boundary, {}, None, scope.variables)
            inst.spawn(scope, boundary.id, via=None, entered=False)
