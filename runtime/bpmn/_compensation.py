"""Compensation: undoing activities that completed, as in Zeebe.

An activity with a compensation boundary event that completes is remembered by its level
(``ActiveScope.compensable``); a subprocess that completes hands what its level remembered
to the level around it. A compensation throw or end event starts, at once, the handler
(the task associated with the boundary event) of each activity its level remembers (only
``activityRef``'s when it names one, or those of the subprocess it names), waits for all
of them, then goes on; each completion is undone at most once. Activities still running,
interrupted or never run are not compensated. A handler sees the variables of the
thrower's level; what it produces is merged as a task's result is.

Where this differs from Zeebe: a multi-instance activity is compensated once, not once per
inner instance; a handler that fails raises an incident on the handler (its BPMN error is
thrown from the throw event), and resolving it runs again the handlers not yet done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._context import Future
from .._errors import WorkflowCancelled
from ._incidents import Withdrawn
from ._model import Activity, CompensateEventDefinition, EndEvent, IntermediateThrowEvent
from ._running import Running
from ._scope import ActiveScope
from ._work import as_thrown, begin, result


def handler_of(inst: Running, activity_id: str) -> str | None:
    """The compensation handler of ``activity_id`` (None: it has none)."""
    for event in inst.process.boundary_events_of(activity_id):
        if isinstance(event.trigger, CompensateEventDefinition):
            return event.compensation_handler
    return None


def remember(inst: Running, scope: ActiveScope, node: Activity) -> None:
    """``node`` completed: remember it, if it can be compensated."""
    if handler_of(inst, node.id) is not None:
        scope.compensable.append(node.id)


def _named(inst: Running, activity_id: str, ref: str | None) -> bool:
    """Whether ``activityRef`` names the activity, or a subprocess it completed in."""
    element_id: str | None = activity_id
    while ref is not None and element_id is not None and element_id != ref:
        element_id = inst.element(element_id).parent_id
    return ref is None or element_id == ref


async def compensate(
    inst: Running,
    scope: ActiveScope,
    node: IntermediateThrowEvent | EndEvent,
    trigger: CompensateEventDefinition,
) -> None:
    """Run the handlers of the level's remembered activities, all at once; wait for them."""
    variables = scope.variables
    local = inst.inputs(node, variables)
    if scope.is_over:
        raise Withdrawn
    todo = [a for a in scope.compensable if _named(inst, a, trigger.activity_ref)]
    started: list[tuple[str, Activity, dict[str, Any], Future[Any] | None, Callable[[], None]]]
    started = []
    for activity_id in todo:
        handler = inst.element(handler_of(inst, activity_id) or "")
        assert isinstance(handler, Activity)
        handler_local = inst.inputs(handler, variables)
        work, withdraw = begin(inst, scope, handler, handler_local, variables)
        started.append((activity_id, handler, handler_local, work, withdraw))
    try:
        for activity_id, handler, handler_local, work, _ in started:
            value = None
            if work is not None:
                try:
                    value = await inst.wait(scope, work)
                except (Withdrawn, WorkflowCancelled):
                    raise
                except Exception as error:
                    raise as_thrown(handler, error) from None
                finally:
                    inst.tasks.pop(handler.id, None)
            inst.apply(handler, handler_local, result(handler, value), variables)
            scope.compensable.remove(activity_id)
            inst.done(handler.id)
    except BaseException:
        for _, _, _, _, withdraw in started:
            withdraw()  # a handler still running: nothing waits for it any more
        raise
    inst.apply(node, local, None, variables)
