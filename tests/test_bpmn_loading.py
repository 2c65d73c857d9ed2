"""Loading files as real modelers write them: tolerated extras, and one error per root cause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio.testing

from runtime import Registry, Runtime, bpmn
from runtime.bpmn import BpmnError, parse, render_svg

FIXTURES = Path(__file__).parent / "bpmn"
HEAD = (
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"\n'
    '    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"\n'
    '    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"\n'
    '    xmlns:activiti="http://activiti.org/bpmn" id="D">\n'
    '<bpmn:process id="p" isExecutable="true">\n'
)  # the process element is on line 5: bodies start on line 6
TAIL = "\n</bpmn:process>\n</bpmn:definitions>"


def problems(*lines: str) -> list[str]:
    """The problems of a file whose process holds ``lines``, one a line from line 6."""
    with pytest.raises(BpmnError) as caught:
        parse(HEAD + "\n".join(lines) + TAIL)
    return caught.value.problems


def test_a_real_file_with_a_documentation_pool_data_and_other_vendors_loads() -> None:
    definitions = parse(FIXTURES / "tolerant.bpmn")
    shop = definitions.processes["shop"]
    assert [p.id for p in definitions.executable_processes] == ["shop"]
    assert list(shop.elements) == ["Shop_Start", "Shop_Check", "Shop_Pack", "Shop_End"]
    check = shop.element("Shop_Check")
    assert isinstance(check, bpmn.ServiceTask) and check.task_type == "check-stock"
    # the documentation pool is kept for the picture, with what could be read of it
    assert "Customer_Start" in definitions.processes["customer"].elements
    svg = render_svg(definitions, "shop")
    assert 'data-element-id="Shop_Check"' in svg
    assert "Leftover" not in svg and "DataObjectReference" not in svg


async def test_the_tolerant_file_runs(db: str, autojump_clock: trio.testing.MockClock) -> None:
    registry = Registry()

    @bpmn.handler("check-stock", registry=registry)
    async def check(variables: dict[str, Any]) -> dict[str, Any]:
        return {"inStock": True}

    assert bpmn.load(FIXTURES / "tolerant.bpmn", registry=registry) == ["shop"]
    async with Runtime.open(db, registry=registry) as rt:
        iid = await rt.start("shop", {})
        with trio.move_on_after(1):
            await rt.result(iid)
        assert (await rt.query(iid))["active"] == ["Shop_Pack"]


def test_a_non_executable_process_alone_is_still_not_runnable() -> None:
    source = (FIXTURES / "tolerant.bpmn").read_text().replace('isExecutable="true"', "")
    with pytest.raises(BpmnError, match="no executable process"):
        bpmn.load(source, registry=Registry())


def test_duplicate_ids_of_bpmn_elements_are_still_refused_with_both_lines() -> None:
    found = problems('<bpmn:startEvent id="S"/>', '<bpmn:endEvent id="S"/>')
    assert found[0] == "line 7: duplicate id 'S' (first used on line 6)"


def test_an_unsupported_element_is_one_problem_with_its_id_type_and_line() -> None:
    found = problems(
        '<bpmn:startEvent id="S"/>',
        '<bpmn:complexGateway id="Script"/>',
        '<bpmn:endEvent id="E"/>',
        '<bpmn:sequenceFlow id="F1" sourceRef="S" targetRef="Script"/>',
        '<bpmn:sequenceFlow id="F2" sourceRef="Script" targetRef="E"/>',
        '<bpmn:boundaryEvent id="B" attachedToRef="Script">'
        "<bpmn:errorEventDefinition/></bpmn:boundaryEvent>",
    )
    assert found == ["line 7: element 'Script' of type 'complexGateway' is not supported"]


def test_a_refused_gateway_target_or_start_event_causes_nothing_more() -> None:
    found = problems(
        '<bpmn:startEvent id="S"><bpmn:conditionalEventDefinition/></bpmn:startEvent>',
        '<bpmn:eventBasedGateway id="G"/>',
        '<bpmn:intermediateCatchEvent id="Sig"><bpmn:conditionalEventDefinition/>'
        "</bpmn:intermediateCatchEvent>",
        '<bpmn:endEvent id="E"/>',
        '<bpmn:sequenceFlow id="F1" sourceRef="S" targetRef="G"/>',
        '<bpmn:sequenceFlow id="F2" sourceRef="G" targetRef="Sig"/>',
        '<bpmn:sequenceFlow id="F3" sourceRef="Sig" targetRef="E"/>',
    )
    assert found == [
        "line 6: element 'S' of type 'startEvent' with conditionalEventDefinition is not supported",
        "line 8: element 'Sig' of type 'intermediateCatchEvent' with conditionalEventDefinition "
        "is not supported",
    ]


def test_a_dangling_flow_is_still_refused_with_its_line() -> None:
    found = problems(
        '<bpmn:startEvent id="S"/>',
        '<bpmn:sequenceFlow id="F" sourceRef="S" targetRef="Gone"/>',
    )
    assert found == ["line 7: sequence flow 'F' has target 'Gone', which does not exist"]


@pytest.mark.parametrize(
    ("element", "message"),
    [
        (
            '<bpmn:serviceTask id="T" camunda:class="org.example.Charge"/>',
            "line 7: element 'T' of type 'serviceTask' has camunda:class, which changes",
        ),
        (
            '<bpmn:serviceTask id="T"><bpmn:extensionElements>'
            '<zeebe:taskDefinition type="t"/><camunda:inputOutput/>'
            "</bpmn:extensionElements></bpmn:serviceTask>",
            "element 'T' of type 'serviceTask' has camunda:inputOutput",
        ),
        (
            '<bpmn:userTask id="T"><bpmn:extensionElements><activiti:taskListener/>'
            "</bpmn:extensionElements></bpmn:userTask>",
            "element 'T' of type 'userTask' has activiti:taskListener",
        ),
        (
            '<bpmn:task id="W"/><bpmn:boundaryEvent id="T" attachedToRef="W">'
            '<bpmn:errorEventDefinition camunda:errorCodeVariable="code"/></bpmn:boundaryEvent>',
            "element 'T' of type 'boundaryEvent' has camunda:errorCodeVariable",
        ),
    ],
)
def test_other_engines_extensions_that_change_behaviour_are_refused_by_name(
    element: str, message: str
) -> None:
    found = problems('<bpmn:startEvent id="S"/>', element)
    assert len(found) == 1 and message in found[0], found


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ('<zeebe:taskDefinition type=""/>', "has a zeebe:taskDefinition without a type"),
        ('<zeebe:taskDefinition retries="2"/>', "has a zeebe:taskDefinition without a type"),
        ('<zeebe:taskDefinition type="  "/>', "has a zeebe:taskDefinition without a type"),
        ('<zeebe:taskDefinition type="=kind +"/>', "job type"),
    ],
)
def test_a_task_definition_needs_a_type(definition: str, message: str) -> None:
    found = problems(
        '<bpmn:startEvent id="S"/>',
        f'<bpmn:serviceTask id="T"><bpmn:extensionElements>{definition}'
        "</bpmn:extensionElements></bpmn:serviceTask>",
    )
    assert len(found) == 1 and found[0].startswith("line 7: element 'T'"), found
    assert message in found[0]


def test_a_diagram_shape_of_an_unknown_element_names_its_line() -> None:
    source = (FIXTURES / "tolerant.bpmn").read_text()
    source = source.replace('bpmnElement="Shop_End"', 'bpmnElement="Shop_Ghost"')
    with pytest.raises(BpmnError) as caught:
        parse(source)
    (problem,) = caught.value.problems
    assert problem.startswith("line ") and "refers to unknown 'Shop_Ghost'" in problem
