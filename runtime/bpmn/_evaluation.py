"""What an element reads and writes: FEEL values, variable mappings, messages, timers.

The half of ``Instance`` that evaluates: mappings follow Zeebe (inputs make local
variables; outputs, or everything produced when there are none, are set where the name
exists already, else on the instance), a correlation key becomes an event subject, a
timer a due time on the instance's clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._context import Future, WorkflowContext
from .._event import Event
from ._feel import evaluate
from ._feel_values import to_string
from ._incidents import Incident
from ._model import BpmnError, FlowNode, Message, TimerEventDefinition
from ._scope import Variables
from ._timers import first_due, parse_cycle


class Evaluation:
    """Evaluation for an instance; ``changed`` publishes its view after every change."""

    ctx: WorkflowContext

    def changed(self) -> None:
        raise NotImplementedError

    def value(self, element_id: str, what: str, text: str, variables: Mapping[str, Any]) -> Any:
        """A FEEL text (``=...``) evaluated, or a static text as it is."""
        if not text.lstrip().startswith("="):
            return text
        return self.feel(element_id, what, text, variables)

    def feel(self, element_id: str, what: str, text: str, variables: Mapping[str, Any]) -> Any:
        """A FEEL expression (with or without ``=``) evaluated as JSON data."""
        try:
            return plain(evaluate(text, variables, now=self.ctx.now()))
        except BpmnError as error:
            raise Incident(element_id, f"{what}: {error}") from None

    def inputs(self, node: FlowNode, variables: Variables) -> dict[str, Any]:
        """The element's local variables, from its ``zeebe:input`` mappings."""
        local: dict[str, Any] = {}
        for mapping in node.inputs:
            context = variables.view().new_child(local)
            value = self.value(node.id, f"input {mapping.target!r}", mapping.source, context)
            set_path(local, mapping.target, value)
        return local

    def apply(
        self,
        node: FlowNode,
        local: Mapping[str, Any],
        result: Mapping[str, Any] | None,
        variables: Variables,
    ) -> None:
        """Merge what an element produced: through its outputs, or all of it.

        Each variable goes where it is set already, nearest scope first, else to the
        instance (Zeebe's propagation); ``local`` is only read by the outputs.
        """
        if node.outputs:
            context = variables.view().new_child(dict(local)).new_child(dict(result or {}))
            values = [
                (m.target, self.value(node.id, f"output {m.target!r}", m.source, context))
                for m in node.outputs
            ]
            for target, value in values:
                set_path(variables.holder(target.partition(".")[0]), target, value)
        elif result:
            self.merge(variables, result)
        self.changed()

    def merge(self, variables: Variables, values: Mapping[str, Any]) -> None:
        """Set each of ``values`` where it is set already, else on the instance."""
        for name, value in values.items():
            variables.holder(name)[name] = value
        self.changed()

    def message(
        self, node: FlowNode, message: Message, local: Mapping[str, Any], variables: Variables
    ) -> Future[Event]:
        subject = None
        key = message.correlation_key
        if key:
            context = variables.view().new_child(dict(local))
            value = self.value(node.id, "correlation key", key, context)
            if value is None:
                raise Incident(
                    node.id, f"the correlation key {key!r} of message {message.name!r} gave null"
                )
            subject = value if isinstance(value, str) else json.dumps(value)
        return self.ctx.wait_event(message.name, subject=subject, message=True)

    def now(self) -> float:
        return self.ctx.now().timestamp()

    def due(
        self,
        node: FlowNode,
        definition: TimerEventDefinition,
        variables: Variables,
        local: Mapping[str, Any] | None = None,
    ) -> float:
        context = variables.view().new_child(dict(local or {}))
        try:
            return first_due(definition, now=self.now(), variables=context)
        except BpmnError as error:
            raise Incident(node.id, str(error)) from None

    def next_due(
        self,
        node: FlowNode,
        definition: TimerEventDefinition,
        variables: Variables,
        due: float,
        fired: int,
    ) -> float | None:
        """When a timer that has fired ``fired`` times, the last at ``due``, fires next:
        None for a one-off timer or a cycle that is done."""
        if definition.kind != "cycle":
            return None
        try:
            cycle = parse_cycle(definition.expression, variables.view(), now=self.ctx.now())
            return cycle.next_due(due, fired)
        except BpmnError as error:
            raise Incident(node.id, str(error)) from None

    def sleep_until(self, due: float) -> Future[None]:
        return self.ctx.sleep(max(0.0, due - self.now()))


def plain(value: Any) -> Any:
    """A FEEL result as JSON data: dates and durations become their ISO 8601 text."""
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return to_string(value)


def set_path(target: dict[str, Any], path: str, value: Any) -> None:
    """``a.b.c = value``: nested objects are copied, never changed in place."""
    head, _, rest = path.partition(".")
    if not rest:
        target[head] = value
        return
    inner = target.get(head)
    inner = dict(inner) if isinstance(inner, dict) else {}
    set_path(inner, rest, value)
    target[head] = inner
