"""The parsed form of a BPMN file: frozen values a token interpreter can walk.

Every flow node knows its incoming and outgoing sequence-flow ids and the scope it lives
in (``parent_id``: the id of its embedded subprocess, or None at process level), and every
activity knows the boundary events attached to it. References are resolved when the file
is parsed: an event's ``MessageEventDefinition`` holds the ``Message`` itself, not its id.
Expressions (conditions, mappings, correlation keys, timers) are kept as written; they
were checked for syntax at load time and are compiled with ``compile_expression``.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal, TypeAlias, TypeVar

import attrs

from .._errors import TrioflowError

T = TypeVar("T")


class BpmnError(TrioflowError, ValueError):
    """A BPMN file, expression or timer was rejected; ``problems`` lists every reason found."""

    http_status = 400

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            lines = "\n".join(f"- {problem}" for problem in self.problems)
            message = f"{len(self.problems)} problems:\n{lines}"
        super().__init__(message)


class UnsafeXmlError(BpmnError):
    """The XML declares entities or refers to external ones: refused before any expansion.

    BpmnError: the diagram is wrong. UnsafeXmlError: the file looks like an attack.
    """


def _frozen_map(value: Mapping[str, T]) -> Mapping[str, T]:
    return types.MappingProxyType(dict(value))


def _map_field() -> Mapping[str, T]:
    return attrs.field(factory=dict, converter=_frozen_map, hash=False)


# --- declarations -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Message:
    """A ``<message>``: events of type ``name`` correlated by ``correlation_key`` (FEEL)."""

    id: str
    name: str
    correlation_key: str | None = None


@attrs.frozen(kw_only=True)
class ErrorDeclaration:
    """An ``<error>`` declaration (not an exception): what error end events throw."""

    id: str
    name: str | None = None
    error_code: str | None = None


@attrs.frozen(kw_only=True)
class EscalationDeclaration:
    """An ``<escalation>``: what escalation throw and end events raise."""

    id: str
    name: str | None = None
    escalation_code: str | None = None


@attrs.frozen(kw_only=True)
class Signal:
    """A ``<signal>``: broadcast to every instance waiting for ``name`` when thrown."""

    id: str
    name: str


@attrs.frozen(kw_only=True)
class VariableMapping:
    """One ``zeebe:input`` or ``zeebe:output``: evaluate ``source`` (FEEL), store as ``target``."""

    source: str
    target: str


# --- event definitions ------------------------------------------------------------

TimerKind = Literal["duration", "date", "cycle"]


@attrs.frozen(kw_only=True)
class MessageEventDefinition:
    message: Message


@attrs.frozen(kw_only=True)
class TimerEventDefinition:
    """``timeDuration``, ``timeDate`` or ``timeCycle`` text: ISO 8601, or FEEL after ``=``."""

    kind: TimerKind
    expression: str


@attrs.frozen(kw_only=True)
class ErrorEventDefinition:
    """On an end event: the error thrown. On a boundary event: the error caught (None: any)."""

    error: ErrorDeclaration | None = None

    @property
    def error_code(self) -> str | None:
        return None if self.error is None else self.error.error_code


@attrs.frozen(kw_only=True)
class EscalationEventDefinition:
    """Thrown: the escalation raised. Caught: the one caught (None: any)."""

    escalation: EscalationDeclaration | None = None

    @property
    def escalation_code(self) -> str | None:
        return None if self.escalation is None else self.escalation.escalation_code


@attrs.frozen(kw_only=True)
class LinkEventDefinition:
    name: str


@attrs.frozen(kw_only=True)
class TerminateEventDefinition:
    pass


@attrs.frozen(kw_only=True)
class CompensateEventDefinition:
    """Thrown: run the compensation handlers of the scope's completed activities (only
    ``activity_ref``'s when set). On a boundary event: the activity has a handler."""

    activity_ref: str | None = None


@attrs.frozen(kw_only=True)
class SignalEventDefinition:
    """Thrown: the signal broadcast. Caught: the signal waited for."""

    signal: Signal


EventDefinition: TypeAlias = (
    MessageEventDefinition
    | TimerEventDefinition
    | ErrorEventDefinition
    | EscalationEventDefinition
    | LinkEventDefinition
    | TerminateEventDefinition
    | SignalEventDefinition
    | CompensateEventDefinition
)


# --- flow nodes -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FlowNode:
    """What every element of a process has; ``kind`` is its BPMN tag name."""

    kind: ClassVar[str] = "flowNode"
    id: str
    name: str | None = None
    parent_id: str | None = None
    incoming: tuple[str, ...] = ()
    outgoing: tuple[str, ...] = ()
    inputs: tuple[VariableMapping, ...] = ()
    outputs: tuple[VariableMapping, ...] = ()


