"""The BPMNDI layout of a file: where each shape sits and how each edge runs.

Only geometry is read here (``dc:Bounds``, ``di:waypoint``, label bounds); colours and
fonts that modelers add are not. Shapes and edges are keyed by the id of the element they
draw, which may be a flow node, a flow, a pool or an artifact.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Collection

from ._model import Bounds, Diagram, Edge, Point, Shape

BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def read_diagram(
    element: ET.Element, known_ids: Collection[str]
) -> tuple[Diagram, list[tuple[str, str]]]:
    """One ``BPMNDiagram``, and its problems as ``(id of the diagram element, sentence)``:
    shapes of unknown elements, bad numbers. A shape or edge that names no element (some
    modelers leave them behind) is skipped: it draws nothing."""
    problems: list[tuple[str, str]] = []
    shapes: dict[str, Shape] = {}
    edges: dict[str, Edge] = {}
    plane = element.find(_q(BPMNDI, "BPMNPlane"))
    for item in () if plane is None else plane:
        ref = item.get("bpmnElement")
        at = item.get("id", "")
        if ref is None:
            continue
        if ref not in known_ids:
            problems.append((at, f"diagram element {at!r} refers to unknown {ref!r}"))
            continue
        try:
            label = item.find(f"{_q(BPMNDI, 'BPMNLabel')}/{_q(DC, 'Bounds')}")
            label_bounds = None if label is None else _bounds(label)
            if item.tag == _q(BPMNDI, "BPMNShape"):
                bounds = item.find(_q(DC, "Bounds"))
                if bounds is None:
                    problems.append((at, f"diagram shape of {ref!r} has no bounds"))
                    continue
                expanded = item.get("isExpanded", "true").strip() != "false"
                shapes[ref] = Shape(
                    element_id=ref,
                    bounds=_bounds(bounds),
                    label=label_bounds,
                    is_expanded=expanded,
                )
            elif item.tag == _q(BPMNDI, "BPMNEdge"):
                points = tuple(
                    Point(x=float(p.get("x", "")), y=float(p.get("y", "")))
                    for p in item.findall(_q(DI, "waypoint"))
                )
                edges[ref] = Edge(element_id=ref, waypoints=points, label=label_bounds)
        except ValueError:
            problems.append(
                (at, f"diagram element of {ref!r} has a coordinate that is not a number")
            )
    diagram = Diagram(
        id=element.get("id", ""),
        name=element.get("name"),
        plane_element=None if plane is None else plane.get("bpmnElement"),
        shapes=shapes,
        edges=edges,
    )
    return diagram, problems


def _bounds(element: ET.Element) -> Bounds:
    x, y, width, height = (float(element.get(n, "")) for n in ("x", "y", "width", "height"))
    return Bounds(x=x, y=y, width=width, height=height)
