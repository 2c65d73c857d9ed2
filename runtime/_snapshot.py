"""Snapshots: an instance's whole state as plain data, and a core rebuilt from one.

Theory of operation
-------------------
A code workflow's state lives in its coroutines, which cannot be written down: only replay
rebuilds it. A workflow whose state is plain data (the BPMN interpreter: tokens, variables,
open operations) can be written down, and rebuilt without replaying what led to it.

``WorkflowCore.capture`` writes the state as JSON data: the core's part (the pending steps,
what each live task waits for, the step counter, the events taken, the seed) and the
workflow's part, which the workflow's ``StateHolder`` gives (it registered itself with
``WorkflowContext._keep_state``). Either part may decline (None): the state is not plain
data at that moment (a task the holder cannot name, a drawn random number, a cancellation
under way), and the next snapshot is tried at the next append.

``WorkflowCore.restore`` rebuilds it: the definition's ``resume`` (``Resumable``) makes the
workflow's main coroutine from its part, which starts its tasks again where they waited, in
the order they were started; each task re-issues the operations it waited for, and instead
of new steps they take the pending steps the snapshot holds (``Adoption``), in order, with
what the snapshot recorded of them (an attempt number, a timer's due time), and nothing is
journaled. Every operation must find the step it had, every step must be taken, and the
state captured again must equal the snapshot; else ``SnapshotMismatch``, and the caller
replays the whole journal instead.
"""

from __future__ import annotations

import collections
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ._json import dumps, loads
from ._steps import ActivityStep, IncidentStep, Step, TimerStep, WaitStep

if TYPE_CHECKING:
    from ._context import WorkflowContext


class SnapshotMismatch(Exception):
    """A snapshot cannot rebuild the instance with this code: the whole journal is replayed."""


class StateHolder(Protocol):
    """What a workflow whose state is plain data registers with its context."""

    def capture(self, tasks: Sequence[Coroutine[Any, Any, Any]]) -> dict[str, Any] | None:
        """The workflow's state as JSON data, naming what each of ``tasks`` (the live tasks
        but the main one, in the order they started) stands for; None when it cannot."""
        ...


class Resumable(Protocol):
    """A definition's ``fn`` that can rebuild its workflow from a captured state."""

    def resume(self, ctx: WorkflowContext, state: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        """The main coroutine of a workflow rebuilt from ``state``: it starts the tasks again
        in the order ``StateHolder.capture`` named them."""
        ...


def plain(state: dict[str, Any]) -> dict[str, Any] | None:
    """``state`` as it reads back from JSON (None: it is not JSON data)."""
    try:
        value: dict[str, Any] = loads(dumps(state))
    except (TypeError, ValueError):
        return None
    return value


def step_spec(step: Step) -> dict[str, Any]:
    """A pending step as plain data."""
    if isinstance(step, ActivityStep):
        return {
            "kind": "activity",
            "name": step.name,
            "args": step.args,
            "kwargs": step.kwargs,
            "attempt": step.attempt,
            "in_backoff": step.in_backoff,
            "fire_at": step.fire_at,
        }
    if isinstance(step, TimerStep):
        return {"kind": "timer", "fire_at": step.fire_at}
    if isinstance(step, WaitStep):
        return {
            "kind": "wait",
            "type": step.type,
            "subject": step.subject,
            "timeout_at": step.timeout_at,
            "message": step.message,
        }
    return {
        "kind": "incident",
        "element_id": step.element_id,
        "message": step.message,
        "since": step.since,
    }


class Adoption:
    """While a core is restored: the operations of the restarted tasks take the snapshot's
    pending steps. ``problems`` lists what did not match."""

    def __init__(self, steps: dict[int, dict[str, Any]], owned: Sequence[Sequence[int]]) -> None:
        self._specs = steps
        self._owned = collections.deque(collections.deque(o) for o in owned)
        self._queues: dict[int, collections.deque[int]] = {}
        self.problems: list[str] = []

    def assign(self, task: object) -> None:
        """A task was started: it is the next one the snapshot names."""
        if not self._owned:
            self.problems.append("a task started that the snapshot does not hold")
            self._queues[id(task)] = collections.deque()
        else:
            self._queues[id(task)] = self._owned.popleft()

    def adopt(self, step: Step, task: object) -> int | None:
        """The number of the pending step ``step`` stands for (None: none, a problem)."""
        queue = self._queues.get(id(task))
        if not queue:
            self.problems.append(f"an operation the snapshot does not hold: {step_spec(step)}")
            return None
        n = queue.popleft()
        problem = _take(step, self._specs[n])
        if problem is not None:
            self.problems.append(f"step {n}: {problem}")
        return n

    def finish(self) -> None:
        if self._owned:
            self.problems.append(f"{len(self._owned)} task(s) of the snapshot were not started")
        for queue in self._queues.values():
            if queue:
                self.problems.append(f"steps {list(queue)} were not taken again")


def _take(step: Step, spec: dict[str, Any]) -> str | None:
    """Give ``step`` what the snapshot recorded of it; why it does not fit, if it does not.

    What was recorded stands: an operation issued again computes its arguments and a
    timer its due time anew, from the variables and the time of now, while the step was
    issued with those of the moment its task reached it.
    """
    kind = spec["kind"]
    if isinstance(step, ActivityStep) and kind == "activity":
        if step.name != spec["name"]:
            return f"activity {step.name} where {spec['name']} was recorded"
        step.args, step.kwargs = spec["args"], spec["kwargs"]
        step.attempt, step.in_backoff = spec["attempt"], spec["in_backoff"]
        step.fire_at = spec["fire_at"]
        return None
    if isinstance(step, TimerStep) and kind == "timer":
        step.fire_at = spec["fire_at"]
        return None
    if isinstance(step, WaitStep) and kind == "wait":
        if (step.type, step.subject, step.message) != (
            spec["type"],
            spec["subject"],
            spec["message"],
        ):
            return f"a wait for {step.type!r} ({step.subject!r}) that was not recorded"
        step.timeout_at = spec["timeout_at"]
        return None
    if isinstance(step, IncidentStep) and kind == "incident":
        if (step.element_id, step.message) != (spec["element_id"], spec["message"]):
            return f"an incident at {step.element_id!r} that was not recorded"
        step.since = spec["since"]
        return None
    return f"a {step_spec(step)['kind']} where a {kind} was recorded"
