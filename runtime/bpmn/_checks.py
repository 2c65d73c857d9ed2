"""The rules a scope of built flow nodes must satisfy before a token may run through it.

Pure functions over the model: each returns the problems it found as sentences naming the
elements, so the parser can report every problem of a file at once. The parser checks
what only the XML knows (unknown ids, unsupported elements); these check the semantics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

from ._model import (
    Activity,
    BoundaryEvent,
    CompensateEventDefinition,
    EndEvent,
    ErrorEventDefinition,
    EventBasedGateway,
    ExclusiveGateway,
    FlowNode,
    InclusiveGateway,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    LinkEventDefinition,
    MessageEventDefinition,
    ReceiveTask,
    SequenceFlow,
    SignalEventDefinition,
    StartEvent,
    SubProcess,
    TimerEventDefinition,
)

Problems: TypeAlias = list[tuple[str, str]]


def check_scope(
    owner: str,
    parent_id: str | None,
    elements: Mapping[str, FlowNode],
    flows: Mapping[str, SequenceFlow],
) -> tuple[dict[str, str], Problems]:
    """Check one process or subprocess level: its link catches by name, and the problems
    as ``(id of the element or flow at fault, sentence)``."""
    problems: Problems = []
    link_catches = _links(elements, problems)
    for node in elements.values():
        _check_node(node, elements, flows, problems)
    for flow in flows.values():
        source = elements.get(flow.source)
        gateway = isinstance(source, ExclusiveGateway | InclusiveGateway)
        if flow.condition is not None and source is not None and not gateway:
            problems.append(
                (
                    flow.id,
                    f"sequence flow {flow.id!r} has a condition, but conditions are only "
                    f"supported on flows leaving an exclusive or inclusive gateway",
                )
            )
    starts = [node for node in elements.values() if isinstance(node, StartEvent)]
    if parent_id is not None and len(starts) != 1:
        problems.append(
            (owner, f"subprocess {owner!r} needs exactly one start event, has {len(starts)}")
        )
    if parent_id is None and elements and not starts:
        problems.append((owner, f"process {owner!r} has no start event"))
    none_starts = [start.id for start in starts if start.trigger is None]
    if len(none_starts) > 1:
        problems.append((owner, f"process {owner!r} has several none start events: {none_starts}"))
    return link_catches, problems


def _links(elements: Mapping[str, FlowNode], problems: Problems) -> dict[str, str]:
    catches: dict[str, str] = {}
    for element in elements.values():
        if isinstance(element, IntermediateCatchEvent) and isinstance(
            element.trigger, LinkEventDefinition
        ):
            name = element.trigger.name
            if name in catches:
                problems.append(
                    (
                        element.id,
                        f"link catch events {catches[name]!r} and {element.id!r} have the "
                        f"same name {name!r}",
                    )
                )
            catches[name] = element.id
    for element in elements.values():
        if not isinstance(element, IntermediateThrowEvent):
            continue
        if isinstance(element.trigger, LinkEventDefinition) and element.trigger.name not in catches:
            problems.append(
                (
                    element.id,
                    f"link throw event {element.id!r} has no link catch event named "
                    f"{element.trigger.name!r} in the same process or subprocess",
                )
            )
    return catches


def _check_node(
    node: FlowNode,
    elements: Mapping[str, FlowNode],
    flows: Mapping[str, SequenceFlow],
    problems: Problems,
) -> None:
    name = f"{node.kind} {node.id!r}"
    if isinstance(node, SubProcess) and node.triggered_by_event:
        _check_event_subprocess(node, problems)
    if node.incoming and isinstance(node, StartEvent | BoundaryEvent):
        problems.append((node.id, f"{name} has incoming sequence flows"))
    link_throw = isinstance(node, IntermediateThrowEvent) and isinstance(
        node.trigger, LinkEventDefinition
    )
    if node.outgoing and (isinstance(node, EndEvent) or link_throw):
        problems.append((node.id, f"{name} has outgoing sequence flows"))
    trigger = getattr(node, "trigger", None)
    catch = isinstance(node, IntermediateCatchEvent)
    if catch and node.incoming and isinstance(trigger, LinkEventDefinition):
        problems.append((node.id, f"link catch event {node.id!r} has incoming sequence flows"))
    compensation = isinstance(trigger, CompensateEventDefinition)
    if isinstance(node, BoundaryEvent) and compensation and node.outgoing:
        problems.append(
            (
                node.id,
                f"compensation boundary event {node.id!r} has outgoing sequence flows "
                "(its handler is joined to it by an association)",
            )
        )
    if isinstance(node, Activity) and node.for_compensation and (node.incoming or node.outgoing):
        problems.append(
            (
                node.id,
                f"compensation handler {node.id!r} has sequence flows: only a compensation "
                "throw event runs it",
            )
        )
    error = isinstance(trigger, ErrorEventDefinition)
    if isinstance(node, BoundaryEvent) and error and not node.cancel_activity:
        problems.append((node.id, f"error boundary event {node.id!r} must be interrupting"))
    if isinstance(node, ExclusiveGateway | InclusiveGateway):
        if node.default is not None and node.default not in node.outgoing:
            problems.append(
                (
                    node.id,
                    f"default flow {node.default!r} of {name} is not one of its outgoing flows",
                )
            )
        if len(node.outgoing) > 1:
            problems.extend(
                (
                    node.id,
                    f"sequence flow {flow_id!r} leaving {name} needs a condition "
                    "(or must be the gateway's default flow)",
                )
                for flow_id in node.outgoing
                if flow_id != node.default and flows[flow_id].condition is None
            )
    if isinstance(node, EventBasedGateway):
        if len(node.outgoing) < 2:
            problems.append((node.id, f"{name} needs at least two outgoing flows"))
        for flow_id in node.outgoing:
            target = elements[flows[flow_id].target]
            waits = isinstance(target, ReceiveTask) or (
                isinstance(target, IntermediateCatchEvent)
                and isinstance(
                    target.trigger,
                    MessageEventDefinition | TimerEventDefinition | SignalEventDefinition,
                )
            )
            if not waits:
                problems.append(
                    (
                        node.id,
                        f"{name} leads to {target.id!r}, which is not a message, timer or signal "
                        "catch event or a receive task",
                    )
                )


def _check_event_subprocess(node: SubProcess, problems: Problems) -> None:
    if node.incoming or node.outgoing:
        problems.append(
            (node.id, f"event subprocess {node.id!r} has sequence flows; it starts by its event")
        )
    if node.boundary_events:
        problems.append((node.id, f"event subprocess {node.id!r} has boundary events"))
    for start_id in node.start_events:
        start = node.elements[start_id]
        if isinstance(start, StartEvent) and start.trigger is None:
            problems.append(
                (
                    start_id,
                    f"the start event {start_id!r} of event subprocess {node.id!r} needs a "
                    "message, timer or error event definition",
                )
            )
