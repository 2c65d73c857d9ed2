"""Script tasks (FEEL or a job), business rule tasks (a job), manual and undefined tasks."""

from __future__ import annotations

from typing import Any

import pytest
import trio.testing
from test_bpmn_run import FIXTURES, opened

from runtime import Registry, bpmn

SCRIPT = FIXTURES / "run_script.bpmn"
HEAD = (
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0">'
    '<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/>'
)
TAIL = "</bpmn:process></bpmn:definitions>"


@pytest.fixture
def registry() -> Registry:
    registry = Registry()

    @bpmn.handler("discount", registry=registry)
    async def discount(variables: dict[str, Any]) -> dict[str, Any]:
        return {"discount": 0.1 if variables["total"] > 20 else 0}

    @bpmn.handler("render", registry=registry)
    async def render(job: bpmn.Job) -> dict[str, Any]:
        total = job.variables["total"] * (1 - job.variables["discount"])
        return {"text": f"{job.element_id}: {total:.2f}"}

    bpmn.load(SCRIPT, registry=registry)
    return registry


async def test_scripts_rules_and_manual_tasks_run_in_order(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    lines = [{"qty": 2, "price": 5}, {"qty": 3, "price": 4}]
    async with opened(db, registry) as rt:
        iid = await rt.start("script_tasks", {"lines": lines})
        assert await rt.result(iid) == {
            "lines": lines,
            "subtotals": [10, 12],
            "total": 22,
            "discount": 0.1,
            "invoice": "Script_Render: 19.80",
        }
        view = await rt.query(iid)
        assert view["completed"][-3:] == ["Manual_Pack", "Task_Undefined", "End_script"]


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (
            '<bpmn:businessRuleTask id="r"><bpmn:extensionElements>'
            '<zeebe:calledDecision decisionId="d" resultVariable="v"/>'
            "</bpmn:extensionElements></bpmn:businessRuleTask>",
            "business rule task 'r' calls a DMN decision (zeebe:calledDecision), which is not "
            "supported",
        ),
        (
            '<bpmn:scriptTask id="t"><bpmn:extensionElements><zeebe:script expression="=1"/>'
            "</bpmn:extensionElements></bpmn:scriptTask>",
            "the zeebe:script of script task 't' needs an expression and a resultVariable",
        ),
        (
            '<bpmn:scriptTask id="t"/>',
            "element 't' of type 'scriptTask' needs a zeebe:script or a zeebe:taskDefinition",
        ),
        (
            '<bpmn:scriptTask id="t"><bpmn:extensionElements>'
            '<zeebe:script expression="=1 +" resultVariable="v"/>'
            "</bpmn:extensionElements></bpmn:scriptTask>",
            "element 't' of type 'scriptTask': script:",
        ),
        (
            '<bpmn:scriptTask id="t"><bpmn:extensionElements>'
            '<zeebe:script expression="=nosuch(1)" resultVariable="v"/>'
            "</bpmn:extensionElements></bpmn:scriptTask>",
            "script: unknown function 'nosuch'",
        ),
    ],
)
def test_what_cannot_run_is_refused_at_load(task: str, message: str) -> None:
    with pytest.raises(bpmn.BpmnError) as caught:
        bpmn.parse(HEAD + task + TAIL)
    assert message in str(caught.value)