@attrs.frozen(kw_only=True)
class StartEvent(FlowNode):
    """A none, message, timer or signal start event; in an event subprocess also an error or
    escalation one.

    ``interrupting`` only matters in an event subprocess (``isInterrupting``).
    """

    kind: ClassVar[str] = "startEvent"
    trigger: (
        MessageEventDefinition
        | TimerEventDefinition
        | ErrorEventDefinition
        | EscalationEventDefinition
        | SignalEventDefinition
        | None
    ) = None
    interrupting: bool = True


@attrs.frozen(kw_only=True)
class EndEvent(FlowNode):
    """A message end event is a job, like a service task (``task_type`` and the rest)."""

    kind: ClassVar[str] = "endEvent"
    trigger: (
        TerminateEventDefinition
        | ErrorEventDefinition
        | MessageEventDefinition
        | EscalationEventDefinition
        | SignalEventDefinition
        | CompensateEventDefinition
        | None
    ) = None
    task_type: str | None = None
    retries: int = 3
    retries_expression: str | None = None
    headers: Mapping[str, str] = _map_field()


@attrs.frozen(kw_only=True)
class IntermediateCatchEvent(FlowNode):
    """Waits for a message, a timer or a signal; a link catch event is where a link throw
    continues."""

    kind: ClassVar[str] = "intermediateCatchEvent"
    trigger: (
        MessageEventDefinition | TimerEventDefinition | LinkEventDefinition | SignalEventDefinition
    )


@attrs.frozen(kw_only=True)
class IntermediateThrowEvent(FlowNode):
    """A link throw: the token jumps to the link catch event of the same name and scope.

    A message throw event is a job, like a service task (``task_type`` and the rest).
    """

    kind: ClassVar[str] = "intermediateThrowEvent"
    trigger: (
        LinkEventDefinition
        | MessageEventDefinition
        | EscalationEventDefinition
        | SignalEventDefinition
        | CompensateEventDefinition
    )
    task_type: str | None = None
    retries: int = 3
    retries_expression: str | None = None
    headers: Mapping[str, str] = _map_field()


@attrs.frozen(kw_only=True)
class BoundaryEvent(FlowNode):
    kind: ClassVar[str] = "boundaryEvent"
    attached_to: str
    cancel_activity: bool = True
    trigger: (
        TimerEventDefinition
        | MessageEventDefinition
        | ErrorEventDefinition
        | EscalationEventDefinition
        | SignalEventDefinition
        | CompensateEventDefinition
    )
    compensation_handler: str | None = None
    """A compensation boundary event's handler: the activity associated with it."""


@attrs.frozen(kw_only=True)
class MultiInstance:
    """``multiInstanceLoopCharacteristics`` with ``zeebe:loopCharacteristics``.

    One inner instance per item of ``input_collection`` (FEEL), each with the item as
    ``input_element`` and ``loopCounter`` (from 1) as local variables; ``output_element``
    (FEEL) of each is collected, in item order, into ``output_collection``.
    """

    sequential: bool = False
    input_collection: str
    input_element: str | None = None
    output_collection: str | None = None
    output_element: str | None = None
    completion_condition: str | None = None


@attrs.frozen(kw_only=True)
class Activity(FlowNode):
    """A task or subprocess; ``boundary_events`` are the ids of the events attached to it."""

    kind: ClassVar[str] = "activity"
    boundary_events: tuple[str, ...] = ()
    loop: MultiInstance | None = None
    """Multi-instance: the activity runs once per item of a collection."""
    for_compensation: bool = False
    """A compensation handler (``isForCompensation``): run only by a compensation throw."""


@attrs.frozen(kw_only=True)
class Task(Activity):
    """A plain ``<task>``: does nothing but pass the token on (and apply its mappings)."""

    kind: ClassVar[str] = "task"


@attrs.frozen(kw_only=True)
class ManualTask(Task):
    """Work done outside any system: passes the token on, as in Zeebe."""

    kind: ClassVar[str] = "manualTask"


@attrs.frozen(kw_only=True)
class ServiceTask(Activity):
    """Runs the handler registered for ``task_type`` (or, without one, for the element id)."""

    kind: ClassVar[str] = "serviceTask"
    task_type: str | None = None
    """The job type as written: a name, or FEEL after ``=`` evaluated per instance."""
    retries: int = 3
    retries_expression: str | None = None
    """``retries="=..."``: FEEL evaluated per instance, in place of ``retries``."""
    headers: Mapping[str, str] = _map_field()


