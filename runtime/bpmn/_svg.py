"""An SVG picture of a process, drawn from its BPMNDI layout, with an instance's state on it.

Pure string building: no JavaScript, no stylesheet, presentation attributes only, and every
name escaped. Completed elements and flows are drawn green; active ones orange and thicker.
Each shape is a ``<g data-element-id="...">`` with a ``<title>`` (the element's name), so a
page can find and explain it. Text annotations, lanes and data objects are not drawn; the
pools of the diagram, its message flows (dashed, from a small circle to an open arrow) and
its associations (dotted) are. Multi-instance activities carry three bars (standing:
parallel, lying: sequential) and, for an instance, how many of their inner instances
completed; event subprocesses a dotted border; non-interrupting start and boundary events
a dashed ring; call activities a thick border and, for an instance, a link to the instance
they called (``links``); compensation events and handlers two triangles pointing back.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Collection, Iterable, Mapping
from xml.sax.saxutils import escape

import attrs

from ._model import (
    Activity,
    BoundaryEvent,
    Bounds,
    BpmnError,
    BusinessRuleTask,
    CallActivity,
    CompensateEventDefinition,
    Definitions,
    Diagram,
    EndEvent,
    ErrorEventDefinition,
    EscalationEventDefinition,
    EventBasedGateway,
    ExclusiveGateway,
    FlowNode,
    Gateway,
    InclusiveGateway,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    LinkEventDefinition,
    ManualTask,
    MessageEventDefinition,
    ParallelGateway,
    Point,
    Process,
    ReceiveTask,
    ScriptTask,
    SendTask,
    ServiceTask,
    SignalEventDefinition,
    StartEvent,
    SubProcess,
    TerminateEventDefinition,
    TimerEventDefinition,
    UserTask,
)

INK = "#22242a"
PAPER = "#ffffff"
FONT_SIZE = 12
CHAR_WIDTH = 6.6  # average advance of a 12px sans-serif character, for wrapping
LINE_HEIGHT = 14
LABEL_SIZE = 11  # labels of events, gateways and flows, as modelers size them
MARGIN = 20


@attrs.frozen
class _Style:
    name: str
    stroke: str
    fill: str
    extra_width: float


_PLAIN = _Style("", INK, PAPER, 0)
_COMPLETED = _Style("completed", "#2e7d32", "#e8f5e9", 0)
_ACTIVE = _Style("active", "#ef6c00", "#ffe0b2", 2)
_INCIDENT = _Style("incident", "#c62828", "#ffebee", 3)


def render(
    definitions: Definitions,
    process_id: str,
    *,
    completed: Collection[str] = frozenset(),
    active: Collection[str] = frozenset(),
    incidents: Collection[str] = frozenset(),
    links: Mapping[str, str] | None = None,
    counts: Mapping[str, str] | None = None,
) -> str:
    """The process as an SVG document; ``completed``/``active`` hold element and flow ids,
    ``incidents`` the elements with an open incident (drawn red), ``links`` a URL per
    element (a call activity's child instance), ``counts`` a text per multi-instance
    activity (its completed inner instances, ``2/3``)."""
    if process_id not in definitions.processes:
        raise BpmnError(f"there is no process {process_id!r} in this file")
    diagram = definitions.diagram_for(process_id)
    if diagram is None:
        raise BpmnError(f"process {process_id!r} has no diagram (BPMNDI layout) to draw")
    drawing = _Drawing(
        definitions, definitions.processes[process_id], diagram, completed, active, incidents
    )
    drawing.links = links or {}
    drawing.counts = counts or {}
    return drawing.svg()


def _n(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.2f}".rstrip("0").rstrip(".")


def _attr(value: str) -> str:
    return '"' + escape(value, {'"': "&quot;"}) + '"'


class _Drawing:
    def __init__(
        self,
        definitions: Definitions,
        process: Process,
        diagram: Diagram,
        completed: Collection[str],
        active: Collection[str],
        incidents: Collection[str] = frozenset(),
    ) -> None:
        self.process = process
        self.diagram = diagram
        self.completed = completed
        self.active = active
        self.incidents = incidents
        self.prefix = re.sub(r"[^A-Za-z0-9_-]", "_", process.id)
        self.parts: list[str] = []
        self.extent: list[Bounds] = []
        # Every pool of a collaboration: message flows run between them.
        self.pools = list(definitions.participants.values())
        self.message_flows = sorted(definitions.message_flows)
        self.associations = sorted(definitions.associations)
        self.links: Mapping[str, str] = {}
        self.counts: Mapping[str, str] = {}

    def style(self, element_id: str) -> _Style:
        if element_id in self.incidents:
            return _INCIDENT
        if element_id in self.active:
            return _ACTIVE
        return _COMPLETED if element_id in self.completed else _PLAIN

    def svg(self) -> str:
        shapes = self.diagram.shapes
        for pool in self.pools:
            if pool.id in shapes:
                self.pool(pool.id, pool.name, shapes[pool.id].bounds)
        nodes = [e for e in self.process.all_elements.values() if e.id in shapes]
        nodes.sort(key=lambda e: (not isinstance(e, SubProcess), isinstance(e, BoundaryEvent)))
        for node in nodes:
            if isinstance(node, SubProcess):
                self.node(node)
        for flow_id, flow in self.process.all_flows.items():
            edge = self.diagram.edges.get(flow_id)
            if edge is not None and len(edge.waypoints) >= 2:
                self.flow(flow_id, flow.name, edge.waypoints, edge.label)
        for flow_id in self.message_flows:
            edge = self.diagram.edges.get(flow_id)
            if edge is not None and len(edge.waypoints) >= 2:
                self.message_flow(flow_id, edge.waypoints)
        for association_id in self.associations:
            edge = self.diagram.edges.get(association_id)
            if edge is not None and len(edge.waypoints) >= 2:
                coordinates = " ".join(f"{_n(p.x)},{_n(p.y)}" for p in edge.waypoints)
                self.group(
                    association_id,
                    "association",
                    None,
                    f'<polyline points="{coordinates}" fill="none" stroke="{INK}" '
                    f'stroke-width="1.5" stroke-dasharray="2 4" stroke-linecap="round"/>',
                )
        for node in nodes:
            if not isinstance(node, SubProcess):
                self.node(node)
        return self.document()

    def document(self) -> str:
        left = min((b.x for b in self.extent), default=0) - MARGIN
        top = min((b.y for b in self.extent), default=0) - MARGIN
        right = max((b.x + b.width for b in self.extent), default=0) + MARGIN
        bottom = max((b.y + b.height for b in self.extent), default=0) + MARGIN
        width, height = right - left, bottom - top
        markers = "".join(
            f'<marker id="{self.prefix}-arrow{"-" + s.name if s.name else ""}" viewBox="0 0 10 10"'
            f' refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{s.stroke}"/></marker>'
            for s in (_PLAIN, _COMPLETED, _ACTIVE, _INCIDENT)
        )
        markers += (
            ""
            if not self.message_flows
            else (
                f'<marker id="{self.prefix}-message" viewBox="0 0 10 10" refX="10" refY="5" '
                f'markerWidth="9" markerHeight="9" orient="auto-start-reverse">'
                f'<path d="M0,0 L10,5 L0,10 z" fill="{PAPER}" stroke="{INK}"/></marker>'
            )
        )
        label = escape(self.process.name or self.process.id)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{_n(left)} {_n(top)} '
            f'{_n(width)} {_n(height)}" width="{_n(width)}" height="{_n(height)}" '
            f'font-family="sans-serif" font-size="{FONT_SIZE}" role="img" '
            f"aria-label={_attr(self.process.name or self.process.id)}>"
            f"<title>{label}</title><defs>{markers}</defs>" + "".join(self.parts) + "</svg>"
        )

    # --- pieces -----------------------------------------------------------------------

    def group(self, element_id: str, kind: str, name: str | None, body: str) -> None:
        style = self.style(element_id)
        state = f" bpmn-{style.name}" if style.name else ""
        title = f"<title>{escape(name)}</title>" if name else ""
        self.parts.append(
            f"<g data-element-id={_attr(element_id)} class={_attr(f'bpmn-{kind}{state}')}>"
            f"{title}{body}</g>"
        )

    def text(self, x: float, y: float, lines: Iterable[str], anchor: str = "middle") -> str:
        spans = "".join(
            f'<tspan x="{_n(x)}" dy="{0 if i == 0 else LINE_HEIGHT}">{escape(line)}</tspan>'
            for i, line in enumerate(lines)
        )
        return f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" fill="{INK}">{spans}</text>'

    def wrapped(self, text: str, box: Bounds, *, top: bool = False) -> str:
        per_line = max(int((box.width - 8) / CHAR_WIDTH), 4)
        most = max(int((box.height - 6) / LINE_HEIGHT), 1)
        lines = textwrap.wrap(text, per_line, break_long_words=True) or [""]
        if len(lines) > most:
            lines = [*lines[: most - 1], lines[most - 1][: per_line - 1] + "…"]
        if top:
            return self.text(box.x + 6, box.y + LINE_HEIGHT + 2, lines, anchor="start")
        first = box.y + box.height / 2 - (len(lines) - 1) * LINE_HEIGHT / 2 + FONT_SIZE / 3
        return self.text(box.x + box.width / 2, first, lines)

    def label(self, name: str | None, shape_bounds: Bounds, label: Bounds | None) -> str:
        if not name:
            return ""
        if label is None:
            width = max(90.0, shape_bounds.width)
            below = shape_bounds.y + shape_bounds.height + 4
            label = Bounds(
                x=shape_bounds.x + shape_bounds.width / 2 - width / 2,
                y=below,
                width=width,
                height=LINE_HEIGHT * 2,
            )
        self.extent.append(label)
        per_line = int(max(label.width, 90) / (CHAR_WIDTH * LABEL_SIZE / FONT_SIZE))
        lines = textwrap.wrap(name, per_line) or [name]
        text = self.text(label.x + label.width / 2, label.y + LABEL_SIZE - 1, lines)
        return text.replace("<text ", f'<text font-size="{LABEL_SIZE}" ', 1)

    def pool(self, pool_id: str, name: str | None, box: Bounds) -> None:
        self.extent.append(box)
        cx, cy = box.x + 15, box.y + box.height / 2
        caption = (
            f'<text x="{_n(cx)}" y="{_n(cy)}" text-anchor="middle" fill="{INK}" '
            f'transform="rotate(-90 {_n(cx)} {_n(cy)})" dy="4">{escape(name or "")}</text>'
        )
        self.group(
            pool_id,
            "participant",
            name,
            f'<rect x="{_n(box.x)}" y="{_n(box.y)}" width="{_n(box.width)}" '
            f'height="{_n(box.height)}" fill="none" stroke="{INK}" stroke-width="1.5"/>'
            f'<line x1="{_n(box.x + 30)}" y1="{_n(box.y)}" x2="{_n(box.x + 30)}" '
            f'y2="{_n(box.y + box.height)}" stroke="{INK}" stroke-width="1.5"/>{caption}',
        )

    def flow(
        self, flow_id: str, name: str | None, points: tuple[Point, ...], label: Bounds | None
    ) -> None:
        style = self.style(flow_id)
        for point in points:
            self.extent.append(Bounds(x=point.x, y=point.y, width=0, height=0))
        marker = f"{self.prefix}-arrow" + (f"-{style.name}" if style.name else "")
        coordinates = " ".join(f"{_n(p.x)},{_n(p.y)}" for p in points)
        body = (
            f'<polyline points="{coordinates}" fill="none" stroke="{style.stroke}" '
            f'stroke-width="{_n(1.5 + style.extra_width)}" stroke-linejoin="round" '
            f'marker-end="url(#{marker})"/>'
        )
        body += self.default_mark(flow_id, points, style)
        if name:
            if label is None:
                middle = len(points) // 2
                a, b = points[middle - 1], points[middle]
                label = Bounds(
                    x=(a.x + b.x) / 2 - 45, y=(a.y + b.y) / 2 - 18, width=90, height=LINE_HEIGHT
                )
            body += self.label(name, label, label)
        self.group(flow_id, "sequenceFlow", name, body)

    def message_flow(self, flow_id: str, points: tuple[Point, ...]) -> None:
        """A message flow between pools: dashed, from a small circle to an open arrow."""
        for point in points:
            self.extent.append(Bounds(x=point.x, y=point.y, width=0, height=0))
        coordinates = " ".join(f"{_n(p.x)},{_n(p.y)}" for p in points)
        start = points[0]
        body = (
            f'<polyline points="{coordinates}" fill="none" stroke="{INK}" stroke-width="1.5" '
            f'stroke-dasharray="10 6" marker-end="url(#{self.prefix}-message)"/>'
            f'<circle cx="{_n(start.x)}" cy="{_n(start.y)}" r="4" fill="{PAPER}" '
            f'stroke="{INK}" stroke-width="1.5"/>'
        )
        self.group(flow_id, "messageFlow", None, body)

    def default_mark(self, flow_id: str, points: tuple[Point, ...], style: _Style) -> str:
        source = self.process.all_elements.get(self.process.all_flows[flow_id].source)
        if not isinstance(source, ExclusiveGateway | InclusiveGateway):
            return ""
        if source.default != flow_id:
            return ""
        a, b = points[0], points[1]
        length = math.hypot(b.x - a.x, b.y - a.y) or 1
        ux, uy = (b.x - a.x) / length, (b.y - a.y) / length
        mx, my = a.x + ux * 10, a.y + uy * 10
        return (
            f'<line x1="{_n(mx - 5 * ux + 5 * uy)}" y1="{_n(my - 5 * uy - 5 * ux)}" '
            f'x2="{_n(mx + 5 * ux - 5 * uy)}" y2="{_n(my + 5 * uy + 5 * ux)}" '
            f'stroke="{style.stroke}" stroke-width="1.5"/>'
        )

    def node(self, node: FlowNode) -> None:
        shape = self.diagram.shapes[node.id]
        box = shape.bounds
        self.extent.append(box)
        style = self.style(node.id)
        width = 2 + style.extra_width
        if isinstance(
            node,
            StartEvent | EndEvent | IntermediateCatchEvent | IntermediateThrowEvent | BoundaryEvent,
        ):
            body = self.event(node, box, style, width)
            body += self.label(node.name, box, shape.label)
        elif isinstance(node, Gateway):
            body = self.gateway(node, box, style, width)
            body += self.label(node.name, box, shape.label)
        else:
            body = self.activity(node, box, style, width, shape.is_expanded)
            link = self.links.get(node.id)
            if link is not None:
                body = f"<a href={_attr(link)}>{body}</a>"
        self.group(node.id, node.kind, node.name, body)

    def activity(
        self, node: FlowNode, box: Bounds, style: _Style, width: float, expanded: bool
    ) -> str:
        fill = style.fill if style.name or not isinstance(node, SubProcess) else "none"
        dotted = isinstance(node, SubProcess) and node.triggered_by_event
        dash = ' stroke-dasharray="2 3"' if dotted else ""
        if isinstance(node, CallActivity):
            width += 2.5  # a call activity's thick border, as BPMN draws it
        body = (
            f'<rect x="{_n(box.x)}" y="{_n(box.y)}" width="{_n(box.width)}" '
            f'height="{_n(box.height)}" rx="10" ry="10" fill="{fill}" '
            f'fill-opacity="{"0.35" if isinstance(node, SubProcess) else "1"}" '
            f'stroke="{style.stroke}" stroke-width="{_n(width)}"{dash}/>'
        )
        x, y = box.x + 8, box.y + 8
        if isinstance(node, ServiceTask):
            body += (
                f'<circle cx="{_n(x + 7)}" cy="{_n(y + 7)}" r="6" fill="none" stroke="{INK}" '
                f'stroke-width="3" stroke-dasharray="2.4 2"/>'
                f'<circle cx="{_n(x + 7)}" cy="{_n(y + 7)}" r="2.5" fill="none" stroke="{INK}"/>'
            )
        elif isinstance(node, UserTask):
            body += (
                f'<circle cx="{_n(x + 7)}" cy="{_n(y + 4)}" r="3.5" fill="none" stroke="{INK}"/>'
                f'<path d="M{_n(x)},{_n(y + 15)} q7,-10 14,0 z" fill="none" stroke="{INK}"/>'
            )
        elif isinstance(node, SendTask | ReceiveTask):
            filled = INK if isinstance(node, SendTask) else "none"
            flap = PAPER if isinstance(node, SendTask) else INK
            body += (
                f'<rect x="{_n(x)}" y="{_n(y + 2)}" width="16" height="11" fill="{filled}" '
                f'stroke="{INK}"/><polyline points="{_n(x)},{_n(y + 2)} {_n(x + 8)},{_n(y + 8)} '
                f'{_n(x + 16)},{_n(y + 2)}" fill="none" stroke="{flap}"/>'
            )
        body += _task_icon(node, x, y)
        loop = node.loop if isinstance(node, Activity) else None
        if isinstance(node, Activity) and node.for_compensation:
            body += _rewind(box.x + box.width / 2, box.y + box.height - 9, 6, "none")
        if loop is not None:
            collapsed = isinstance(node, SubProcess) and not expanded
            cx = box.x + box.width / 2 - (12 if collapsed else 0)
            body += _loop_marker(loop.sequential, cx, box.y + box.height - 14)
            count = self.counts.get(node.id)
            if count is not None:
                body += (
                    f'<text x="{_n(cx + 10)}" y="{_n(box.y + box.height - 4)}" '
                    f'font-size="{LABEL_SIZE}" fill="{INK}" class="bpmn-instance-count">'
                    f"{escape(count)}</text>"
                )
        if isinstance(node, SubProcess) and expanded:
            return body + self.wrapped(node.name or "", box, top=True)
        if isinstance(node, SubProcess | CallActivity):
            cx = box.x + box.width / 2 + (12 if node.loop is not None else 0)
            bottom = box.y + box.height
            body += (
                f'<rect x="{_n(cx - 7)}" y="{_n(bottom - 16)}" width="14" height="14" '
                f'fill="none" stroke="{INK}"/><path d="M{_n(cx - 4)},{_n(bottom - 9)} h8 '
                f'M{_n(cx)},{_n(bottom - 13)} v8" stroke="{INK}"/>'
            )
        return body + self.wrapped(node.name or "", box)

    def event(self, node: FlowNode, box: Bounds, style: _Style, width: float) -> str:
        cx, cy = box.x + box.width / 2, box.y + box.height / 2
        r = min(box.width, box.height) / 2
        if isinstance(node, EndEvent):
            width += 2
        dashed = isinstance(node, BoundaryEvent | StartEvent) and not (
            node.cancel_activity if isinstance(node, BoundaryEvent) else node.interrupting
        )
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        body = (
            f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="{_n(r)}" fill="{style.fill}" '
            f'stroke="{style.stroke}" stroke-width="{_n(width)}"{dash}/>'
        )
        if isinstance(node, IntermediateCatchEvent | IntermediateThrowEvent | BoundaryEvent):
            body += (
                f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="{_n(r - 3)}" fill="none" '
                f'stroke="{style.stroke}" stroke-width="1.5"{dash}/>'
            )
        throws = isinstance(node, EndEvent | IntermediateThrowEvent)
        return body + _event_marker(getattr(node, "trigger", None), cx, cy, r, throws)

    def gateway(self, node: FlowNode, box: Bounds, style: _Style, width: float) -> str:
        cx, cy = box.x + box.width / 2, box.y + box.height / 2
        body = (
            f'<polygon points="{_n(cx)},{_n(box.y)} {_n(box.x + box.width)},{_n(cy)} '
            f'{_n(cx)},{_n(box.y + box.height)} {_n(box.x)},{_n(cy)}" fill="{style.fill}" '
            f'stroke="{style.stroke}" stroke-width="{_n(width)}"/>'
        )
        d = box.width * 0.18
        if isinstance(node, ExclusiveGateway):
            body += (
                f'<path d="M{_n(cx - d)},{_n(cy - d)} L{_n(cx + d)},{_n(cy + d)} '
                f'M{_n(cx + d)},{_n(cy - d)} L{_n(cx - d)},{_n(cy + d)}" '
                f'stroke="{INK}" stroke-width="4" stroke-linecap="round"/>'
            )
        elif isinstance(node, ParallelGateway):
            d *= 1.3
            body += (
                f'<path d="M{_n(cx)},{_n(cy - d)} V{_n(cy + d)} M{_n(cx - d)},{_n(cy)} '
                f'H{_n(cx + d)}" stroke="{INK}" stroke-width="4" stroke-linecap="round"/>'
            )
        elif isinstance(node, InclusiveGateway):
            body += (
                f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="{_n(box.width * 0.22)}" fill="none" '
                f'stroke="{INK}" stroke-width="3"/>'
            )
        elif isinstance(node, EventBasedGateway):
            r = box.width * 0.27
            body += (
                f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="{_n(r)}" fill="none" stroke="{INK}"/>'
                f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="{_n(r - 3)}" fill="none" '
                f'stroke="{INK}"/>'
                f'<polygon points="{_polygon(cx, cy, r * 0.55, 5)}" fill="none" stroke="{INK}"/>'
            )
        return body


def _task_icon(node: FlowNode, x: float, y: float) -> str:
    """The small figure in the top left corner of a script, business rule or manual task."""
    if isinstance(node, ScriptTask):
        return (
            f'<path d="M{_n(x + 3)},{_n(y)} h11 q-4,4 0,8 q4,4 0,8 h-11 q4,-4 0,-8 '
            f'q-4,-4 0,-8 z" fill="none" stroke="{INK}"/>'
            f'<path d="M{_n(x + 4)},{_n(y + 5)} h6 M{_n(x + 5)},{_n(y + 11)} h6" '
            f'stroke="{INK}"/>'
        )
    if isinstance(node, BusinessRuleTask):
        return (
            f'<rect x="{_n(x)}" y="{_n(y + 2)}" width="17" height="12" fill="none" '
            f'stroke="{INK}"/><rect x="{_n(x)}" y="{_n(y + 2)}" width="17" height="3.5" '
            f'fill="{INK}"/><path d="M{_n(x)},{_n(y + 9.5)} h17 M{_n(x + 5.5)},{_n(y + 5.5)} '
            f'v8.5" stroke="{INK}"/>'
        )
    if isinstance(node, ManualTask):
        return (
            f'<path d="M{_n(x)},{_n(y + 8)} l4,-4 h10 M{_n(x + 6)},{_n(y + 7)} h9 '
            f"M{_n(x + 6)},{_n(y + 10)} h8 M{_n(x + 6)},{_n(y + 13)} h6 M{_n(x)},{_n(y + 8)} "
            f'v5 q0,3 4,3 h6" fill="none" stroke="{INK}" stroke-linecap="round"/>'
        )
    return ""


def _rewind(cx: float, cy: float, s: float, fill: str) -> str:
    """Compensation: two triangles pointing back."""
    top, bottom = _n(cy - s * 0.7), _n(cy + s * 0.7)
    return (
        f'<path d="M{_n(cx)},{top} L{_n(cx - s)},{_n(cy)} L{_n(cx)},{bottom} z '
        f'M{_n(cx + s)},{top} L{_n(cx)},{_n(cy)} L{_n(cx + s)},{bottom} z" '
        f'fill="{fill}" stroke="{INK}" stroke-linejoin="round" class="bpmn-compensation"/>'
    )


def _loop_marker(sequential: bool, cx: float, top: float) -> str:
    """Multi-instance: three bars, lying when sequential, standing when parallel."""
    if sequential:
        d = " ".join(f"M{_n(cx - 6)},{_n(top + 2 + 4 * i)} h12" for i in range(3))
    else:
        d = " ".join(f"M{_n(cx - 4 + 4 * i)},{_n(top)} v11" for i in range(3))
    return f'<path d="{d}" stroke="{INK}" stroke-width="2" class="bpmn-multi-instance"/>'


def _polygon(cx: float, cy: float, radius: float, sides: int) -> str:
    points = (
        (
            cx + radius * math.sin(2 * math.pi * i / sides),
            cy - radius * math.cos(2 * math.pi * i / sides),
        )
        for i in range(sides)
    )
    return " ".join(f"{_n(round(x, 2))},{_n(round(y, 2))}" for x, y in points)


def _event_marker(trigger: object, cx: float, cy: float, r: float, filled: bool) -> str:
    fill = INK if filled else "none"
    if isinstance(trigger, MessageEventDefinition):
        w, h = r * 1.0, r * 0.7
        x, y = cx - w / 2, cy - h / 2
        return (
            f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" fill="{fill}" '
            f'stroke="{INK}"/><polyline points="{_n(x)},{_n(y)} {_n(cx)},{_n(cy)} '
            f'{_n(x + w)},{_n(y)}" fill="none" stroke="{PAPER if filled else INK}"/>'
        )
    if isinstance(trigger, TimerEventDefinition):
        inner = r * 0.62
        return (
            f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="{_n(inner)}" fill="none" stroke="{INK}" '
            f'stroke-width="1.5"/><path d="M{_n(cx)},{_n(cy - inner * 0.8)} L{_n(cx)},{_n(cy)} '
            f'L{_n(cx + inner * 0.6)},{_n(cy)}" fill="none" stroke="{INK}" stroke-width="1.5"/>'
        )
    if isinstance(trigger, ErrorEventDefinition):
        s = r * 0.55
        return (
            f'<polygon points="{_n(cx - s)},{_n(cy + s)} {_n(cx - s * 0.4)},{_n(cy - s)} '
            f"{_n(cx + s * 0.2)},{_n(cy + s * 0.2)} {_n(cx + s)},{_n(cy - s)} "
            f'{_n(cx + s * 0.4)},{_n(cy + s)} {_n(cx - s * 0.2)},{_n(cy - s * 0.2)}" '
            f'fill="{fill}" stroke="{INK}" stroke-linejoin="round"/>'
        )
    if isinstance(trigger, LinkEventDefinition):
        s = r * 0.5
        return (
            f'<polygon points="{_n(cx - s)},{_n(cy - s * 0.4)} {_n(cx)},{_n(cy - s * 0.4)} '
            f"{_n(cx)},{_n(cy - s)} {_n(cx + s)},{_n(cy)} {_n(cx)},{_n(cy + s)} "
            f'{_n(cx)},{_n(cy + s * 0.4)} {_n(cx - s)},{_n(cy + s * 0.4)}" fill="{fill}" '
            f'stroke="{INK}"/>'
        )
    if isinstance(trigger, EscalationEventDefinition):
        s = r * 0.55
        return (
            f'<polygon points="{_n(cx)},{_n(cy - s)} {_n(cx + s * 0.7)},{_n(cy + s)} '
            f'{_n(cx)},{_n(cy + s * 0.3)} {_n(cx - s * 0.7)},{_n(cy + s)}" fill="{fill}" '
            f'stroke="{INK}" stroke-linejoin="round"/>'
        )
    if isinstance(trigger, SignalEventDefinition):
        s = r * 0.55
        return (
            f'<polygon points="{_n(cx)},{_n(cy - s)} {_n(cx + s)},{_n(cy + s * 0.7)} '
            f'{_n(cx - s)},{_n(cy + s * 0.7)}" fill="{fill}" stroke="{INK}" '
            f'stroke-linejoin="round" class="bpmn-signal"/>'
        )
    if isinstance(trigger, CompensateEventDefinition):
        return _rewind(cx, cy, r * 0.5, fill)
    if isinstance(trigger, TerminateEventDefinition):
        return f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="{_n(r * 0.6)}" fill="{INK}"/>'
    return ""
