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
boundary event further out, or failing the instance). An ``Incident`` (a FEEL error, a
missing handler, a handler out of retries) does not end anything: the token waits at the
element with an open incident (``ctx.raise_incident``, status ``incident``) until it is
resolved, then enters the element again (a handler runs again, its retries afresh). Before it
fails with a ``Thrown`` error, an error event subprocess of the level may catch it
(``_event_sub``); an interrupting event subprocess stops every token of its level but
keeps the level open (``ActiveScope.interrupt``). Escalations (``_escalation``) are
caught synchronously where they are thrown, and never fail anything.

Variable mappings follow Zeebe (``_evaluation``): an element's ``zeebe:input`` mappings make local
variables (seen by its handler, correlation key, timer and output mappings, never merged);
its ``zeebe:output`` mappings decide what reaches the instance, or, without any, everything
its handler or message produced does. Events apply them too: start events their outputs
(a message start event's outputs pick what of the message the instance keeps), end,
intermediate and link events their inputs and outputs. Outputs on every event are
Zeebe's documented behaviour. Inputs on end and catch events go further than Camunda's
modeler, which offers inputs only on activities and job-based events: here they are local
variables that the event's own outputs, correlation key and timer read. Start and
boundary events cannot have inputs (refused at load: nothing could read them).

Variables live in scopes (``Variables``): the instance's, a subprocess's (its inputs), a
multi-instance body's and each inner instance's (``_multi``). An element reads every scope
around it; what it produces is set where the name exists already, nearest first, else on
the instance, as Zeebe propagates variables.

All state (variables, token positions, what completed) is rebuilt by replay, and is
published with ``ctx.expose`` after every change for ``Runtime.query``. While the instance
runs one level with tokens that each wait at one element, that state is plain data: it is
captured for snapshots and an instance resumes from it (``_snapshots``).
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

from .._context import Future, WorkflowContext
from .._errors import WorkflowCancelled
from .._event import signal_type
from ._activities import run_activity
from ._call import BROADCAST, parent, report, report_escalation, settle, stop_children
from ._compensation import compensate
from ._escalation import escalate, watch_called
from ._event_sub import catch_error, watch_event_subprocesses
from ._feel import evaluate_condition
from ._incidents import Incident, Thrown, UncaughtBpmnError, Withdrawn
from ._model import (
    Activity,
    BpmnError,
    CallActivity,
    CompensateEventDefinition,
    EndEvent,
    ErrorEventDefinition,
    EscalationEventDefinition,
    EventBasedGateway,
    ExclusiveGateway,
    FlowNode,
    InclusiveGateway,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    LinkEventDefinition,
    MessageEventDefinition,
    Process,
    ReceiveTask,
    SignalEventDefinition,
    StartEvent,
    SubProcess,
    TerminateEventDefinition,
    TimerEventDefinition,
)
from ._running import Loaded, Running
from ._scope import ActiveScope, Graph, Variables, is_join
from ._snapshots import captured, restore_into
from ._work import as_thrown, event_data, result, start_job


class Instance(Running):
    """The state of one process instance and the walk of its tokens."""

    def __init__(self, ctx: WorkflowContext, loaded: Loaded, variables: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.loaded = loaded
        self.process = loaded.process
        self.registry = loaded.registry
        self.variables: dict[str, Any] = dict(variables)
        self.tasks: dict[str, dict[str, Any]] = {}
        self._scopes: list[ActiveScope] = []
        self._next_token = 0
        self._completed: dict[str, None] = {}
        self._flows: dict[str, None] = {}
        self.call_count = 0
        self.called: dict[str, dict[str, Any]] = {}
        """The instances its call activities started, by id (``_call``)."""
        self.loops: dict[str, dict[str, int]] = {}
        """The counts of each multi-instance activity's latest body, for the viewer."""
        self.escalations = 0
        self.stopping: list[Future[Any]] = []
        """What must be done before it ends: cancelling called instances, reporting
        escalations to its parent."""
        self.coroutines: dict[int, Coroutine[Any, Any, None]] = {}
        """The coroutine of each token, by token id."""
        self.held: dict[int, tuple[str, str, bool]] = {}
        """Tokens waiting for an incident's resolution: ``(element, message, entered)``."""
        self.entered_with: dict[int, tuple[str, dict[str, Any]]] = {}
        """The local variables (input mappings) of the element each token entered last."""
        self.resumed_with: dict[int, tuple[str, dict[str, Any]]] = {}
        """Those of a snapshot, for the tokens of an instance resumed from it."""
        ctx._keep_state(self)

    def capture(self, tasks: Sequence[Coroutine[Any, Any, Any]]) -> dict[str, Any] | None:
        """The instance's state as plain data for a snapshot (``_snapshots``)."""
        return captured(self, tasks)

    def entry_inputs(self, token: int, node: FlowNode, variables: Variables) -> dict[str, Any]:
        """The local variables of ``node`` as ``token`` enters it: its input mappings, or,
        for a token resumed from a snapshot where it waited, those it entered with then
        (the variables they read may have changed since)."""
        resumed = self.resumed_with.pop(token, None)
        if resumed is not None and resumed[0] == node.id:
            local = resumed[1]
        else:
            local = self.inputs(node, variables)
        self.entered_with[token] = (node.id, local)
        return local

    @property
    def open_scopes(self) -> list[ActiveScope]:
        return self._scopes

    def plain_fields(self) -> dict[str, Any]:
        """What the instance holds beside its scopes, as plain data."""
        return {
            "variables": self.variables,
            "tasks": self.tasks,
            "completed": list(self._completed),
            "flows": list(self._flows),
            "next_token": self._next_token,
            "call_count": self.call_count,
            "called": self.called,
            "loops": self.loops,
            "escalations": self.escalations,
        }

    def set_plain_fields(self, fields: dict[str, Any]) -> None:
        self.variables.clear()
        self.variables.update(fields["variables"])
        self.tasks = fields["tasks"]
        self._completed = dict.fromkeys(fields["completed"])
        self._flows = dict.fromkeys(fields["flows"])
        self._next_token = int(fields["next_token"])
        self.call_count = int(fields["call_count"])
        self.called, self.loops = fields["called"], fields["loops"]
        self.escalations = int(fields["escalations"])

    async def run(self, start_id: str) -> dict[str, Any]:
        root = self.open_scope(self.process.id, Variables(self.variables))
        self.spawn(root, start_id, via=None, entered=True)
        return await self._outcome(root)

    async def resume(self, state: dict[str, Any]) -> dict[str, Any]:
        """Go on from a snapshot's state: the tokens wait where they waited."""
        root = self.open_scope(self.process.id, Variables(self.variables))
        for token, node_id, held in restore_into(self, root, state):
            scope_token = self._token(root, token, node_id, None, held is None or held[2], held)
            self.coroutines[token] = scope_token
            self.ctx.gather(scope_token)
        self.changed()
        return await self._outcome(root)

    async def _outcome(self, root: ActiveScope) -> dict[str, Any]:
        try:
            await root.outcome
            await settle(self)
        except Thrown as thrown:
            await settle(self)
            error = {"code": thrown.code, "message": thrown.message}
            await report(self, {"status": "failed", "error": error})
            raise UncaughtBpmnError(thrown) from None
        except WorkflowCancelled as cancelled:
            await stop_children(self, cancelled.reason)
            await report(self, {"status": "cancelled"})
            raise
        await report(self, {"status": "completed", "variables": self.variables})
        return self.variables

    # --- scopes and tokens --------------------------------------------------------------

    def open_scope(
        self, owner_id: str, variables: Variables, parent: ActiveScope | None = None
    ) -> ActiveScope:
        graphs = self.loaded.graphs
        if owner_id not in graphs:
            owner = self.process if owner_id == self.process.id else self.element(owner_id)
            assert isinstance(owner, Process | SubProcess)
            graphs[owner_id] = Graph.of(owner)
        scope = ActiveScope(
            owner_id=owner_id, graph=graphs[owner_id], variables=variables, parent=parent
        )
        self._scopes.append(scope)
        watch_event_subprocesses(self, scope)
        return scope

    def close_scope(self, scope: ActiveScope, outcome: str | BaseException) -> None:
        """End ``scope``: its tokens stop at their waits; its waiter gets ``outcome``."""
        if scope.is_over:
            return
        if isinstance(outcome, BaseException):
            scope.fail(outcome)
        else:
            scope.finish(outcome)
            if outcome == "completed" and scope.parent is not None:
                # What completed inside can be compensated from the level around it.
                scope.parent.compensable.extend(scope.compensable)
        self._scopes.remove(scope)
        self.changed()

    def spawn(self, scope: ActiveScope, node_id: str, *, via: str | None, entered: bool) -> None:
        """Start a token at ``node_id``: entering it, or (``entered=False``) leaving it."""
        self._next_token += 1
        token = self._next_token
        scope.tokens[token] = node_id
        self.coroutines[token] = coro = self._token(scope, token, node_id, via, entered)
        self.ctx.gather(coro)

    def watch_escalations(
        self, scope: ActiveScope, node: CallActivity, child_id: str, outcome: Future[Any]
    ) -> None:
        """Catch the escalations the called instance passes on until the call ends."""
        self.ctx.gather(watch_called(self, scope, node, child_id, outcome))

    def escalate_to_parent(self, code: str) -> None:
        """An escalation nothing here caught: a called instance passes it to its parent."""
        report_escalation(self, code)

    def interrupt(self, scope: ActiveScope) -> None:
        """An interrupting event subprocess starts: every token of ``scope`` stops."""
        scope.interrupt()
        self.changed()

    async def _token(
        self,
        scope: ActiveScope,
        token: int,
        node_id: str,
        via: str | None,
        entered: bool,
        held: tuple[str, str, bool] | None = None,
    ) -> None:
        """A token's walk; ``held``: it resumes waiting at an incident (``resume``)."""
        try:
            while True:
                if held is not None:
                    await self._hold(scope, token, Incident(held[0], held[1]), entered)
                    held = None  # resolved: the element is tried again
                try:
                    step = await self._step(scope, token, node_id, via, entered)
                except (Thrown, Withdrawn, WorkflowCancelled):
                    raise
                except Incident as incident:
                    held = (incident.element_id, incident.reason, entered)
                    continue
                except Exception as error:  # a bug or a non-JSON variable: name the element
                    held = (node_id, f"{type(error).__name__}: {error}", entered)
                    continue
                if step is None:
                    break
                node_id, via = step
                entered = True
                self.move(scope, token, node_id)
        except Withdrawn:
            return
        except Thrown as error:
            self._failed(scope, token, error)
            return
        finally:
            self.coroutines.pop(token, None)
            self.entered_with.pop(token, None)
        if not scope.is_over and token in scope.tokens:
            del scope.tokens[token]
            self._settle(scope)
            self.changed()

    async def _step(
        self, scope: ActiveScope, token: int, node_id: str, via: str | None, entered: bool
    ) -> tuple[str, str] | None:
        """Enter ``node_id`` (unless the token is leaving it already), then leave it."""
        leave_from: str | None = node_id
        if entered:
            leave_from = await self._enter(scope, token, self.element(node_id), via)
        if leave_from is None:
            return None
        if token not in scope.tokens:  # an event subprocess interrupted the scope
            raise Withdrawn
        return self._leave(scope, leave_from)

    async def _hold(
        self, scope: ActiveScope, token: int, incident: Incident, entered: bool
    ) -> None:
        """Wait at the element until the incident is resolved (Zeebe's incidents), then set
        the variables given with the resolution, as Zeebe's set-variables command does."""
        if scope.is_over:
            raise Withdrawn
        self.held[token] = (incident.element_id, incident.reason, entered)
        try:
            variables = await self.wait(
                scope, self.ctx.raise_incident(incident.element_id, incident.reason)
            )
        finally:
            del self.held[token]
        for name, value in variables.items():
            scope.variables.holder(name)[name] = value
        self.changed()

    def _failed(self, scope: ActiveScope, token: int, error: Thrown) -> None:
        """A token failed: an error event subprocess of its scope catches a BPMN error,
        else the scope ends with it (a token stopped meanwhile changes nothing)."""
        if scope.is_over or token not in scope.tokens:
            return
        if catch_error(self, scope, error.code):
            return
        self.close_scope(scope, error)

    def move(self, scope: ActiveScope, token: int, node_id: str) -> None:
        if scope.is_over or token not in scope.tokens:
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
        variables = scope.variables
        if isinstance(node, Activity):
            return await run_activity(self, scope, token, node)
        if isinstance(node, StartEvent):
            self._start_event(node, variables)
            return node.id
        if isinstance(node, EndEvent):
            if isinstance(node.trigger, MessageEventDefinition):
                await self._job_event(scope, token, node)
            elif isinstance(node.trigger, SignalEventDefinition):
                await self._signal(scope, token, node, node.trigger)
            elif isinstance(node.trigger, CompensateEventDefinition):
                await compensate(self, scope, node, node.trigger)
            else:
                self.apply(node, self.inputs(node, variables), None, variables)
            self.done(node.id)
            code = getattr(node.trigger, "escalation_code", None)
            if code is not None and escalate(self, scope, code):
                raise Withdrawn
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
            local = self.entry_inputs(token, node, variables)
            if isinstance(
                node.trigger,
                MessageEventDefinition | TimerEventDefinition | SignalEventDefinition,
            ):
                value = await self.wait(scope, self.trigger(node, variables, local))
                self.apply(node, local, event_data(value), variables)
            else:
                self.apply(node, local, None, variables)
        elif isinstance(node, IntermediateThrowEvent):
            if isinstance(node.trigger, EscalationEventDefinition):
                self.apply(node, self.inputs(node, variables), None, variables)
                if escalate(self, scope, node.trigger.escalation_code or ""):
                    raise Withdrawn  # an interrupting catch ended where the token was
                return node.id
            if isinstance(node.trigger, SignalEventDefinition):
                await self._signal(scope, token, node, node.trigger)
                return node.id
            if isinstance(node.trigger, CompensateEventDefinition):
                await compensate(self, scope, node, node.trigger)
                return node.id
            if not isinstance(node.trigger, LinkEventDefinition):
                await self._job_event(scope, token, node)
                return node.id
            self.apply(node, self.inputs(node, variables), None, variables)
            catch = self.element(scope.graph.link_catches[node.trigger.name])
            self.done(node.id)
            self.move(scope, token, catch.id)
            self.apply(catch, self.inputs(catch, variables), None, variables)
            return catch.id
        return node.id

    async def _job_event(
        self, scope: ActiveScope, token: int, node: EndEvent | IntermediateThrowEvent
    ) -> None:
        """A message throw or end event: a job for a handler, as a service task's."""
        variables = scope.variables
        local = self.entry_inputs(token, node, variables)
        if scope.is_over:
            raise Withdrawn
        work = start_job(self, node, variables.view().new_child(local))
        try:
            value = await self.wait(scope, work)
        except (Withdrawn, WorkflowCancelled):
            raise
        except Exception as error:
            raise as_thrown(node, error) from None
        self.apply(node, local, result(node, value), variables)

    async def _signal(
        self,
        scope: ActiveScope,
        token: int,
        node: EndEvent | IntermediateThrowEvent,
        trigger: SignalEventDefinition,
    ) -> None:
        """Broadcast the signal (its variables: the event's input mappings, as in Zeebe),
        then apply the event's output mappings."""
        variables = scope.variables
        local = self.entry_inputs(token, node, variables)
        await self.wait(scope, self.ctx.run(BROADCAST, trigger.signal.name, local))
        self.apply(node, local, None, variables)

    def _start_event(self, node: StartEvent, variables: Variables) -> None:
        """Apply a start event's output mappings (Zeebe: "all none events can have them").

        A message start event's variables are the message's: with output mappings, only
        what they map reaches the instance, as for a message catch event.
        """
        if not node.outputs:
            return
        if isinstance(node.trigger, MessageEventDefinition) and node.parent_id is None:
            message = dict(self.variables)
            self.variables.clear()
            self.apply(node, {}, message, variables)
        else:
            self.apply(node, {}, None, variables)

    async def _event_gateway(self, scope: ActiveScope, token: int, node: EventBasedGateway) -> str:
        if scope.is_over:
            raise Withdrawn
        flows = [self.process.flow(flow_id) for flow_id in node.outgoing]
        variables = scope.variables
        operations = [self.trigger(self.element(flow.target), variables) for flow in flows]
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
        self.apply(target, self.inputs(target, variables), event_data(value), variables)
        return target.id

    def trigger(
        self, node: FlowNode, variables: Variables, local: Mapping[str, Any] | None = None
    ) -> Future[Any]:
        """Start waiting for what a catch event, receive task or boundary event waits for."""
        definition = getattr(node, "trigger", None)
        if isinstance(node, ReceiveTask):
            return self.message(node, node.message, local or {}, variables)
        if isinstance(definition, MessageEventDefinition):
            return self.message(node, definition.message, local or {}, variables)
        if isinstance(definition, TimerEventDefinition):
            return self.sleep_until(self.due(node, definition, variables, local))
        if isinstance(definition, SignalEventDefinition):
            return self.ctx.wait_event(signal_type(definition.signal.name))
        raise Incident(node.id, f"a {node.kind} is not something to wait for")

    def _leave(self, scope: ActiveScope, node_id: str) -> tuple[str, str] | None:
        """Complete ``node_id`` and take its outgoing flows: the first is returned."""
        node = self.element(node_id)
        self.done(node_id)
        going: list[tuple[str, str]] = []
        for flow_id in self._choose(node, scope.variables):
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

    def _choose(self, node: FlowNode, variables: Variables) -> list[str]:
        if not isinstance(node, ExclusiveGateway | InclusiveGateway):
            return list(node.outgoing)
        true = []
        for flow_id in node.outgoing:
            if flow_id != node.default and self._condition(node, flow_id, variables):
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

    def _condition(self, gateway: FlowNode, flow_id: str, variables: Variables) -> bool:
        condition = self.process.flow(flow_id).condition
        if condition is None:
            return True
        try:
            return evaluate_condition(condition, variables.view(), now=self.ctx.now())
        except BpmnError as error:
            raise Incident(gateway.id, f"condition of flow {flow_id!r}: {error}") from None

    # --- what Runtime.query shows -----------------------------------------------------------

    def done(self, element_id: str) -> None:
        self._completed[element_id] = None

    def changed(self) -> None:
        active: dict[str, None] = {}
        for scope in self._scopes:
            active.update(dict.fromkeys(scope.tokens.values()))
            active.update(dict.fromkeys(scope.arrivals))
        state: dict[str, Any] = {
            "process": self.process.id,
            "version": self.process.version,
            "active": list(active),
            "completed": list(self._completed),
            "flows": list(self._flows),
            "tasks": {key: dict(task) for key, task in self.tasks.items()},
            "variables": dict(self.variables),
        }
        if self.loops:
            state["multi_instance"] = {key: dict(loop) for key, loop in self.loops.items()}
        if self.called:
            state["called"] = {key: dict(call) for key, call in self.called.items()}
        if (calling := parent(self)) is not None:
            state["parent"] = {"instance_id": calling[0], "element_id": calling[1]}
        self.ctx.expose(state)
