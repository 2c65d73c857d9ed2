"""The token interpreter: one BPMN process instance, run as a code workflow.

Theory of operation
-------------------
A process instance is an ordinary workflow (``Instance.run``) driven by the sans-IO
core, so journaling, replay, timers, events and cancellation are the core's. Each token
is a coroutine in the core's deterministic scheduler, started with ``ctx.gather``. A
token loops: *enter* an element (do its work: run a handler, wait for an event or a
timer, wait at a join), then *leave* it (pick outgoing flows: the first continues in the
same coroutine, every other one starts a new token). A token ends at an end event, at a
join (the join starts a fresh token when it fires) or at an element without outgoing
flows.

The tokens of one process or subprocess level live in a ``ActiveScope``. Every wait of a token
races the scope's ``ended`` future, so ending a scope (terminate end event, error, an
interrupting boundary event on its subprocess) stops each of its tokens at its current
wait, and the token withdraws what it waited for with ``ctx.cancel``. A level ends on its
own when no token is left; it fails with a ``Thrown`` BPMN error (caught by an error
boundary event further out, or failing the instance) or an ``Incident`` (a FEEL error,
a missing handler, a failed handler: the instance fails, naming the element).

Variable mappings follow Zeebe: an element's ``zeebe:input`` mappings make local
variables (seen by its handler, correlation key, timer and output mappings, never merged);
its ``zeebe:output`` mappings decide what reaches the instance, or, without any, everything
its handler or message produced does. Events apply them too: start events their outputs
(a message start event's outputs pick what of the message the instance keeps), end,
intermediate and link events their inputs and outputs. Outputs on every event are
Zeebe's documented behaviour. Inputs on end and catch events go further than Camunda's
modeler, which offers inputs only on activities and job-based events: here they are local
variables that the event's own outputs, correlation key and timer read. Start and
boundary events cannot have inputs (refused at load: nothing could read them).

All state (variables, token positions, what completed) is rebuilt by replay, and is
published with ``ctx.expose`` after every change for ``Runtime.query``.
"""

from __future__ import annotations

import json
from collections import ChainMap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._context import Future, WorkflowContext
from .._errors import WorkflowCancelled
from .._event import Event
from ._activities import event_data, run_activity
from ._feel import evaluate, evaluate_condition
from ._feel_values import to_string
from ._incidents import Incident, Thrown, UncaughtBpmnError, Withdrawn
from ._model import (
    Activity,
    BpmnError,
    EndEvent,
    ErrorEventDefinition,
    EventBasedGateway,
    ExclusiveGateway,
    FlowNode,
    InclusiveGateway,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    Message,
    MessageEventDefinition,
    Process,
    ReceiveTask,
    StartEvent,
    SubProcess,
    TerminateEventDefinition,
    TimerEventDefinition,
)
from ._scope import ActiveScope, Graph, is_join
from ._timers import first_due

if TYPE_CHECKING:
    from ._load import LoadedProcess


