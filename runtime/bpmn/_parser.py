"""BPMN 2.0 XML to the frozen model, refusing anything it cannot run.

The XML is read by defusedxml, so entity declarations and external references are refused
before anything expands; the line each element starts on is noted as it is read. The
parser then walks each executable process scope by scope: every child element is either
parsed, a known artifact that changes nothing (lanes, annotations, groups, documentation,
data objects, data stores and their associations, which Zeebe ignores too), or a problem
naming its line, id and type; nothing is skipped in silence. Problems are collected across
the whole file and raised together as one ``BpmnError``, so a user fixes a diagram in one
round, and each root cause is reported once: the flows and boundary events that touch a
refused element say nothing more. Processes with ``isExecutable="false"`` (documentation
pools) are read for the picture but never checked, as Zeebe never runs them.

Extension elements in other namespaces than Zeebe's are vendor metadata and are ignored,
ids inside them included, except another engine's extensions that would change what runs
(``_vendor``), which are refused by name. Zeebe elements are parsed when supported,
ignored when they are pure metadata (forms, properties, version tags), and reported
otherwise.
"""

from __future__ import annotations

import hashlib
import os
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from ._checks import check_scope
from ._extensions import NO_INPUTS, NO_MAPPINGS, ZEEBE_ALLOWED
from ._layout import BPMNDI, read_diagram
from ._model import (
    Activity,
    BoundaryEvent,
    BpmnError,
    BusinessRuleTask,
    CallActivity,
    CompensateEventDefinition,
    Definitions,
    Diagram,
    EndEvent,
    ErrorDeclaration,
    ErrorEventDefinition,
    EscalationDeclaration,
    EscalationEventDefinition,
    EventBasedGateway,
    ExclusiveGateway,
    FlowNode,
    InclusiveGateway,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    ManualTask,
    Message,
    ParallelGateway,
    Participant,
    Process,
    ReceiveTask,
    ScriptTask,
    SendTask,
    SequenceFlow,
    ServiceTask,
    StartEvent,
    SubProcess,
    Task,
    UserTask,
)
from ._parse_events import JOB_EVENTS, NODE_CHILDREN, TRIGGERS, EventReader
from ._xml import MODEL, local_name, q, read_xml

_NODE_CLASSES: dict[str, type[FlowNode]] = {
    cls.kind: cls
    for cls in (
        StartEvent, EndEvent, IntermediateCatchEvent, IntermediateThrowEvent, BoundaryEvent,
        Task, ManualTask, ServiceTask, SendTask, ScriptTask, BusinessRuleTask, UserTask,
        ReceiveTask, SubProcess, CallActivity,
        ExclusiveGateway, InclusiveGateway, ParallelGateway, EventBasedGateway,
    )
}  # fmt: skip


_ARTIFACTS = frozenset({"laneSet", "textAnnotation", "association", "group"})
#: data modelling, which Zeebe accepts and ignores: variables are all there is
_DATA = frozenset({"dataObject", "dataObjectReference", "dataStoreReference", "property"})
_DATA_CHILDREN = frozenset({"dataInputAssociation", "dataOutputAssociation", "property"})
_ROOT_DECLARATIONS = frozenset(
    {
        "itemDefinition",
        "category",
        "documentation",
        "extensionElements",
        "dataStore",
    }
)


def parse(source: bytes | str | os.PathLike[str]) -> Definitions:
    """Parse a BPMN file: bytes, XML text, or a path (a str not starting with ``<``)."""
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, str) and source.lstrip().startswith("<"):
        data = source.lstrip().encode()  # an XML declaration must come first
    else:
        data = Path(source).read_bytes()
    root, lines = read_xml(data)
    return _Parser(data, lines).definitions(root)


@attrs.define
class _Draft:
    """A flow node before its scope is complete: incoming and outgoing come last."""

    cls: type[FlowNode]
    fields: dict[str, Any]
    kind: str


@attrs.frozen(kw_only=True)
class _Scope:
    elements: dict[str, FlowNode]
    flows: dict[str, SequenceFlow]
    start_events: tuple[str, ...]
    link_catches: dict[str, str]


