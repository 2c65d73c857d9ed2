"""The SVG view of a process: well-formed, one shape per element, state marked, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import defusedxml.ElementTree as DefusedET
import pytest

from runtime.bpmn import BpmnError, parse, render_svg

FIXTURES = Path(__file__).parent / "bpmn"
SVG = "{http://www.w3.org/2000/svg}"


def shapes(svg: str) -> dict[str, ET.Element]:
    root = DefusedET.fromstring(svg)
    return {g.get("data-element-id", ""): g for g in root.iter(f"{SVG}g")}


def test_ordering_is_well_formed_with_a_shape_per_element_and_flow() -> None:
    definitions = parse(FIXTURES / "ordering.bpmn")
    process = definitions.processes["ordering-items-workflow"]
    svg = render_svg(definitions, process.id)
    root = DefusedET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == "113 80 1517 420"
    drawn = shapes(svg)
    assert set(drawn) == set(process.all_elements) | set(process.all_flows)
    assert "<script" not in svg and "<style" not in svg and "href=" not in svg


def test_each_kind_gets_its_own_figure() -> None:
    definitions = parse(FIXTURES / "ordering.bpmn")
    drawn = shapes(render_svg(definitions, "ordering-items-workflow"))

    def children(element_id: str) -> list[str]:
        return [child.tag.removeprefix(SVG) for child in drawn[element_id]]

    start, end = drawn["Start_OrderReceived"], drawn["End_OrderCompleted"]
    assert children("Start_OrderReceived")[:2] == ["title", "circle"]
    start_width = float(start.find(f"{SVG}circle").get("stroke-width", ""))  # type: ignore[union-attr]
    end_width = float(end.find(f"{SVG}circle").get("stroke-width", ""))  # type: ignore[union-attr]
    assert end_width > start_width
    assert children("Task_ValidateOrder")[:2] == ["title", "rect"]
    assert drawn["Task_ValidateOrder"].find(f"{SVG}rect").get("rx") == "10"  # type: ignore[union-attr]
    for gateway in ("Gateway_Paid", "Gateway_Fork", "Gateway_AwaitPayment"):
        assert "polygon" in children(gateway)
    assert "path" in children("Gateway_Paid")  # the X
    assert children("Gateway_AwaitPayment").count("polygon") == 2  # diamond and pentagon
    assert children("Event_PaymentReceived").count("circle") == 2  # intermediate: double ring
    flow = drawn["Flow_ToValidate"].find(f"{SVG}polyline")
    assert flow is not None and flow.get("points") == "188,220 240,220"
    assert flow.get("marker-end") == "url(#ordering-items-workflow-arrow)"
    assert drawn["Task_ValidateOrder"].get("class") == "bpmn-serviceTask"
    text = "".join(drawn["Task_FriendlyReminder"].itertext())
    assert "Send friendly" in text and "reminder" in text  # wrapped onto two lines


def test_completed_and_active_elements_are_marked() -> None:
    definitions = parse(FIXTURES / "ordering.bpmn")
    svg = render_svg(
        definitions,
        "ordering-items-workflow",
        completed={"Start_OrderReceived", "Flow_ToValidate", "Task_ValidateOrder"},
        active={"Task_SendBill"},
    )
    drawn = shapes(svg)
    assert drawn["Task_ValidateOrder"].get("class") == "bpmn-serviceTask bpmn-completed"
    assert drawn["Task_SendBill"].get("class") == "bpmn-serviceTask bpmn-active"
    assert drawn["Task_FriendlyReminder"].get("class") == "bpmn-serviceTask"
    done = drawn["Task_ValidateOrder"].find(f"{SVG}rect")
    busy = drawn["Task_SendBill"].find(f"{SVG}rect")
    idle = drawn["Task_FriendlyReminder"].find(f"{SVG}rect")
    assert done is not None and busy is not None and idle is not None
    assert done.get("stroke") == "#2e7d32"
    assert (busy.get("stroke"), busy.get("fill")) == ("#ef6c00", "#ffe0b2")
    assert float(busy.get("stroke-width", "")) > float(idle.get("stroke-width", ""))
    flow = drawn["Flow_ToValidate"].find(f"{SVG}polyline")
    assert flow is not None and flow.get("stroke") == "#2e7d32"
    assert flow.get("marker-end") == "url(#ordering-items-workflow-arrow-completed)"


def test_names_are_escaped() -> None:
    name = 'Check <b>&amp; "quote" \'s'
    source = f"""<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
        xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
        xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
        xmlns:di="http://www.omg.org/spec/DD/20100524/DI">
      <bpmn:process id="p&lt;1&gt;" name="A &amp; B" isExecutable="true">
        <bpmn:startEvent id="S" name="&lt;start&gt;"/>
        <bpmn:task id="T" name="{name.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")}"/>
        <bpmn:endEvent id="E"/>
        <bpmn:sequenceFlow id="F1" name="a &lt; b" sourceRef="S" targetRef="T"/>
        <bpmn:sequenceFlow id="F2" sourceRef="T" targetRef="E"/>
      </bpmn:process>
      <bpmndi:BPMNDiagram id="D"><bpmndi:BPMNPlane id="P" bpmnElement="p&lt;1&gt;">
        <bpmndi:BPMNShape id="S_di" bpmnElement="S"><dc:Bounds x="0" y="22" width="36" height="36"/></bpmndi:BPMNShape>
        <bpmndi:BPMNShape id="T_di" bpmnElement="T"><dc:Bounds x="80" y="0" width="100" height="80"/></bpmndi:BPMNShape>
        <bpmndi:BPMNShape id="E_di" bpmnElement="E"><dc:Bounds x="230" y="22" width="36" height="36"/></bpmndi:BPMNShape>
        <bpmndi:BPMNEdge id="F1_di" bpmnElement="F1"><di:waypoint x="36" y="40"/><di:waypoint x="80" y="40"/></bpmndi:BPMNEdge>
        <bpmndi:BPMNEdge id="F2_di" bpmnElement="F2"><di:waypoint x="180" y="40"/><di:waypoint x="230" y="40"/></bpmndi:BPMNEdge>
      </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
    </bpmn:definitions>"""  # noqa: E501
    definitions = parse(source)
    svg = render_svg(definitions, "p<1>")
    assert "<b>" not in svg and "<start>" not in svg
    root = DefusedET.fromstring(svg)  # still well-formed
    assert root.get("aria-label") == "A & B"
    drawn = shapes(svg)
    assert drawn["T"].findtext(f"{SVG}title") == name
    assert "".join(drawn["T"].itertext()).startswith(name)
    assert drawn["S"].findtext(f"{SVG}title") == "<start>"
    assert "a < b" in "".join(drawn["F1"].itertext())
    markers = [m.get("id") for m in root.iter(f"{SVG}marker")]
    assert markers == [
        "p_1_-arrow",
        "p_1_-arrow-completed",
        "p_1_-arrow-active",
        "p_1_-arrow-incident",
    ]


def test_subprocess_pool_and_markers() -> None:
    definitions = parse(FIXTURES / "subprocess.bpmn")
    svg = render_svg(definitions, "fulfilment", active={"Sub_Wrap"}, completed={"Sub_Start"})
    drawn = shapes(svg)
    process = definitions.processes["fulfilment"]
    pools = {"Pool_Shop", "Pool_Customer", "MessageFlow_Order"}
    assert set(process.all_elements) | set(process.all_flows) | pools == set(drawn)
    assert drawn["Pool_Shop"].findtext(f"{SVG}title") == "Shop & Co"
    # The other pool is drawn too, with the message flow between them: dashed, from a circle.
    message = drawn["MessageFlow_Order"]
    assert message.get("class") == "bpmn-messageFlow"
    assert message.find(f"{SVG}polyline").get("stroke-dasharray") == "10 6"  # type: ignore[union-attr]
    assert message.find(f"{SVG}circle") is not None
    assert drawn["Sub_Wrap"].get("class") == "bpmn-serviceTask bpmn-active"
    # the subprocess is drawn before (under) its children
    order = list(drawn)
    assert order.index("Sub_Pack") < order.index("Sub_Wrap")
    assert "Pack <fragile> items" in "".join(drawn["Sub_Pack"].itertext())


def test_every_fixture_with_a_layout_renders() -> None:
    for path in sorted(FIXTURES.glob("*.bpmn")):
        definitions = parse(path)
        for process_id in definitions.processes:
            if definitions.diagram_for(process_id) is not None:
                DefusedET.fromstring(render_svg(definitions, process_id))


def test_missing_process_or_layout_is_an_error() -> None:
    definitions = parse(FIXTURES / "tasks.bpmn")
    with pytest.raises(BpmnError, match="process 'tasks' has no diagram"):
        render_svg(definitions, "tasks")
    with pytest.raises(BpmnError, match="there is no process 'nope'"):
        render_svg(definitions, "nope")


def test_multi_instance_event_subprocess_task_and_escalation_figures() -> None:
    definitions = parse(FIXTURES / "svg_markers.bpmn")
    process = definitions.processes["svg_markers"]
    svg = render_svg(definitions, "svg_markers")
    drawn = shapes(svg)
    assert set(drawn) == set(process.all_elements) | set(process.all_flows)

    def bars(element_id: str) -> str:
        (marker,) = [p for p in drawn[element_id].iter(f"{SVG}path") if p.get("class")]
        return marker.get("d", "")

    assert bars("Script_Many").count("v11") == 3  # parallel: standing bars
    assert bars("Rule_Seq").count("h12") == 3  # sequential: lying bars
    assert not [p for p in drawn["Manual"].iter(f"{SVG}path") if p.get("class")]
    icons = {
        element_id: len(list(drawn[element_id].iter(f"{SVG}path")))
        + len(list(drawn[element_id].iter(f"{SVG}rect")))
        for element_id in ("Script_Many", "Rule_Seq", "Manual")
    }
    assert icons == {"Script_Many": 4, "Rule_Seq": 5, "Manual": 2}  # box, icon, bars
    border = drawn["Esp_Poke"].find(f"{SVG}rect")
    assert border is not None and border.get("stroke-dasharray") == "2 3"
    ring = drawn["Poke_Start"].find(f"{SVG}circle")
    assert ring is not None and ring.get("stroke-dasharray") == "5 3"
    assert drawn["End_Late"].find(f"{SVG}polygon") is not None  # the escalation arrow


def test_a_call_activity_links_to_its_child_and_multi_instance_shows_its_count() -> None:
    shipping = Path(__file__).parent.parent / "examples" / "shipping" / "shipping.bpmn"
    definitions = parse(shipping)
    svg = render_svg(
        definitions,
        "ship-order",
        links={"Call_Payment": "/ui/instances/p%3ACall_Payment%3A1"},
        counts={"Task_Reserve": "1/3"},
    )
    drawn = shapes(svg)
    call = drawn["Call_Payment"]
    assert call.get("class") == "bpmn-callActivity"
    link = call.find(f"{SVG}a")
    assert link is not None and link.get("href") == "/ui/instances/p%3ACall_Payment%3A1"
    border = link.find(f"{SVG}rect")
    assert border is not None and float(border.get("stroke-width", "0")) > 4  # thick
    marker = drawn["Task_Reserve"].find(f"{SVG}path[@class='bpmn-multi-instance']")
    assert marker is not None and marker.get("d", "").count("v11") == 3  # parallel: standing
    count = drawn["Task_Reserve"].find(f"{SVG}text[@class='bpmn-instance-count']")
    assert count is not None and count.text == "1/3"
    assert render_svg(definitions, "ship-order").count("<a ") == 0  # no instance: no link


def test_signal_events_carry_a_triangle_filled_when_thrown() -> None:
    source = """<?xml version="1.0"?>
    <bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
        xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
        xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" id="D">
      <bpmn:signal id="Sig" name="go" />
      <bpmn:process id="p" isExecutable="true">
        <bpmn:startEvent id="S"><bpmn:signalEventDefinition signalRef="Sig"/></bpmn:startEvent>
        <bpmn:endEvent id="E"><bpmn:signalEventDefinition signalRef="Sig"/></bpmn:endEvent>
        <bpmn:sequenceFlow id="F" sourceRef="S" targetRef="E"/>
      </bpmn:process>
      <bpmndi:BPMNDiagram id="Di"><bpmndi:BPMNPlane id="P" bpmnElement="p">
        <bpmndi:BPMNShape id="S_di" bpmnElement="S"><dc:Bounds x="0" y="0" width="36" height="36"/></bpmndi:BPMNShape>
        <bpmndi:BPMNShape id="E_di" bpmnElement="E"><dc:Bounds x="100" y="0" width="36" height="36"/></bpmndi:BPMNShape>
      </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
    </bpmn:definitions>"""  # noqa: E501
    drawn = shapes(render_svg(parse(source), "p"))
    caught = drawn["S"].find(f"{SVG}polygon[@class='bpmn-signal']")
    thrown = drawn["E"].find(f"{SVG}polygon[@class='bpmn-signal']")
    assert caught is not None and caught.get("fill") == "none"
    assert thrown is not None and thrown.get("fill") != "none"


def test_compensation_markers_and_the_association_to_the_handler() -> None:
    source = """<?xml version="1.0"?>
    <bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
        xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
        xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
        xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="D">
      <bpmn:process id="p" isExecutable="true">
        <bpmn:startEvent id="S"/>
        <bpmn:task id="T"/>
        <bpmn:boundaryEvent id="B" attachedToRef="T"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>
        <bpmn:task id="H" isForCompensation="true"/>
        <bpmn:association id="A" sourceRef="B" targetRef="H"/>
        <bpmn:endEvent id="E"><bpmn:compensateEventDefinition/></bpmn:endEvent>
        <bpmn:sequenceFlow id="F1" sourceRef="S" targetRef="T"/>
        <bpmn:sequenceFlow id="F2" sourceRef="T" targetRef="E"/>
      </bpmn:process>
      <bpmndi:BPMNDiagram id="Di"><bpmndi:BPMNPlane id="P" bpmnElement="p">
        <bpmndi:BPMNShape id="S_di" bpmnElement="S"><dc:Bounds x="0" y="22" width="36" height="36"/></bpmndi:BPMNShape>
        <bpmndi:BPMNShape id="T_di" bpmnElement="T"><dc:Bounds x="80" y="0" width="100" height="80"/></bpmndi:BPMNShape>
        <bpmndi:BPMNShape id="B_di" bpmnElement="B"><dc:Bounds x="112" y="62" width="36" height="36"/></bpmndi:BPMNShape>
        <bpmndi:BPMNShape id="H_di" bpmnElement="H"><dc:Bounds x="180" y="120" width="100" height="80"/></bpmndi:BPMNShape>
        <bpmndi:BPMNShape id="E_di" bpmnElement="E"><dc:Bounds x="230" y="22" width="36" height="36"/></bpmndi:BPMNShape>
        <bpmndi:BPMNEdge id="A_di" bpmnElement="A"><di:waypoint x="130" y="98"/><di:waypoint x="130" y="160"/><di:waypoint x="180" y="160"/></bpmndi:BPMNEdge>
      </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
    </bpmn:definitions>"""  # noqa: E501
    drawn = shapes(render_svg(parse(source), "p"))
    for element in ("B", "H", "E"):
        assert drawn[element].find(f"{SVG}path[@class='bpmn-compensation']") is not None, element
    assert drawn["T"].find(f"{SVG}path[@class='bpmn-compensation']") is None
    line = drawn["A"].find(f"{SVG}polyline")
    assert drawn["A"].get("class") == "bpmn-association"
    assert line is not None and line.get("stroke-dasharray") == "2 4"