class Instance:
    """The state of one process instance and the walk of its tokens."""

    def __init__(
        self, ctx: WorkflowContext, loaded: LoadedProcess, variables: Mapping[str, Any]
    ) -> None:
        self.ctx = ctx
        self.loaded = loaded
        self.process = loaded.process
        self.variables: dict[str, Any] = dict(variables)
        self.tasks: dict[str, dict[str, Any]] = {}
        self._scopes: list[ActiveScope] = []
        self._next_token = 0
        self._completed: dict[str, None] = {}
        self._flows: dict[str, None] = {}

    async def run(self, start_id: str) -> dict[str, Any]:
        root = self.open_scope(self.process.id)
        self.spawn(root, start_id, via=None, entered=True)
        try:
            await root.outcome
        except Thrown as thrown:
            raise UncaughtBpmnError(thrown) from None
        return self.variables

    # --- scopes and tokens --------------------------------------------------------------

    def open_scope(self, owner_id: str) -> ActiveScope:
        graphs = self.loaded.graphs
        if owner_id not in graphs:
            owner = self.process if owner_id == self.process.id else self.element(owner_id)
            assert isinstance(owner, Process | SubProcess)
            graphs[owner_id] = Graph.of(owner)
        scope = ActiveScope(owner_id=owner_id, graph=graphs[owner_id])
        self._scopes.append(scope)
        return scope

    def close_scope(self, scope: ActiveScope, outcome: str | BaseException) -> None:
        """End ``scope``: its tokens stop at their waits; its waiter gets ``outcome``."""
        if scope.is_over:
            return
        if isinstance(outcome, BaseException):
            scope.fail(outcome)
        else:
            scope.finish(outcome)
        self._scopes.remove(scope)
        self.changed()

    def spawn(self, scope: ActiveScope, node_id: str, *, via: str | None, entered: bool) -> None:
        """Start a token at ``node_id``: entering it, or (``entered=False``) leaving it."""
        self._next_token += 1
        token = self._next_token
        scope.tokens[token] = node_id
        self.ctx.gather(self._token(scope, token, node_id, via, entered))

    async def _token(
        self, scope: ActiveScope, token: int, node_id: str, via: str | None, entered: bool
    ) -> None:
        try:
            while True:
                leave_from: str | None = node_id
                if entered:
                    leave_from = await self._enter(scope, token, self.element(node_id), via)
                if leave_from is None:
                    break
                step = self._leave(scope, leave_from)
                if step is None:
                    break
                node_id, via = step
                entered = True
                self.move(scope, token, node_id)
        except Withdrawn:
            return
        except WorkflowCancelled:
            raise
        except (Thrown, Incident) as error:
            self.close_scope(scope, error)
            return
        except Exception as error:  # a bug or a non-JSON variable: still name the element
            self.close_scope(scope, Incident(node_id, f"{type(error).__name__}: {error}"))
            return
        if not scope.is_over:
            del scope.tokens[token]
            self._settle(scope)
            self.changed()

    def move(self, scope: ActiveScope, token: int, node_id: str) -> None:
        if scope.is_over:
            raise Withdrawn
        scope.tokens[token] = node_id
        self._settle(scope)
        self.changed()

    def _settle(self, scope: ActiveScope) -> None:
        """Fire the joins that may fire; end the scope when no token is left."""
        if scope.is_over or (scope.tokens and not scope.arrivals):
            return
        while (gateway_id := scope.ready_join()) is not None:
            self.spawn(scope, gateway_id, via=None, entered=False)
        if not scope.tokens:
            stuck = scope.stuck()
            outcome = "completed" if stuck is None else Incident(scope.owner_id, stuck)
            self.close_scope(scope, outcome)

    async def wait(self, scope: ActiveScope, operation: Future[Any]) -> Any:
        """Await ``operation`` unless the scope ends first (then withdraw it)."""
        index, value = await self.ctx.first(operation, scope.ended)
        if index == 1:
            self.ctx.cancel(operation)
            raise Withdrawn
        return value

    # --- elements -----------------------------------------------------------------------

    def element(self, element_id: str) -> FlowNode:
        return self.process.element(element_id)

    async def _enter(
        self, scope: ActiveScope, token: int, node: FlowNode, via: str | None
    ) -> str | None:
        """Do what ``node`` does; return the element to leave from, or None to end the token."""
        if isinstance(node, Activity):
            return await run_activity(self, scope, token, node)
        if isinstance(node, StartEvent):
            self._start_event(node)
            return node.id
        if isinstance(node, EndEvent):
            self.apply(node, self.inputs(node), None)
            self.done(node.id)
            if isinstance(node.trigger, TerminateEventDefinition):
                self.close_scope(scope, "terminated")
            elif isinstance(node.trigger, ErrorEventDefinition):
                code = node.trigger.error_code or ""
                raise Thrown(code, "", node.id)
            return None
        if is_join(node):
            scope.arrive(node.id, via)
            return None
        if isinstance(node, EventBasedGateway):
            return await self._event_gateway(scope, token, node)
        if isinstance(node, IntermediateCatchEvent):
            local = self.inputs(node)
            if isinstance(node.trigger, MessageEventDefinition | TimerEventDefinition):
                value = await self.wait(scope, self.trigger(node, local))
                self.apply(node, local, event_data(value))
            else:
                self.apply(node, local, None)
        elif isinstance(node, IntermediateThrowEvent):
            self.apply(node, self.inputs(node), None)
            catch = self.element(scope.graph.link_catches[node.trigger.name])
            self.done(node.id)
            self.move(scope, token, catch.id)
            self.apply(catch, self.inputs(catch), None)
            return catch.id
        return node.id

    def _start_event(self, node: StartEvent) -> None:
        """Apply a start event's output mappings (Zeebe: "all none events can have them").

        A message start event's variables are the message's: with output mappings, only
        what they map reaches the instance, as for a message catch event.
        """
        if not node.outputs:
            return
        if isinstance(node.trigger, MessageEventDefinition) and node.parent_id is None:
            message = dict(self.variables)
            self.variables.clear()
            self.apply(node, {}, message)
        else:
            self.apply(node, {}, None)

    async def _event_gateway(self, scope: ActiveScope, token: int, node: EventBasedGateway) -> str:
        if scope.is_over:
            raise Withdrawn
        flows = [self.process.flow(flow_id) for flow_id in node.outgoing]
        operations = [self.trigger(self.element(flow.target)) for flow in flows]
        index, value = await self.ctx.first(*operations, scope.ended)
        for other, operation in enumerate(operations):
            if other != index:
                self.ctx.cancel(operation)
        if index == len(operations):
            raise Withdrawn
        self.done(node.id)
        self._flows[flows[index].id] = None
        target = self.element(flows[index].target)
        self.move(scope, token, target.id)
        # Waited for on the gateway's behalf: its input mappings apply once it happened.
        self.apply(target, self.inputs(target), event_data(value))
        return target.id

    def trigger(self, node: FlowNode, local: Mapping[str, Any] | None = None) -> Future[Any]:
        """Start waiting for what a catch event, receive task or boundary event waits for."""
        definition = getattr(node, "trigger", None)
        if isinstance(node, ReceiveTask):
            return self.message(node, node.message, local or {})
        if isinstance(definition, MessageEventDefinition):
            return self.message(node, definition.message, local or {})
        if isinstance(definition, TimerEventDefinition):
            return self.sleep_until(self.due(node, definition, local))
        raise Incident(node.id, f"a {node.kind} is not something to wait for")

    def _leave(self, scope: ActiveScope, node_id: str) -> tuple[str, str] | None:
        """Complete ``node_id`` and take its outgoing flows: the first is returned."""
        node = self.element(node_id)
        self.done(node_id)
        going: list[tuple[str, str]] = []
        for flow_id in self._choose(node):
            self._flows[flow_id] = None
            target = self.process.flow(flow_id).target
            if is_join(self.element(target)):
                # Waits there at once: a token on its way to a join must never look
                # like a token that has passed it when the join decides whether to fire.
                scope.arrive(target, flow_id)
            else:
                going.append((target, flow_id))
        for target, flow_id in going[1:]:
            self.spawn(scope, target, via=flow_id, entered=True)
        return going[0] if going else None

    def _choose(self, node: FlowNode) -> list[str]:
        if not isinstance(node, ExclusiveGateway | InclusiveGateway):
            return list(node.outgoing)
        true = []
        for flow_id in node.outgoing:
            if flow_id != node.default and self._condition(node, flow_id):
                true.append(flow_id)
                if isinstance(node, ExclusiveGateway):
                    break
        if true:
            return true
        if node.default is not None:
            return [node.default]
        if not node.outgoing:
            return []
        raise Incident(
            node.id, "no condition of an outgoing flow is true and the gateway has no default flow"
        )

    def _condition(self, gateway: FlowNode, flow_id: str) -> bool:
        condition = self.process.flow(flow_id).condition
        if condition is None:
            return True
        try:
            return evaluate_condition(condition, self.variables, now=self.ctx.now())
        except BpmnError as error:
            raise Incident(gateway.id, f"condition of flow {flow_id!r}: {error}") from None

    # --- variables, messages, timers -------------------------------------------------------

    def value(self, element_id: str, what: str, text: str, variables: Mapping[str, Any]) -> Any:
        """A FEEL text (``=...``) evaluated, or a static text as it is."""
        if not text.lstrip().startswith("="):
            return text
        try:
            return plain(evaluate(text, variables, now=self.ctx.now()))
        except BpmnError as error:
            raise Incident(element_id, f"{what}: {error}") from None

    def inputs(self, node: FlowNode) -> dict[str, Any]:
        """The element's local variables, from its ``zeebe:input`` mappings."""
        local: dict[str, Any] = {}
        for mapping in node.inputs:
            context = ChainMap(local, self.variables)
            value = self.value(node.id, f"input {mapping.target!r}", mapping.source, context)
            set_path(local, mapping.target, value)
        return local

    def apply(
        self, node: FlowNode, local: Mapping[str, Any], result: Mapping[str, Any] | None
    ) -> None:
        """Merge what an element produced: through its outputs, or all of it."""
        if node.outputs:
            context = ChainMap(dict(result or {}), dict(local), self.variables)
            values = [
                (m.target, self.value(node.id, f"output {m.target!r}", m.source, context))
                for m in node.outputs
            ]
            for target, value in values:
                set_path(self.variables, target, value)
        elif result:
            self.variables.update(result)
        self.changed()

    def message(self, node: FlowNode, message: Message, local: Mapping[str, Any]) -> Future[Event]:
        subject = None
        key = message.correlation_key
        if key:
            context = ChainMap(dict(local), self.variables)
            value = self.value(node.id, "correlation key", key, context)
            if value is None:
                raise Incident(
                    node.id, f"the correlation key {key!r} of message {message.name!r} gave null"
                )
            subject = value if isinstance(value, str) else json.dumps(value)
        return self.ctx.wait_event(message.name, subject=subject)

    def now(self) -> float:
        return self.ctx.now().timestamp()

    def due(
        self,
        node: FlowNode,
        definition: TimerEventDefinition,
        local: Mapping[str, Any] | None = None,
    ) -> float:
        variables = ChainMap(dict(local or {}), self.variables)
        try:
            return first_due(definition, now=self.now(), variables=variables)
        except BpmnError as error:
            raise Incident(node.id, str(error)) from None

    def sleep_until(self, due: float) -> Future[None]:
        return self.ctx.sleep(max(0.0, due - self.now()))

    # --- what Runtime.query shows -----------------------------------------------------------

    def done(self, element_id: str) -> None:
        self._completed[element_id] = None

    def changed(self) -> None:
        active: dict[str, None] = {}
        for scope in self._scopes:
            active.update(dict.fromkeys(scope.tokens.values()))
            active.update(dict.fromkeys(scope.arrivals))
        self.ctx.expose(
            {
                "process": self.process.id,
                "version": self.process.version,
                "active": list(active),
                "completed": list(self._completed),
                "flows": list(self._flows),
                "tasks": {key: dict(task) for key, task in self.tasks.items()},
                "variables": dict(self.variables),
            }
        )


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