@attrs.frozen(kw_only=True)
class SendTask(Activity):
    kind: ClassVar[str] = "sendTask"
    task_type: str | None = None
    retries: int = 3
    retries_expression: str | None = None
    headers: Mapping[str, str] = _map_field()
    message: Message | None = None


@attrs.frozen(kw_only=True)
class ScriptTask(Activity):
    """``zeebe:script``: ``expression`` (FEEL) is evaluated and set as ``result_variable``.

    With a ``zeebe:taskDefinition`` instead, it is a job for a handler, as a service task.
    """

    kind: ClassVar[str] = "scriptTask"
    expression: str | None = None
    result_variable: str | None = None
    task_type: str | None = None
    retries: int = 3
    retries_expression: str | None = None
    headers: Mapping[str, str] = _map_field()


@attrs.frozen(kw_only=True)
class BusinessRuleTask(Activity):
    """A job for a handler (``zeebe:taskDefinition``); DMN decisions are not run here."""

    kind: ClassVar[str] = "businessRuleTask"
    task_type: str | None = None
    retries: int = 3
    retries_expression: str | None = None
    headers: Mapping[str, str] = _map_field()


@attrs.frozen(kw_only=True)
class UserTask(Activity):
    """Waits for a ``task.completed`` event; assignee and groups are metadata, as written."""

    kind: ClassVar[str] = "userTask"
    assignee: str | None = None
    candidate_groups: str | None = None
    headers: Mapping[str, str] = _map_field()

    @property
    def candidate_group_names(self) -> tuple[str, ...]:
        """The static comma-separated groups; () when unset or a FEEL expression."""
        text = self.candidate_groups
        if not text or text.startswith("="):
            return ()
        return tuple(group.strip() for group in text.split(",") if group.strip())


@attrs.frozen(kw_only=True)
class ReceiveTask(Activity):
    kind: ClassVar[str] = "receiveTask"
    message: Message


@attrs.frozen(kw_only=True)
class SubProcess(Activity):
    """An embedded subprocess: a scope of its own with exactly one start event.

    With ``triggered_by_event`` it is an event subprocess: no sequence flow leads to it;
    its one message, timer or error start event starts it inside the scope it is in.
    """

    kind: ClassVar[str] = "subProcess"
    triggered_by_event: bool = False
    elements: Mapping[str, FlowNode] = _map_field()
    flows: Mapping[str, SequenceFlow] = _map_field()
    start_events: tuple[str, ...] = ()
    link_catches: Mapping[str, str] = _map_field()


@attrs.frozen(kw_only=True)
class CallActivity(Activity):
    """Starts an instance of another process (``zeebe:calledElement``) and waits for it.

    ``process_id`` is the called process's id, or FEEL after ``=`` evaluated per call.
    The child gets every variable the call activity sees (``propagate_parent``, else
    only its input mappings); when it completes, all of its variables come back
    (``propagate_child``), through the output mappings when there are some.
    """

    kind: ClassVar[str] = "callActivity"
    process_id: str
    propagate_child: bool = True
    propagate_parent: bool = True


@attrs.frozen(kw_only=True)
class Gateway(FlowNode):
    kind: ClassVar[str] = "gateway"


@attrs.frozen(kw_only=True)
class ExclusiveGateway(Gateway):
    kind: ClassVar[str] = "exclusiveGateway"
    default: str | None = None


@attrs.frozen(kw_only=True)
class InclusiveGateway(Gateway):
    kind: ClassVar[str] = "inclusiveGateway"
    default: str | None = None


@attrs.frozen(kw_only=True)
class ParallelGateway(Gateway):
    kind: ClassVar[str] = "parallelGateway"


@attrs.frozen(kw_only=True)
class EventBasedGateway(Gateway):
    """Every outgoing flow leads to a message or timer catch event or a receive task."""

    kind: ClassVar[str] = "eventBasedGateway"


@attrs.frozen(kw_only=True)
class SequenceFlow:
    """``condition`` is the FEEL text as written (usually ``=...``), None when unconditional."""

    id: str
    source: str
    target: str
    name: str | None = None
    condition: str | None = None
    parent_id: str | None = None