class _Parser(EventReader):
    def __init__(self, data: bytes, lines: dict[ET.Element, int]) -> None:
        super().__init__(lines)
        self.message_flows: set[str] = set()
        self.associations: set[str] = set()
        self.version = hashlib.sha256(data).hexdigest()

    # --- the file -------------------------------------------------------------------

    def definitions(self, root: ET.Element) -> Definitions:
        if root.tag != q(MODEL, "definitions"):
            namespace, name = local_name(root.tag)
            raise BpmnError(
                f"not a BPMN 2.0 file: the root element is {name!r} in namespace "
                f"{namespace or 'none'!r}, expected 'definitions' in {MODEL!r}"
            )
        self.collect_ids(root)
        for child in root:
            if child.tag == q(MODEL, "message"):
                self.message(child)
            elif child.tag == q(MODEL, "escalation"):
                escalation_id = child.get("id", "")
                self.escalations[escalation_id] = EscalationDeclaration(
                    id=escalation_id,
                    name=child.get("name"),
                    escalation_code=child.get("escalationCode"),
                )
            elif child.tag == q(MODEL, "signal"):
                self.signal(child)
            elif child.tag == q(MODEL, "error"):
                error_id = child.get("id", "")
                self.errors[error_id] = ErrorDeclaration(
                    id=error_id, name=child.get("name"), error_code=child.get("errorCode")
                )
        processes: dict[str, Process] = {}
        participants: dict[str, Participant] = {}
        diagrams: list[Diagram] = []
        for child in root:
            namespace, name = local_name(child.tag)
            if namespace == MODEL and name == "process":
                before = len(self.problems)
                process = self.process(child)
                processes[process.id] = process
                if not process.is_executable:  # as Zeebe: nothing in it runs, so anything goes
                    del self.problems[before:]
            elif namespace == MODEL and name == "collaboration":
                participants.update(self.collaboration(child))
            elif namespace == BPMNDI and name == "BPMNDiagram":
                diagram, problems = read_diagram(child, self.ids)
                diagrams.append(diagram)
                for at, text in problems:
                    self.problem(text, at)
            elif namespace != MODEL or name not in {
                "message",
                "error",
                "escalation",
                "signal",
                *_ROOT_DECLARATIONS,
            }:
                self.unsupported(child)
        for participant in participants.values():
            if participant.process_id is not None and participant.process_id not in processes:
                self.problem(
                    f"participant {participant.id!r} refers to unknown process "
                    f"{participant.process_id!r}",
                    participant.id,
                )
        if self.problems:
            raise BpmnError(self.problems)
        return Definitions(
            id=root.get("id"),
            target_namespace=root.get("targetNamespace"),
            version=self.version,
            processes=processes,
            messages=self.messages,
            errors=self.errors,
            escalations=self.escalations,
            signals=self.signals,
            message_flows=frozenset(self.message_flows),
            associations=frozenset(self.associations),
            participants=participants,
            diagrams=tuple(diagrams),
        )

    def message(self, element: ET.Element) -> None:
        self.here = element
        message_id = element.get("id", "")
        name = element.get("name")
        if not name:
            self.problem(f"message {message_id!r} has no name")
        extensions = self.extensions(element, message_id, "message", frozenset({"subscription"}))
        subscription = extensions.get("subscription")
        key = None if subscription is None else subscription.get("correlationKey")
        if key:
            self.check_expression(message_id, "correlationKey", key)
        self.messages[message_id] = Message(id=message_id, name=name or "", correlation_key=key)

    def collaboration(self, element: ET.Element) -> Iterator[tuple[str, Participant]]:
        for child in element:
            self.here = child
            namespace, name = local_name(child.tag)
            if namespace == MODEL and name == "participant":
                participant = Participant(
                    id=child.get("id", ""),
                    name=child.get("name"),
                    process_id=child.get("processRef"),
                )
                yield participant.id, participant
            elif namespace == MODEL and name == "messageFlow":
                self.message_flows.add(child.get("id", ""))
            elif namespace != MODEL or name not in {"messageFlow", *_ARTIFACTS, *NODE_CHILDREN}:
                self.unsupported(child)

    # --- processes and scopes ---------------------------------------------------------

    def process(self, element: ET.Element) -> Process:
        process_id = element.get("id", "")
        self.here = element
        self.extensions(element, process_id, "process", frozenset())
        self.vendor(element, process_id, "process")
        scope = self.scope(element, None)
        all_elements: dict[str, FlowNode] = {}
        all_flows: dict[str, SequenceFlow] = {}
        _flatten(scope.elements, scope.flows, all_elements, all_flows)
        return Process(
            id=process_id,
            name=element.get("name"),
            is_executable=element.get("isExecutable", "false").strip().lower() == "true",
            version=self.version,
            elements=scope.elements,
            flows=scope.flows,
            start_events=scope.start_events,
            link_catches=scope.link_catches,
            all_elements=all_elements,
            all_flows=all_flows,
        )

    def scope(self, container: ET.Element, parent_id: str | None) -> _Scope:
        """Parse the children of a process or subprocess, then connect and check them."""
        owner = container.get("id", "")
        drafts: dict[str, _Draft] = {}
        flows: dict[str, SequenceFlow] = {}
        associations: list[tuple[str, str]] = []
        for child in container:
            namespace, name = local_name(child.tag)
            if namespace == MODEL and name == "association":
                associations.append((child.get("sourceRef", ""), child.get("targetRef", "")))
                self.associations.add(child.get("id", ""))
            if namespace == MODEL and name in NODE_CHILDREN | _ARTIFACTS | _DATA | _DATA_CHILDREN:
                continue
            self.here = child
            if namespace == MODEL and name.endswith("LoopCharacteristics"):
                if parent_id is None:  # a subprocess's own is read with the subprocess
                    self.problem(f"element {owner!r} has {name}, which is not supported")
            elif namespace == MODEL and name == "sequenceFlow":
                flow = self.sequence_flow(child, parent_id)
                flows[flow.id] = flow
            elif namespace == MODEL and name in _NODE_CLASSES and child.get("id"):
                draft = self.node(child, name, parent_id)
                if draft is not None:
                    drafts[child.get("id", "")] = draft
                else:
                    self.refused[child.get("id", "")] = name
            elif namespace == MODEL and name in _NODE_CLASSES:
                self.problem(f"an element of type {name!r} in {owner!r} has no id")
            else:
                self.unsupported(child, owner)
        here = {child.get("id", "") for child in container} & self.refused.keys()
        compensation_problems(drafts, associations, self.problem)
        return self.connect(owner, drafts, flows, parent_id, {r: self.refused[r] for r in here})

    def connect(
        self,
        owner: str,
        drafts: dict[str, _Draft],
        flows: dict[str, SequenceFlow],
        parent_id: str | None,
        refused_here: dict[str, str],
    ) -> _Scope:
        incoming: dict[str, list[str]] = defaultdict(list)
        outgoing: dict[str, list[str]] = defaultdict(list)
        for flow in flows.values():
            ends_known = True
            for end, ref in (("source", flow.source), ("target", flow.target)):
                if ref not in drafts:
                    ends_known = False
                    if ref in self.refused:
                        continue  # its own problem says it all
                    where = (
                        "which is not in the same process or subprocess"
                        if ref in self.ids
                        else "which does not exist"
                    )
                    self.problem(f"sequence flow {flow.id!r} has {end} {ref!r}, {where}", flow.id)
            if ends_known:
                outgoing[flow.source].append(flow.id)
                incoming[flow.target].append(flow.id)
        attached: dict[str, list[str]] = defaultdict(list)
        for node_id, draft in drafts.items():
            if draft.cls is BoundaryEvent:
                target = draft.fields["attached_to"]
                if target in self.refused:
                    continue
                if target not in drafts:
                    self.problem(
                        f"boundary event {node_id!r} is attached to {target!r}, which is not "
                        "an activity of the same process or subprocess",
                        node_id,
                    )
                elif not issubclass(drafts[target].cls, Activity):
                    self.problem(
                        f"boundary event {node_id!r} is attached to {target!r}, which is a "
                        f"{drafts[target].kind}, not a task or subprocess",
                        node_id,
                    )
                elif isinstance(
                    draft.fields.get("trigger"), EscalationEventDefinition
                ) and not issubclass(drafts[target].cls, SubProcess | CallActivity):
                    self.problem(
                        f"escalation boundary event {node_id!r} is attached to {target!r}, "
                        f"which is a {drafts[target].kind}: as in Zeebe, only a subprocess "
                        "or a call activity can escalate",
                        node_id,
                    )
                else:
                    attached[target].append(node_id)
        elements: dict[str, FlowNode] = {}
        for node_id, draft in drafts.items():
            draft.fields["incoming"] = tuple(incoming[node_id])
            draft.fields["outgoing"] = tuple(outgoing[node_id])
            if issubclass(draft.cls, Activity):
                draft.fields["boundary_events"] = tuple(attached[node_id])
            elements[node_id] = draft.cls(**draft.fields)
        refused = {
            ref
            for flow in flows.values()
            for ref in (flow.source, flow.target)
            if ref in self.refused
        }
        touching = {flow.source for flow in flows.values() if flow.target in refused}
        touching |= {flow.target for flow in flows.values() if flow.source in refused}
        refused_starts = "startEvent" in refused_here.values()
        link_catches, problems = check_scope(owner, parent_id, elements, flows)
        for at, text in problems:
            if at in touching or (refused_starts and at == owner):
                continue  # a consequence of an element refused already
            self.problem(text, at)
        starts = tuple(i for i, e in elements.items() if isinstance(e, StartEvent))
        return _Scope(
            elements=elements, flows=flows, start_events=starts, link_catches=link_catches
        )

    def called_element(
        self, extensions: dict[str, ET.Element], node_id: str
    ) -> dict[str, Any] | None:
        """A call activity's ``zeebe:calledElement``: the process to call and what
        variables go to it and come back; None after a problem."""
        called = extensions.get("calledElement")
        process_id = "" if called is None else (called.get("processId") or "").strip()
        if not process_id:
            self.problem(
                f"call activity {node_id!r} needs a zeebe:calledElement with a processId "
                "(the id of the process it starts, or a FEEL expression after '=')"
            )
            return None
        if process_id.startswith("="):
            self.check_expression(node_id, "processId", process_id)
        fields: dict[str, Any] = {"process_id": process_id}
        assert called is not None
        for attribute, field in (
            ("propagateAllChildVariables", "propagate_child"),
            ("propagateAllParentVariables", "propagate_parent"),
        ):
            text = called.get(attribute)
            if text is None:
                continue
            if text.strip().lower() not in _TRUTH:
                self.problem(
                    f"call activity {node_id!r} has {attribute}={text!r}; it must be true or false"
                )
                return None
            fields[field] = _TRUTH[text.strip().lower()]
        for attribute in ("bindingType", "versionTag"):
            if called.get(attribute) not in (None, "latest"):
                self.problem(
                    f"call activity {node_id!r} has {attribute}={called.get(attribute)!r}: "
                    "only the latest loaded version of a process can be called here"
                )
                return None
        return fields

    def sequence_flow(self, element: ET.Element, parent_id: str | None) -> SequenceFlow:
        flow_id = element.get("id", "")
        self.here = element
        self.vendor(element, flow_id, "sequenceFlow")
        condition: str | None = None
        for child in element:
            namespace, name = local_name(child.tag)
            if namespace == MODEL and name == "conditionExpression":
                condition = (child.text or "").strip() or None
                if condition is not None:
                    self.check_expression(flow_id, "condition", condition, always=True)
            elif namespace != MODEL or name not in ("documentation", "extensionElements"):
                self.unsupported(child, flow_id)
        for attribute in ("sourceRef", "targetRef"):
            if not element.get(attribute):
                self.problem(f"sequence flow {flow_id!r} has no {attribute}")
        return SequenceFlow(
            id=flow_id,
            name=element.get("name"),
            source=element.get("sourceRef", ""),
            target=element.get("targetRef", ""),
            condition=condition,
            parent_id=parent_id,
        )

    # --- flow nodes ---------------------------------------------------------------

    def node(self, element: ET.Element, kind: str, parent_id: str | None) -> _Draft | None:
        node_id = element.get("id", "")
        self.here = element
        fields: dict[str, Any] = {"id": node_id, "name": element.get("name")}
        fields["parent_id"] = parent_id
        allowed = ZEEBE_ALLOWED.get(kind, frozenset() if kind in NO_MAPPINGS else {"ioMapping"})
        extensions = self.extensions(element, node_id, kind, frozenset(allowed))
        self.vendor(element, node_id, kind)
        if "ioMapping" in extensions:
            fields["inputs"], fields["outputs"] = self.mappings(extensions["ioMapping"], node_id)
            if fields["inputs"] and kind in NO_INPUTS:
                self.problem(
                    f"element {node_id!r} of type {kind!r} has zeebe:input mappings, which "
                    f"a {kind} cannot have (nothing of it runs before it happens); "
                    "use zeebe:output mappings"
                )
        definitions: list[ET.Element] = []
        if kind != "subProcess":
            for child in element:
                namespace, name = local_name(child.tag)
                if namespace == MODEL and name in NODE_CHILDREN | _DATA_CHILDREN:
                    continue
                if namespace == MODEL and name.endswith("EventDefinition") and kind in TRIGGERS:
                    definitions.append(child)
                    self.vendor(child, node_id, kind)
                elif namespace == MODEL and name.endswith("LoopCharacteristics"):
                    fields["loop"] = self.loop(child, node_id)
                    self.here = element
                else:
                    self.unsupported(child, node_id)
        else:
            for child in element:
                namespace, name = local_name(child.tag)
                if namespace == MODEL and name.endswith("LoopCharacteristics"):
                    fields["loop"] = self.loop(child, node_id)
                    self.here = element
        if "loop" in fields and not issubclass(_NODE_CLASSES[kind], Activity):
            self.problem(f"element {node_id!r} of type {kind!r} cannot be multi-instance")
            del fields["loop"]
        if kind in TRIGGERS:
            trigger = self.trigger(element, kind, parent_id, definitions)
            if trigger is False:
                return None
            fields["trigger"] = trigger
        if kind in JOB_EVENTS:
            self.job_event(fields, extensions, kind)
        if kind == "boundaryEvent":
            fields["attached_to"] = element.get("attachedToRef", "")
            fields["cancel_activity"] = element.get("cancelActivity", "true").strip() != "false"
        elif kind in ("exclusiveGateway", "inclusiveGateway"):
            fields["default"] = element.get("default")
        elif kind in ("serviceTask", "sendTask"):
            fields.update(self.job(extensions, node_id, kind))
        elif kind in ("scriptTask", "businessRuleTask"):
            fields.update(self.rule_or_script(extensions, node_id, kind))
        elif kind == "userTask":
            assignment = extensions.get("assignmentDefinition")
            if assignment is not None:
                fields["assignee"] = assignment.get("assignee")
                fields["candidate_groups"] = assignment.get("candidateGroups")
            fields["headers"] = self.headers(extensions)
        elif kind == "callActivity":
            called = self.called_element(extensions, node_id)
            if called is None:
                return None
            fields.update(called)
        if issubclass(_NODE_CLASSES[kind], Activity) and (
            element.get("isForCompensation", "false").strip() == "true"
        ):
            if kind in ("subProcess", "callActivity", "receiveTask"):
                self.problem(
                    f"element {node_id!r} of type {kind!r} is a compensation handler "
                    "(isForCompensation): only a task can be one here"
                )
            elif "loop" in fields:
                self.problem(f"compensation handler {node_id!r} cannot be multi-instance")
            else:
                fields["for_compensation"] = True
        if kind in ("receiveTask", "sendTask"):
            message = self.message_ref(element, node_id, required=kind == "receiveTask")
            if message is None and kind == "receiveTask":
                return None
            fields["message"] = message
        if kind == "startEvent":
            interrupting = element.get("isInterrupting", "true").strip() != "false"
            fields["interrupting"] = interrupting
            if not interrupting and isinstance(fields.get("trigger"), ErrorEventDefinition):
                self.problem(f"error start event {node_id!r} must be interrupting")
        if kind == "subProcess":
            if element.get("triggeredByEvent", "false").strip() == "true":
                fields["triggered_by_event"] = True
                self.event_subprocesses.add(node_id)
                if fields.get("loop") is not None:
                    self.problem(f"event subprocess {node_id!r} cannot be multi-instance")
            inner = self.scope(element, node_id)
            fields.update(
                elements=inner.elements,
                flows=inner.flows,
                start_events=inner.start_events,
                link_catches=inner.link_catches,
            )
        return _Draft(_NODE_CLASSES[kind], fields, kind)


