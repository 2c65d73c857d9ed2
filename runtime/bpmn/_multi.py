"""Multi-instance activities: one inner instance of a task or subprocess per item of a list.

As in Zeebe, the activity becomes a *body* with a variable scope of its own holding
``numberOfInstances``, ``numberOfActiveInstances``, ``numberOfCompletedInstances``,
``numberOfTerminatedInstances`` and the ``outputCollection`` (a list of nulls to begin
with). Each inner instance gets a scope inside it with ``loopCounter`` (from 1), the
item as ``inputElement`` and ``outputElement`` set to null, so that whatever writes that
name (a job result, an output mapping, an inner task of a subprocess) writes it there; the
activity's input and output mappings apply per inner instance. When an inner instance
completes, ``outputElement`` (FEEL, in its scope) goes to its place in the output
collection, and the ``completionCondition`` (FEEL) may end the body early: the inner
instances still running are withdrawn. When the body ends, the output collection is set
outside it (where it exists, else on the instance), and the activity leaves.

Boundary events belong to the body: an interrupting one withdraws every inner instance.
A BPMN error or an incident in one inner instance withdraws the others and fails the body.

Where this differs from Zeebe: a parallel body runs at most ``MAX_ACTIVE`` inner instances
at once and starts the next one as one completes (Zeebe activates all of them at once),
so that a collection of thousands of items does not open thousands of waits in one step.
A user task of a multi-instance activity waits for ``task.completed`` with the subject
``<instance id>/<element id>/<loopCounter>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._context import Future
from .._errors import WorkflowCancelled
from ._feel_values import describe
from ._incidents import Incident
from ._model import Activity, MultiInstance
from ._running import Running
from ._scope import ActiveScope, Variables
from ._work import begin, result

MAX_ACTIVE = 100
"""At most this many inner instances of one parallel multi-instance body run at once."""


def start_body(
    inst: Running, scope: ActiveScope, node: Activity
) -> tuple[Future[Any], Callable[[], None]]:
    """Start the body of a multi-instance ``node``: its future (the output collection to
    set outside, as a dict) and how to withdraw it."""
    body = _Body(inst, scope, node)
    inst.ctx.gather(body.run())
    return body.outcome, body.withdraw


class _Body:
    def __init__(self, inst: Running, scope: ActiveScope, node: Activity) -> None:
        assert node.loop is not None
        self.inst = inst
        self.scope = scope
        self.node = node
        self.loop: MultiInstance = node.loop
        self.outcome: Future[dict[str, Any]] = Future()
        self.stopped: Future[None] = Future()
        self.variables = Variables({}, scope.variables)
        self.items: list[Any] = []
        self.next = 0

    def feel(self, what: str, text: str, variables: Variables) -> Any:
        return self.inst.feel(self.node.id, what, text, variables.view())

    async def run(self) -> None:
        if self.stopped.done:  # withdrawn before it began
            return
        try:
            items = self.feel("inputCollection", self.loop.input_collection, self.scope.variables)
            if not isinstance(items, list):
                raise Incident(
                    self.node.id,
                    f"inputCollection {self.loop.input_collection!r} gave "
                    f"{describe(items)}, not a list",
                )
            self.items = items
            count = len(items)
            self.variables.local.update(
                numberOfInstances=count,
                numberOfActiveInstances=0,
                numberOfCompletedInstances=0,
                numberOfTerminatedInstances=0,
            )
            if self.loop.output_collection is not None:
                self.variables.local[self.loop.output_collection] = [None] * count
            self.inst.changed()
            if count == 0:
                self.finish()
            elif self.loop.sequential:
                self.launch()
            else:
                for _ in range(min(MAX_ACTIVE, count)):
                    self.launch()
        except WorkflowCancelled:
            raise
        except Exception as error:
            self.fail(error)

    def launch(self) -> None:
        """Start the next inner instance."""
        if self.stopped.done:
            return
        index = self.next
        self.next += 1
        self.counts(active=1)
        self.inst.ctx.gather(self.inner(index))

    async def inner(self, index: int) -> None:
        inst, node, loop = self.inst, self.node, self.loop
        counter = index + 1
        local: dict[str, Any] = {"loopCounter": counter}
        if loop.input_element is not None:
            local[loop.input_element] = self.items[index]
        if loop.output_collection is not None and loop.output_element is not None:
            name = loop.output_element.lstrip().removeprefix("=").strip()
            if name.isidentifier():  # a variable's name: written by the inner instance
                local.setdefault(name, None)
        variables = Variables(local, self.variables)
        task_key = f"{node.id}/{counter}"
        try:
            mapped = inst.inputs(node, variables)
            work, withdraw = begin(inst, self.scope, node, mapped, variables, counter)
            value: Any = None
            if work is not None:
                try:
                    index_won, value = await inst.ctx.first(work, self.stopped)
                finally:
                    inst.tasks.pop(task_key, None)
                if index_won == 1:
                    withdraw()
                    return
            inst.apply(node, mapped, result(node, value), variables)
            self.completed(index, variables)
        except WorkflowCancelled:
            raise
        except Exception as error:
            self.fail(error)

    def completed(self, index: int, variables: Variables) -> None:
        loop = self.loop
        if self.stopped.done:
            return
        if loop.output_collection is not None and loop.output_element is not None:
            value = self.feel("outputElement", loop.output_element, variables)
            collection = list(self.variables.local[loop.output_collection])
            collection[index] = value
            self.variables.local[loop.output_collection] = collection
        self.counts(active=-1, completed=1)
        done = self.variables.local["numberOfCompletedInstances"] == len(self.items)
        if not done and loop.completion_condition is not None:
            met = self.feel("completionCondition", loop.completion_condition, variables)
            if met is not True and met is not False and met is not None:
                raise Incident(
                    self.node.id,
                    f"completionCondition {loop.completion_condition!r} gave "
                    f"{describe(met)}, not a boolean",
                )
            done = met is True
        if done:
            self.counts(terminated=self.variables.local["numberOfActiveInstances"])
            self.finish()
        elif self.next < len(self.items):
            self.launch()

    def counts(self, *, active: int = 0, completed: int = 0, terminated: int = 0) -> None:
        local = self.variables.local
        local["numberOfActiveInstances"] += active
        local["numberOfCompletedInstances"] += completed
        local["numberOfTerminatedInstances"] += terminated
        self.inst.loops[self.node.id] = {
            "instances": local["numberOfInstances"],
            "active": local["numberOfActiveInstances"],
            "completed": local["numberOfCompletedInstances"],
            "terminated": local["numberOfTerminatedInstances"],
        }
        self.inst.changed()

    def finish(self) -> None:
        self.withdraw()
        name = self.loop.output_collection
        output = {} if name is None else {name: self.variables.local[name]}
        self.outcome.set_result(output)

    def fail(self, error: BaseException) -> None:
        if not self.stopped.done:
            self.withdraw()
            self.outcome.set_error(error)

    def withdraw(self) -> None:
        """Stop every inner instance still running (the body ended, a boundary event won,
        or the scope ended); their user tasks leave the view at once."""
        if not self.stopped.done:
            self.stopped.set_result(None)
        prefix = f"{self.node.id}/"
        for key in [key for key in self.inst.tasks if key.startswith(prefix)]:
            del self.inst.tasks[key]
        self.inst.changed()