# --- processes --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Process:
    """One ``<process>``. ``elements``/``flows`` are its top level; ``all_*`` include subprocesses.

    ``link_catches`` maps a link name to its catch event id at this level; ``version`` is the
    SHA-256 of the source file, the same for every process of one file.
    """

    id: str
    name: str | None = None
    is_executable: bool = False
    version: str
    elements: Mapping[str, FlowNode] = _map_field()
    flows: Mapping[str, SequenceFlow] = _map_field()
    start_events: tuple[str, ...] = ()
    link_catches: Mapping[str, str] = _map_field()
    all_elements: Mapping[str, FlowNode] = _map_field()
    all_flows: Mapping[str, SequenceFlow] = _map_field()

    @property
    def none_start_event(self) -> str | None:
        """The id of the start event a plain ``start`` uses (a file has at most one)."""
        for start_id in self.start_events:
            start = self.elements[start_id]
            if isinstance(start, StartEvent) and start.trigger is None:
                return start_id
        return None

    def element(self, element_id: str) -> FlowNode:
        """The element with that id at any depth (KeyError when there is none)."""
        return self.all_elements[element_id]

    def flow(self, flow_id: str) -> SequenceFlow:
        return self.all_flows[flow_id]

    def scope_of(self, element_id: str) -> Process | SubProcess:
        """The process or subprocess whose ``elements`` hold that element or flow."""
        item = self.all_elements.get(element_id) or self.all_flows[element_id]
        if item.parent_id is None:
            return self
        scope = self.all_elements[item.parent_id]
        assert isinstance(scope, SubProcess)
        return scope

    def event_subprocesses_of(self, scope_id: str) -> tuple[SubProcess, ...]:
        """The event subprocesses directly inside the process or subprocess ``scope_id``."""
        scope = self if scope_id == self.id else self.all_elements[scope_id]
        assert isinstance(scope, Process | SubProcess)
        return tuple(
            element
            for element in scope.elements.values()
            if isinstance(element, SubProcess) and element.triggered_by_event
        )

    def boundary_events_of(self, activity_id: str) -> tuple[BoundaryEvent, ...]:
        activity = self.all_elements[activity_id]
        if not isinstance(activity, Activity):
            return ()
        events = (self.all_elements[event_id] for event_id in activity.boundary_events)
        return tuple(event for event in events if isinstance(event, BoundaryEvent))


Scope: TypeAlias = Process | SubProcess


@attrs.frozen(kw_only=True)
class Participant:
    """A pool of a collaboration, showing ``process_id``."""

    id: str
    name: str | None = None
    process_id: str | None = None


# --- layout (BPMNDI) --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Bounds:
    x: float
    y: float
    width: float
    height: float


@attrs.frozen(kw_only=True)
class Point:
    x: float
    y: float


@attrs.frozen(kw_only=True)
class Shape:
    element_id: str
    bounds: Bounds
    label: Bounds | None = None
    is_expanded: bool = True


@attrs.frozen(kw_only=True)
class Edge:
    element_id: str
    waypoints: tuple[Point, ...]
    label: Bounds | None = None


@attrs.frozen(kw_only=True)
class Diagram:
    """One ``BPMNDiagram``: shapes by element id, edges by flow id, of the plane's element."""

    id: str
    name: str | None = None
    plane_element: str | None = None
    shapes: Mapping[str, Shape] = _map_field()
    edges: Mapping[str, Edge] = _map_field()


@attrs.frozen(kw_only=True)
class Definitions:
    """Everything in one BPMN file."""

    id: str | None = None
    target_namespace: str | None = None
    version: str
    processes: Mapping[str, Process] = _map_field()
    messages: Mapping[str, Message] = _map_field()
    errors: Mapping[str, ErrorDeclaration] = _map_field()
    escalations: Mapping[str, EscalationDeclaration] = _map_field()
    signals: Mapping[str, Signal] = _map_field()
    message_flows: frozenset[str] = frozenset()
    """Ids of the collaboration's message flows (drawn between pools, never run)."""
    associations: frozenset[str] = frozenset()
    """Ids of the associations (drawn dotted; one joins a compensation handler)."""
    participants: Mapping[str, Participant] = _map_field()
    diagrams: tuple[Diagram, ...] = ()

    @property
    def executable_processes(self) -> tuple[Process, ...]:
        return tuple(process for process in self.processes.values() if process.is_executable)

    def diagram_for(self, process_id: str) -> Diagram | None:
        """The diagram that draws that process: its own plane, or a collaboration's."""
        process = self.processes[process_id]
        pools = {p.id for p in self.participants.values() if p.process_id == process_id}
        for diagram in self.diagrams:
            if diagram.plane_element == process_id or pools & diagram.shapes.keys():
                return diagram
        for diagram in self.diagrams:
            if process.all_elements.keys() & diagram.shapes.keys():
                return diagram
        return None