_TRUTH = {"true": True, "false": False}


def compensation_problems(
    drafts: dict[str, _Draft],
    associations: list[tuple[str, str]],
    problem: Callable[..., None],
) -> None:
    """Join each compensation boundary event to its handler (an association, either way),
    and check the throw events' ``activityRef``: as in Zeebe, within the same scope."""
    linked: dict[str, str] = {}
    for source, target in associations:
        linked.setdefault(source, target)
        linked.setdefault(target, source)
    for node_id, draft in drafts.items():
        trigger = draft.fields.get("trigger")
        if not isinstance(trigger, CompensateEventDefinition):
            continue
        if draft.cls is BoundaryEvent:
            handler = linked.get(node_id, "")
            handler_draft = drafts.get(handler)
            if handler_draft is None or not handler_draft.fields.get("for_compensation"):
                problem(
                    f"compensation boundary event {node_id!r} needs an association to its "
                    "compensation handler: a task of the same scope with "
                    'isForCompensation="true"',
                    node_id,
                )
            else:
                draft.fields["compensation_handler"] = handler
        elif trigger.activity_ref is not None:
            referred = drafts.get(trigger.activity_ref)
            if referred is None or not issubclass(referred.cls, Activity):
                problem(
                    f"compensation event {node_id!r} has activityRef "
                    f"{trigger.activity_ref!r}, which is not an activity of the same scope",
                    node_id,
                )


def _flatten(
    elements: Any,
    flows: Any,
    all_elements: dict[str, FlowNode],
    all_flows: dict[str, SequenceFlow],
) -> None:
    all_flows.update(flows)
    for element_id, element in elements.items():
        all_elements[element_id] = element
        if isinstance(element, SubProcess):
            _flatten(element.elements, element.flows, all_elements, all_flows)
